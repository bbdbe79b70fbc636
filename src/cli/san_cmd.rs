//! `syncgate san decode|encode`: Server Alerted Notifications from and to files.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use crate::codec::{self, Encoding, Limits};
use crate::notify::legacy::{LegacySan, LegacySync};
use crate::notify::san::{self, Initiator, San, SanSecret, SanSync, SanVersion, UiMode};
use crate::proto::{AlertCode, Version};

#[derive(Debug, Subcommand)]
pub enum SanCommand {
    /// Print a notification's fields as JSON (DS 1.2 binary, or the 1.0/1.1 SyncML form).
    /// Given --password (and --nonce), also whether the 1.2 digest is valid.
    Decode {
        /// Input file; `-` for stdin.
        file: PathBuf,
        /// Identity the digest is keyed with (normally the server identifier).
        #[arg(long)]
        server_id: Option<String>,
        #[arg(long)]
        password: Option<String>,
        /// Nonce as text (the raw bytes, not base64).
        #[arg(long, default_value = "")]
        nonce: String,
    },
    /// Build a notification and write it to stdout (or --output).
    Encode {
        /// The server identifier written in the notification.
        #[arg(long)]
        server_id: String,
        /// Sign with this password (1.2 form; without it the digest is all zeros).
        #[arg(long)]
        password: Option<String>,
        /// Nonce as text (the raw bytes, not base64).
        #[arg(long, default_value = "")]
        nonce: String,
        /// Key the digest with this identity instead of the server id (SyncEvolution uses the user name).
        #[arg(long)]
        identity: Option<String>,
        #[arg(long, default_value_t = 0)]
        session_id: u16,
        #[arg(long, value_enum, default_value = "background")]
        ui_mode: UiArg,
        #[arg(long, value_enum, default_value = "server")]
        initiator: InitiatorArg,
        /// A datastore to sync: `CODE:CONTENT-TYPE:URI`, e.g. `206:text/x-vcard:contacts`
        /// (content type as a MIME type or a number such as 0x07); repeatable; none means all.
        #[arg(long = "sync")]
        syncs: Vec<String>,
        /// Vendor-specific bytes after the syncs, as hex (1.2 form).
        #[arg(long, default_value = "")]
        vendor: String,
        /// `1.2` (binary) or `1.1`/`1.0` (a SyncML message).
        #[arg(long, default_value = "1.2")]
        format: String,
        /// Encoding of the 1.0/1.1 form.
        #[arg(long, value_enum, default_value = "wbxml")]
        encoding: EncodingArg,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum UiArg {
    NotSpecified,
    Background,
    Informative,
    UserInteraction,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InitiatorArg {
    User,
    Server,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EncodingArg {
    Xml,
    Wbxml,
}

pub fn run(cmd: SanCommand) -> Result<(), String> {
    match cmd {
        SanCommand::Decode { file, server_id, password, nonce } => {
            let bytes = super::read_input(Some(&file))?;
            let out = decode(&bytes, server_id.as_deref(), password.as_deref(), nonce.as_bytes())?;
            super::write_output(format!("{out:#}\n").as_bytes())
        }
        SanCommand::Encode {
            server_id,
            password,
            nonce,
            identity,
            session_id,
            ui_mode,
            initiator,
            syncs,
            vendor,
            format,
            encoding,
            output,
        } => {
            let syncs = syncs.iter().map(|s| parse_sync(s)).collect::<Result<Vec<_>, _>>()?;
            let bytes = match format.as_str() {
                "1.2" => {
                    let san = San {
                        version: SanVersion::V1_2,
                        ui_mode: match ui_mode {
                            UiArg::NotSpecified => UiMode::NotSpecified,
                            UiArg::Background => UiMode::Background,
                            UiArg::Informative => UiMode::Informative,
                            UiArg::UserInteraction => UiMode::UserInteraction,
                        },
                        initiator: match initiator {
                            InitiatorArg::User => Initiator::User,
                            InitiatorArg::Server => Initiator::Server,
                        },
                        session_id,
                        server_id: server_id.clone(),
                        syncs: syncs
                            .iter()
                            .map(|(code, ct, uri)| {
                                Ok::<_, String>(SanSync {
                                    sync_type: *code,
                                    content_type: content_code(ct)?,
                                    server_uri: uri.clone(),
                                })
                            })
                            .collect::<Result<_, _>>()?,
                        vendor: parse_hex(&vendor)?,
                    };
                    let id = identity.as_deref().unwrap_or(&server_id);
                    let secret =
                        password.as_deref().map(|pw| SanSecret { identity: id, password: pw, nonce: nonce.as_bytes() });
                    san.encode(secret.as_ref()).map_err(|e| e.to_string())?
                }
                "1.1" | "1.0" => {
                    let version = if format == "1.1" { Version::V1_1 } else { Version::V1_0 };
                    let legacy = LegacySan {
                        version: format.clone(),
                        session_id: session_id.to_string(),
                        server_id,
                        syncs: syncs
                            .into_iter()
                            .map(|(sync_type, ct, server_uri)| LegacySync { sync_type, server_uri, content_type: ct })
                            .collect(),
                    };
                    let enc = match encoding {
                        EncodingArg::Xml => Encoding::Xml,
                        EncodingArg::Wbxml => Encoding::Wbxml,
                    };
                    codec::encode_message(&legacy.to_message(version), enc).map_err(|e| e.to_string())?
                }
                other => return Err(format!("unknown --format {other:?} (1.2, 1.1 or 1.0)")),
            };
            match output {
                Some(p) => std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display())),
                None => super::write_output(&bytes),
            }
        }
    }
}

/// The JSON description of a notification in either form.
pub fn decode(
    bytes: &[u8],
    server_id: Option<&str>,
    password: Option<&str>,
    nonce: &[u8],
) -> Result<serde_json::Value, String> {
    // A 1.0/1.1 notification is a SyncML message; anything else must be the binary 1.2 form.
    if let Ok((enc, msg)) = codec::decode_message(bytes, &Limits::default()) {
        return match LegacySan::from_message(&msg) {
            Some(l) => {
                Ok(json!({ "format": l.version, "encoding": format!("{enc:?}").to_lowercase(), "notification": l }))
            }
            None => Err("a SyncML message without a server-alerted Alert (206-210): not a notification".into()),
        };
    }
    let (san, digest) = San::decode(bytes).map_err(|e| e.to_string())?;
    let mut out = json!({ "format": "1.2", "digest": digest.to_string(), "notification": san });
    if let Some(pw) = password {
        let identity = server_id.unwrap_or(&san.server_id);
        let valid = san::verify(bytes, &SanSecret { identity, password: pw, nonce });
        out["digest_valid"] = json!(valid);
    }
    Ok(out)
}

/// `CODE:CONTENT-TYPE:URI`; the URI may itself contain colons.
fn parse_sync(s: &str) -> Result<(AlertCode, String, String), String> {
    let mut parts = s.splitn(3, ':');
    let (Some(code), Some(ct), Some(uri)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("--sync {s:?}: expected CODE:CONTENT-TYPE:URI"));
    };
    let code: u16 = code.parse().map_err(|_| format!("--sync {s:?}: {code:?} is not an alert code"))?;
    if !(206..=210).contains(&code) {
        return Err(format!("--sync {s:?}: sync type must be 206-210"));
    }
    Ok((AlertCode::from(code), ct.to_string(), uri.to_string()))
}

/// A content type given as a number (`7`, `0x07`) or a MIME type.
fn content_code(ct: &str) -> Result<u32, String> {
    if let Some(hex) = ct.strip_prefix("0x") {
        return u32::from_str_radix(hex, 16).map_err(|_| format!("bad content type {ct:?}"));
    }
    if let Ok(n) = ct.parse::<u32>() {
        return Ok(n);
    }
    Ok(san::content_type_code(ct))
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("--vendor {s:?} is not an even number of hex digits"));
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string())).collect()
}
