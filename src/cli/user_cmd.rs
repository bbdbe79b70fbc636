//! `syncgate user add|list|passwd|del|prefs`: manage accounts in the store of the data
//! directory, and a device's sync preferences (server-initiated sync, `notify::prefs`).
//!
//! Only `auth::md5_secret(name, password)` is stored, never the password.

use std::io::BufRead as _;

use clap::{Args, Subcommand};

use super::serve_cmd::ConfigArgs;
use crate::auth;
use crate::notify::prefs::SyncPrefs;
use crate::server::notifier::{Clock as _, Notifier, SystemClock};
use crate::store::alerts::AlertStore as _;
use crate::store::{Store, StoreError};

/// `syncgate user …`.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(flatten)]
    pub common: ConfigArgs,
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        /// The user name, as clients send it in SyncHdr Source/LocName.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Print the user names, one per line.
    List,
    /// Set a user's password.
    Passwd {
        /// An existing user.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Delete a user with all their items, devices and sync state.
    Del {
        /// An existing user.
        name: String,
    },
    /// Show, set or clear a device's sync preferences, e.g.
    /// '{"mode":"automatic","channel":"longpoll"}' or
    /// '{"mode":"scheduled","schedule":{"daily":"24:00"},"time_zone":"Europe/Berlin","channel":"sms","address":"+49170…"}'.
    Prefs {
        /// An existing user.
        name: String,
        /// The SyncML device id.
        device: String,
        /// The preferences as JSON (without it: show them).
        prefs: Option<String>,
        /// Remove the device's preferences (it is not alerted any more).
        #[arg(long, conflicts_with = "prefs")]
        clear: bool,
    },
}

/// Where the password comes from (exactly one).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct PasswordArgs {
    /// The password (other local users may see it in the process list: prefer --password-stdin).
    #[arg(long, value_name = "PW")]
    pub password: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

pub fn run(args: UserArgs) -> Result<(), String> {
    let (_, store) = args.common.open_store()?;
    match args.command {
        UserCommand::Add { name, password } => {
            check_name(&name)?;
            let password = password.read()?;
            if store.user_by_name(&name).map_err(store_error)?.is_some() {
                return Err(format!("user {name} already exists"));
            }
            store.create_user(&name, &auth::md5_secret(&name, &password)).map_err(|e| match e {
                StoreError::AlreadyExists(_) => format!("user {name} already exists"),
                e => store_error(e),
            })?;
            println!("added user {name}");
        }
        UserCommand::List => {
            for user in store.list_users().map_err(store_error)? {
                println!("{}", user.name);
            }
        }
        UserCommand::Passwd { name, password } => {
            let password = password.read()?;
            known(&store, &name)?;
            store.set_user_secret(&name, &auth::md5_secret(&name, &password)).map_err(|e| unknown_or(e, &name))?;
            println!("password of user {name} changed");
        }
        UserCommand::Del { name } => {
            known(&store, &name)?;
            store.delete_user(&name).map_err(|e| unknown_or(e, &name))?;
            println!("deleted user {name}");
        }
        UserCommand::Prefs { name, device, prefs, clear } => {
            let user = store.user_by_name(&name).map_err(store_error)?.ok_or(format!("no user {name}"))?;
            if clear {
                store.set_device_prefs(user.id, &device, None, None).map_err(store_error)?;
                println!("preferences of {name}/{device} removed");
            } else if let Some(text) = prefs {
                let prefs = SyncPrefs::parse(&text).map_err(|e| e.to_string())?;
                // The running gateway reads the next run from the store; it is computed here.
                let next = Notifier::next_of(&prefs, SystemClock.now_ms());
                store.set_device_prefs(user.id, &device, Some(&prefs.to_json()), next).map_err(store_error)?;
                println!(
                    "preferences of {name}/{device} set{}",
                    next.map(|t| format!(", next run at {t} ms")).unwrap_or_default()
                );
            } else {
                match store.device_prefs(user.id, &device).map_err(store_error)? {
                    Some(p) => println!("{}", p.prefs),
                    None => return Err(format!("{name}/{device} has no preferences")),
                }
            }
        }
    }
    Ok(())
}

impl PasswordArgs {
    /// The password from the option or from the first line of stdin; never empty.
    fn read(self) -> Result<String, String> {
        let password = match self.password {
            Some(password) => password,
            None => {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("stdin: {e}"))?;
                line.trim_end_matches(['\n', '\r']).to_string()
            }
        };
        if password.is_empty() {
            return Err("the password is empty".into());
        }
        Ok(password)
    }
}

/// User names go into `name:password` formulas and SyncHdr LocName: no colon, no control
/// characters, no surrounding white space, at most 255 bytes.
fn check_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid user name {name:?}: {why}"));
    if name.is_empty() || name.len() > 255 {
        return bad("must be 1 to 255 bytes long");
    }
    if name.contains(':') || name.chars().any(char::is_control) {
        return bad("may not contain ':' or control characters");
    }
    if name.trim() != name {
        return bad("may not start or end with white space");
    }
    Ok(())
}

fn known(store: &dyn Store, name: &str) -> Result<(), String> {
    match store.user_by_name(name).map_err(store_error)? {
        Some(_) => Ok(()),
        None => Err(format!("unknown user {name}")),
    }
}

fn unknown_or(e: StoreError, name: &str) -> String {
    match e {
        StoreError::NotFound(_) => format!("unknown user {name}"),
        e => store_error(e),
    }
}

fn store_error(e: StoreError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_checked() {
        for good in ["alice", "bob@example.com", "Zoë", "a b"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a:b", " alice", "alice\n", "x\u{7}", &"a".repeat(256)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
