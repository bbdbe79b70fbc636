//! `syncgate bench filter`: what record filters and list-plus-link cost a sync session, in one
//! process (engine and SQLite store in a temporary directory, the simulated client of
//! `crate::client`; no HTTP and no codec, so the numbers are the engine's and the store's).
//!
//! The user's `messages` datastore holds ITEMS messages (a third read, dates spread over 60
//! days) and `content` holds FILES files of SIZE bytes. Devices: `pc` (no filter), `fixed`
//! (`READ&EQ;false`), `aging` (`READ&EQ;false&AND;SINCE&EQ;-30d`, relative: every session
//! checks every item) and `phone-links` (content as details plus links). Each does its first
//! (slow) sync, then ROUNDS idle two-way syncs; printed: the server's time (in the engine and
//! store, not the simulated client's) of the first session and the median idle one, with the
//! items and bytes each device got.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use crate::client::{
    ClientConfig, ClientSession, DatastoreSpec, DeviceState, LocalStore as _, MemoryLocal, Next, SyncMode,
};
use crate::codec::Encoding;
use crate::cpm::objects::{Email, File, EMAIL_TYPE, FILE_TYPE};
use crate::engine::{Context, Engine, EngineConfig};
use crate::store::sqlite::SqliteStore;
use crate::store::{Mutation, Origin, Store};

#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Messages in the user's storage.
    #[arg(long, default_value_t = 10_000)]
    pub items: u32,
    /// Files in the user's storage.
    #[arg(long, default_value_t = 200)]
    pub files: u32,
    /// Bytes per file.
    #[arg(long, default_value_t = 100_000)]
    pub size: usize,
    /// Idle syncs per device after the first.
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
}

pub fn run(args: &FilterArgs) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("syncgate-bench-filter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = bench(args, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench(args: &FilterArgs, dir: &std::path::Path) -> Result<(), String> {
    let err = |e: crate::store::StoreError| e.to_string();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("bench.db")).map_err(err)?);
    let user = store.create_user("bench", &crate::auth::md5_secret("bench", "pw")).map_err(err)?.id;
    let now = unix_now();
    let setup = Instant::now();
    let mails: Vec<Mutation> = (0..args.items)
        .map(|i| {
            let days = i64::from(i % 60);
            let date = jiff::Timestamp::from_second(now - days * 86_400 - 60).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let text = format!(
                "From: sender{i}@example.com\r\nDate: {}\r\nSubject: message {i}\r\n\r\n{}",
                date.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "Some text of the message.\r\n".repeat(20)
            );
            let e = Email { read: i % 3 == 0, emailitem: text.into_bytes(), ..Default::default() };
            Mutation::Add { parent: None, content_type: EMAIL_TYPE.into(), data: e.to_xml() }
        })
        .collect();
    for chunk in mails.chunks(1_000) {
        store.apply(user, "messages", &Origin::Service, chunk).map_err(err)?;
    }
    for i in 0..args.files {
        let body: Vec<u8> = (0..args.size).map(|b| (b as u32 ^ i) as u8).collect();
        let f = File { name: format!("file{i}.bin"), body: Some(body), ..Default::default() };
        let add = Mutation::Add { parent: None, content_type: FILE_TYPE.into(), data: f.to_xml() };
        store.apply(user, "content", &Origin::Service, &[add]).map_err(err)?;
    }
    println!(
        "setup: {} messages, {} files of {} bytes in {:.1} s",
        args.items,
        args.files,
        args.size,
        setup.elapsed().as_secs_f64()
    );
    let devices: [(&str, &str, Option<&str>); 4] = [
        ("pc", "messages", None),
        ("fixed", "messages", Some(r#"{"mode":"manual","filters":{"messages":{"record":"READ&EQ;false"}}}"#)),
        (
            "aging",
            "messages",
            Some(r#"{"mode":"manual","filters":{"messages":{"record":"READ&EQ;false&AND;SINCE&EQ;-30d"}}}"#),
        ),
        ("phone-links", "content", Some(r#"{"mode":"manual","filters":{"content":{"shape":{"link":true}}}}"#)),
    ];
    let engine = Engine::new(store.clone(), EngineConfig::default());
    println!("{:<12} {:<9} {:>8} {:>12} {:>10} {:>13}", "device", "store", "items", "bytes", "first ms", "idle p50 ms");
    for (id, ds, prefs) in devices {
        if let Some(p) = prefs {
            store.set_device_prefs(user, id, Some(p), None).map_err(err)?;
        }
        let content_type = if ds == "content" { FILE_TYPE } else { EMAIL_TYPE };
        let mut state = DeviceState::default();
        let mut local = MemoryLocal::new();
        let first = session(&engine, id, ds, content_type, SyncMode::Slow, &mut state, &mut local)?;
        let mut idle = Vec::new();
        for _ in 0..args.rounds {
            idle.push(session(&engine, id, ds, content_type, SyncMode::TwoWay, &mut state, &mut local)?);
        }
        idle.sort_by(f64::total_cmp);
        let held = local.items(ds).map_err(|e| e.to_string())?;
        let bytes: usize = held.iter().map(|i| i.data.len()).sum();
        let p50 = idle.get(idle.len() / 2).copied().unwrap_or(0.0);
        println!("{id:<12} {ds:<9} {:>8} {bytes:>12} {first:>10.1} {p50:>13.1}", held.len());
    }
    Ok(())
}

/// One whole session of the simulated client against the engine, in process; returns the
/// milliseconds spent in the engine.
fn session(
    engine: &Engine,
    device: &str,
    datastore: &str,
    content_type: &str,
    mode: SyncMode,
    state: &mut DeviceState,
    local: &mut MemoryLocal,
) -> Result<f64, String> {
    let cfg = ClientConfig { encoding: Encoding::Xml, ..ClientConfig::new(device, "bench", "pw") };
    let specs = vec![DatastoreSpec::new(datastore, content_type, mode)];
    in_process(engine, cfg, specs, state, local).map(|(ms, _)| ms)
}

/// One whole session of the simulated client against `engine` in this process (no HTTP, no
/// codec): the milliseconds spent in the engine, and the client's report (a failed session is
/// an error).
pub(super) fn in_process(
    engine: &Engine,
    cfg: ClientConfig,
    specs: Vec<DatastoreSpec>,
    state: &mut DeviceState,
    local: &mut MemoryLocal,
) -> Result<(f64, crate::client::Report), String> {
    let device = cfg.device_id.clone();
    let mut client = ClientSession::new(cfg, "http://bench/sync", specs, state, unix_now());
    let mut server = engine.new_session();
    let mut msg = client.first_message();
    let mut in_engine = 0.0;
    for _ in 0..1_000_000 {
        let ctx = Context {
            resp_uri: "http://bench/sync?sid=1".into(),
            now: unix_now(),
            encoding: Encoding::Xml,
            user_agent: None,
            suspend: false,
        };
        let started = Instant::now();
        let reply = engine.handle(&mut server, msg, &ctx);
        in_engine += started.elapsed().as_secs_f64() * 1000.0;
        if reply.finished {
            server = engine.new_session();
        }
        match client.receive(reply.message, local).map_err(|e| e.to_string())? {
            Next::Send(next) => msg = *next,
            Next::Done => break,
        }
    }
    let report = client.finish(state, local).map_err(|e| e.to_string())?;
    if !crate::client::driver::succeeded(&report) {
        return Err(format!("{device}: the session failed: {report:?}"));
    }
    Ok((in_engine, report))
}

fn unix_now() -> i64 {
    crate::client::driver::unix_now_ms() / 1000
}
