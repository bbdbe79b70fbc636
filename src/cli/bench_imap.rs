//! `syncgate bench imap`: a first sync and an incremental sync of the messages datastore kept
//! in an IMAP server, in one process (engine, IMAP store over a temporary SQLite database, the
//! simulated client), with the time spent waiting for IMAP shown apart from the rest.
//!
//! The IMAP server must know USER (created empty or reused) and let the gateway in as
//! `USER*MASTER` (Dovecot master user). Setup appends MESSAGES messages to USER's INBOX;
//! the device's first sync (slow) gets them all; then CHANGES messages are flagged and CHANGES
//! new ones appended directly in IMAP, and an incremental (two-way) sync gets those.
//! `scripts/bench-imap` runs it against a throwaway Dovecot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use crate::client::{ClientConfig, DatastoreSpec, DeviceState, MemoryLocal, SyncMode};
use crate::codec::Encoding;
use crate::cpm::objects::EMAIL_TYPE;
use crate::engine::{Engine, EngineConfig};
use crate::imap::{Connection, FlagMode, ImapError, MailboxInfo, MessageMeta, Selected};
use crate::store::imap::config::{ImapConfig, Login};
use crate::store::imap::mail::{MailSession, Mailer};
use crate::store::imap::pool::ImapMailer;
use crate::store::imap::ImapStore;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct ImapArgs {
    /// `host:port` of the IMAP server.
    #[arg(long)]
    pub address: String,
    #[arg(long, default_value = "bench")]
    pub user: String,
    /// The user's own IMAP password (to append the test messages).
    #[arg(long)]
    pub password: String,
    #[arg(long)]
    pub master_user: String,
    #[arg(long)]
    pub master_password: String,
    #[arg(long, default_value_t = 5_000)]
    pub messages: u32,
    #[arg(long, default_value_t = 50)]
    pub changes: u32,
}

/// Time spent in IMAP calls.
#[derive(Debug, Default)]
struct Clock(AtomicU64);

impl Clock {
    fn add(&self, since: Instant) {
        self.0.fetch_add(u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn take_ms(&self) -> f64 {
        self.0.swap(0, Ordering::Relaxed) as f64 / 1e6
    }
}

/// A mailer whose sessions time every call.
#[derive(Debug)]
struct Timed {
    inner: ImapMailer,
    clock: Arc<Clock>,
}

struct TimedSession {
    inner: Box<dyn MailSession>,
    clock: Arc<Clock>,
}

impl Mailer for Timed {
    fn open(&self, user: &str) -> Result<Box<dyn MailSession>, ImapError> {
        let t = Instant::now();
        let inner = self.inner.open(user);
        self.clock.add(t);
        Ok(Box::new(TimedSession { inner: inner?, clock: self.clock.clone() }))
    }

    fn give_back(&self, user: &str, session: Box<dyn MailSession>) {
        let any: Box<dyn std::any::Any> = session;
        if let Ok(t) = any.downcast::<TimedSession>() {
            self.inner.give_back(user, t.inner);
        }
    }
}

macro_rules! timed {
    ($self:ident, $call:expr) => {{
        let t = Instant::now();
        let r = $call;
        $self.clock.add(t);
        r
    }};
}

impl MailSession for TimedSession {
    fn has(&self, capability: &str) -> bool {
        self.inner.has(capability)
    }
    fn list(&mut self) -> Result<Vec<MailboxInfo>, ImapError> {
        timed!(self, self.inner.list())
    }
    fn select(&mut self, mailbox: &str) -> Result<Selected, ImapError> {
        timed!(self, self.inner.select(mailbox))
    }
    fn status(&mut self, mailbox: &str) -> Result<crate::imap::MailboxStatus, ImapError> {
        timed!(self, self.inner.status(mailbox))
    }
    fn fetch_meta(&mut self, changed_since: Option<u64>) -> Result<(Vec<MessageMeta>, Vec<u32>), ImapError> {
        timed!(self, self.inner.fetch_meta(changed_since))
    }
    fn fetch_body(&mut self, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        timed!(self, self.inner.fetch_body(uid))
    }
    fn fetch_sizes(&mut self, first: u32, last: u32) -> Result<Vec<(u32, u64)>, ImapError> {
        timed!(self, self.inner.fetch_sizes(first, last))
    }
    fn fetch_bodies(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        timed!(self, self.inner.fetch_bodies(uids))
    }
    fn selected(&self) -> Option<(String, Selected)> {
        self.inner.selected()
    }
    fn append(&mut self, mailbox: &str, flags: &[&str], message: &[u8]) -> Result<Option<u32>, ImapError> {
        timed!(self, self.inner.append(mailbox, flags, message))
    }
    fn store_flags(&mut self, uid: u32, mode: FlagMode, flags: &[&str]) -> Result<(), ImapError> {
        timed!(self, self.inner.store_flags(uid, mode, flags))
    }
    fn uid_move(&mut self, uid: u32, to: &str) -> Result<Option<u32>, ImapError> {
        timed!(self, self.inner.uid_move(uid, to))
    }
    fn delete_message(&mut self, uid: u32) -> Result<(), ImapError> {
        timed!(self, self.inner.delete_message(uid))
    }
    fn create(&mut self, mailbox: &str) -> Result<(), ImapError> {
        timed!(self, self.inner.create(mailbox))
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), ImapError> {
        timed!(self, self.inner.rename(from, to))
    }
    fn delete_mailbox(&mut self, mailbox: &str) -> Result<(), ImapError> {
        timed!(self, self.inner.delete_mailbox(mailbox))
    }
}

pub fn run(args: &ImapArgs) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("syncgate-bench-imap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = bench(args, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench(args: &ImapArgs, dir: &std::path::Path) -> Result<(), String> {
    let e = |e: ImapError| e.to_string();
    let timeout = Duration::from_secs(30);
    let mut direct = Connection::connect(&args.address, timeout).map_err(e)?;
    direct.login(&args.user, &args.password).map_err(e)?;
    let setup = Instant::now();
    for i in 0..args.messages {
        let text = format!(
            "From: sender{i}@example.com\r\nTo: {}@example.com\r\nSubject: message {i}\r\n\r\n{}",
            args.user,
            "A line of the message text.\r\n".repeat(20)
        );
        direct.append("INBOX", if i % 3 == 0 { &["\\Seen"] } else { &[] }, text.as_bytes()).map_err(e)?;
    }
    println!("setup: {} messages appended in {:.1} s", args.messages, setup.elapsed().as_secs_f64());

    let local: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("bench.db")).map_err(|e| e.to_string())?);
    let config = ImapConfig {
        enabled: true,
        address: args.address.clone(),
        login: Login::Master,
        master_user: args.master_user.clone(),
        master_password: args.master_password.clone(),
        timeout_secs: 30,
        ..ImapConfig::default()
    };
    let clock = Arc::new(Clock::default());
    let mailer = Arc::new(Timed { inner: ImapMailer::new(config.clone()), clock: clock.clone() });
    let store: Arc<dyn Store> = Arc::new(ImapStore::new(local, mailer, &config.datastore));
    store.create_user(&args.user, &crate::auth::md5_secret(&args.user, "pw")).map_err(|e| e.to_string())?;
    let engine = Engine::new(store, EngineConfig::default());
    let (mut state, mut device) = (DeviceState::default(), MemoryLocal::new());

    let t = Instant::now();
    let (engine_ms, got) = session(&engine, &args.user, SyncMode::Slow, &mut state, &mut device)?;
    let wall = t.elapsed().as_secs_f64() * 1000.0;
    let imap_ms = clock.take_ms();
    println!(
        "first sync:       {got:>6} items  server {engine_ms:>8.0} ms  of which IMAP {imap_ms:>8.0} ms  (wall {wall:.0} ms)"
    );

    direct.select("INBOX").map_err(e)?;
    let (metas, _) = direct.fetch_meta(None).map_err(e)?;
    for m in metas.iter().take(args.changes as usize) {
        direct.store_flags(m.uid, FlagMode::Add, &["\\Flagged"]).map_err(e)?;
    }
    for i in 0..args.changes {
        let text = format!("From: late@example.com\r\nSubject: late {i}\r\n\r\nNew.\r\n");
        direct.append("INBOX", &[], text.as_bytes()).map_err(e)?;
    }
    let t = Instant::now();
    let (engine_ms, got) = session(&engine, &args.user, SyncMode::TwoWay, &mut state, &mut device)?;
    let wall = t.elapsed().as_secs_f64() * 1000.0;
    let imap_ms = clock.take_ms();
    println!(
        "incremental sync: {got:>6} items  server {engine_ms:>8.0} ms  of which IMAP {imap_ms:>8.0} ms  (wall {wall:.0} ms)"
    );
    let t = Instant::now();
    let (engine_ms, got) = session(&engine, &args.user, SyncMode::TwoWay, &mut state, &mut device)?;
    let wall = t.elapsed().as_secs_f64() * 1000.0;
    let imap_ms = clock.take_ms();
    println!(
        "idle sync:        {got:>6} items  server {engine_ms:>8.0} ms  of which IMAP {imap_ms:>8.0} ms  (wall {wall:.0} ms)"
    );
    direct.logout();
    Ok(())
}

/// One session; returns the milliseconds in the engine (IMAP included) and the items received.
fn session(
    engine: &Engine,
    user: &str,
    mode: SyncMode,
    state: &mut DeviceState,
    local: &mut MemoryLocal,
) -> Result<(f64, u32), String> {
    let cfg = ClientConfig { encoding: Encoding::Xml, ..ClientConfig::new("bench-device", user, "pw") };
    let specs = vec![DatastoreSpec::new("messages", EMAIL_TYPE, mode)];
    let (ms, report) = super::bench_filter::in_process(engine, cfg, specs, state, local)?;
    let d = &report.datastores[0];
    Ok((ms, d.received_added + d.received_replaced + d.received_deleted))
}
