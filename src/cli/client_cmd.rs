//! `syncgate client`: a simulated device. Its state folder holds `state.json` (anchors, item
//! digests, nonce) and `data/<datastore>/` (one file per item, the file name is the LUID), so
//! the device can be changed with ordinary tools and synced again later.
//!
//! ```text
//! syncgate client --url URL --user U --password P --device ID --state DIR sync contacts --mode two-way
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::client::driver::{self, load_state, save_state};
use crate::client::{AuthKind, ClientConfig, DatastoreSpec, FolderLocal, Outcome, Report, SyncMode};
use crate::codec::Encoding;
use crate::transport::HttpClient;

/// Options of `syncgate client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The server's sync URL, e.g. http://127.0.0.1:8080/sync.
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub user: String,
    #[arg(long)]
    pub password: String,
    /// The device id (SyncHdr Source), e.g. IMEI:356938035643809.
    #[arg(long)]
    pub device: String,
    /// The device's state folder (created when missing).
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// Send plain XML instead of WBXML.
    #[arg(long)]
    pub xml: bool,
    /// `md5` (default) or `basic`.
    #[arg(long, default_value = "md5")]
    pub auth: String,
    /// The largest message the device accepts (MaxMsgSize).
    #[arg(long, default_value_t = 65_536)]
    pub max_msg_size: u64,
    /// The largest item the device accepts (MaxObjSize).
    #[arg(long, default_value_t = 4_000_000)]
    pub max_obj_size: u64,
    /// Suspend (Alert 224) after this many messages; the next sync resumes.
    #[arg(long)]
    pub suspend_after: Option<u32>,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Write every message sent and received as indented XML into this folder.
    #[arg(long, value_name = "DIR")]
    pub dump: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ClientCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Sync datastores (their items are in STATE/data/<datastore>/).
    Sync {
        /// Server datastore names, e.g. contacts calendar.
        #[arg(required = true)]
        datastores: Vec<String>,
        /// two-way, slow, one-way-from-client, refresh-from-client, one-way-from-server,
        /// refresh-from-server.
        #[arg(long, default_value = "two-way")]
        mode: String,
        /// Content type of the items (default by datastore name: contacts text/vcard,
        /// calendar and tasks text/calendar, notes text/plain).
        #[arg(long = "type")]
        content_type: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Do not resume a suspended session even if one is waiting.
        #[arg(long)]
        no_resume: bool,
    },
    /// Wait for the server's notifications on its long-poll channel (GET /notify); check each
    /// one's digest and sync the datastores it names (those given here when it names none).
    /// Prints one JSON line per notification.
    Wait {
        /// The datastores this device syncs, e.g. messages content.
        #[arg(required = true)]
        datastores: Vec<String>,
        /// Stop after this many notifications (default: wait forever).
        #[arg(long)]
        count: Option<u32>,
        /// The long-poll URL (default: the sync URL's host with path /notify?device=ID).
        #[arg(long)]
        notify_url: Option<String>,
        /// Act on notifications whose digest does not match (default: refuse them).
        #[arg(long)]
        accept_unverified: bool,
    },
}

/// The content type a datastore's items have unless told otherwise.
pub fn default_type(datastore: &str) -> &'static str {
    match datastore {
        "contacts" | "addressbook" => "text/vcard",
        "calendar" | "tasks" | "events" | "todo" => "text/calendar",
        "notes" | "memo" => "text/plain",
        "messages" => crate::cpm::objects::EMAIL_TYPE,
        "content" => crate::cpm::objects::FILE_TYPE,
        _ => "application/octet-stream",
    }
}

pub fn run(args: ClientArgs) -> Result<(), String> {
    let (datastores, mode, content_type, json, no_resume) = match &args.command {
        ClientCommand::Sync { datastores, mode, content_type, json, no_resume } => {
            (datastores, mode.as_str(), content_type, *json, *no_resume)
        }
        ClientCommand::Wait { .. } => return wait(&args),
    };
    let mode = SyncMode::parse(mode).ok_or_else(|| format!("unknown mode {mode:?}"))?;
    let cfg = client_config(&args)?;
    let mut types = BTreeMap::new();
    let specs: Vec<DatastoreSpec> = datastores
        .iter()
        .map(|name| {
            let ct = content_type.clone().unwrap_or_else(|| default_type(name).to_string());
            types.insert(name.clone(), ct.clone());
            DatastoreSpec { resume: !no_resume, ..DatastoreSpec::new(name, &ct, mode) }
        })
        .collect();
    let mut state = load_state(&args.state)?;
    let mut local = FolderLocal::new(&args.state.join("data"), types);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let mut http = HttpClient::new(Duration::from_secs(args.timeout)).with_user_agent("syncgate-client");
    let report = runtime.block_on(driver::sync_dumping(
        &mut http,
        cfg,
        &args.url,
        specs,
        &mut state,
        &mut local,
        |_| {},
        args.dump.as_deref(),
    ))?;
    save_state(&args.state, &state)?;
    if json {
        println!("{}", report_json(&report));
    } else {
        for d in &report.datastores {
            println!(
                "{}: mode {} (alert status {}), sent {} added {} replaced {} deleted ({} refused), received {} added {} replaced {} deleted",
                d.name,
                d.mode.map_or("-", SyncMode::as_str),
                d.alert_status.map_or("-".to_string(), |c| c.to_string()),
                d.sent_added,
                d.sent_replaced,
                d.sent_deleted,
                d.sent_failed,
                d.received_added,
                d.received_replaced,
                d.received_deleted
            );
        }
    }
    match report.outcome {
        Outcome::Ok => Ok(()),
        Outcome::Suspended => {
            eprintln!("session suspended: the next sync resumes it");
            Ok(())
        }
        Outcome::Failed(why) => Err(format!("sync failed: {why}")),
    }
}

/// The device configuration the options describe.
fn client_config(args: &ClientArgs) -> Result<ClientConfig, String> {
    let auth = match args.auth.as_str() {
        "md5" => AuthKind::Md5,
        "basic" => AuthKind::Basic,
        other => return Err(format!("unknown auth {other:?} (md5 or basic)")),
    };
    let mut cfg = ClientConfig::new(&args.device, &args.user, &args.password);
    cfg.auth = auth;
    cfg.encoding = if args.xml { Encoding::Xml } else { Encoding::Wbxml };
    cfg.max_msg_size = args.max_msg_size;
    cfg.max_obj_size = args.max_obj_size;
    cfg.suspend_after = args.suspend_after;
    Ok(cfg)
}

/// A session report as JSON.
fn report_json(report: &Report) -> serde_json::Value {
    serde_json::json!({
        "outcome": match &report.outcome { Outcome::Ok => "ok".to_string(), Outcome::Suspended => "suspended".into(), Outcome::Failed(w) => format!("failed: {w}") },
        "messages": report.messages,
        "datastores": report.datastores.iter().map(|d| serde_json::json!({
            "name": d.name,
            "mode": d.mode.map(SyncMode::as_str),
            "alert_status": d.alert_status,
            "sent": {"added": d.sent_added, "replaced": d.sent_replaced, "deleted": d.sent_deleted, "moved": d.sent_moved, "failed": d.sent_failed},
            "received": {"added": d.received_added, "replaced": d.received_replaced, "deleted": d.received_deleted, "moved": d.received_moved},
        })).collect::<Vec<_>>(),
    })
}

/// `syncgate client … wait`: long-poll, check, sync, print; again.
fn wait(args: &ClientArgs) -> Result<(), String> {
    let ClientCommand::Wait { datastores, count, notify_url, accept_unverified } = &args.command else {
        return Err("not a wait command".into());
    };
    let cfg = client_config(args)?;
    let url = match notify_url {
        Some(u) => crate::transport::Url::parse(u),
        None => crate::client::wait::notify_url(&args.url, &args.device),
    }
    .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        // Longer than any heartbeat the gateway may use.
        let mut poll_http =
            HttpClient::new(Duration::from_secs(args.timeout.max(120))).with_user_agent("syncgate-client");
        let mut sync_http = HttpClient::new(Duration::from_secs(args.timeout)).with_user_agent("syncgate-client");
        let mut seen = 0u32;
        while count.is_none_or(|c| seen < c) {
            let bytes = match crate::client::wait::poll(&mut poll_http, &url, &args.user, &args.password).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue,
                Err(e) => {
                    eprintln!("{e}; polling again in 2 s");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            let received_ms = driver::unix_now_ms();
            seen += 1;
            let mut state = load_state(&args.state)?;
            let received = match crate::client::wait::check(&bytes, &args.user, &args.password, state.nonce.as_deref())
            {
                Ok(r) => r,
                Err(e) => {
                    println!(
                        "{}",
                        serde_json::json!({ "event": "notification", "received_ms": received_ms, "error": e })
                    );
                    continue;
                }
            };
            let asked: Vec<String> = received.san.syncs.iter().map(|s| s.server_uri.clone()).collect();
            let names: Vec<String> = if asked.is_empty() {
                datastores.clone()
            } else {
                datastores.iter().filter(|d| asked.contains(d)).cloned().collect()
            };
            let act = (received.verified || *accept_unverified) && !names.is_empty();
            let mut line = serde_json::json!({
                "event": "notification",
                "received_ms": received_ms,
                "verified": received.verified,
                "server_id": received.san.server_id,
                "datastores": asked,
                "acted": act,
            });
            if !act {
                eprintln!("notification not acted on (verified: {}, datastores {asked:?})", received.verified);
                println!("{line}");
                continue;
            }
            let mut types = BTreeMap::new();
            let specs: Vec<DatastoreSpec> = names
                .iter()
                .map(|name| {
                    let ct = default_type(name).to_string();
                    types.insert(name.clone(), ct.clone());
                    DatastoreSpec::new(name, &ct, SyncMode::TwoWay)
                })
                .collect();
            let mut local = FolderLocal::new(&args.state.join("data"), types);
            let report =
                driver::sync(&mut sync_http, cfg.clone(), &args.url, specs, &mut state, &mut local, |_| {}).await?;
            save_state(&args.state, &state)?;
            line["sync"] = report_json(&report);
            println!("{line}");
        }
        Ok(())
    })
}
