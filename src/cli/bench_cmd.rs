//! `syncgate bench notify`: the server-initiated sync pipeline under load, in one process with
//! the SQLite store in a temporary directory.
//!
//! USERS users with DEVICES devices each register automatic preferences (channel `webhook`,
//! delivered to an in-process recorder so the network is not measured). Phase 1 commits RATE
//! changes per second for SECONDS seconds, each by one device of a random user (so every other
//! device of that user is alerted), and reports the latency from commit to delivery (p50, p99,
//! max). Phase 2 commits one change for every user at once and reports how many alerts per
//! second the notifier fans out. The policy is the default one except `min_interval_secs`
//! (0 here, so that latency is the pipeline's and not the policy's wait).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::engine::EngineConfig;
use crate::notify::policy::Policy;
use crate::notify::prefs::{Channel, SyncPrefs};
use crate::server::notifier::{observe, Clock as _, Notifier, NotifierSettings, SystemClock};
use crate::server::push::longpoll::LongPoll;
use crate::server::push::{DeliverFuture, Delivery, PushEnabler};
use crate::store::sqlite::SqliteStore;
use crate::store::{Mutation, Origin, Store, UserId};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Alert latency from commit to delivery, and alerts per second fanned out.
    Notify(NotifyArgs),
    /// The cost of record filters and list-plus-link in sync sessions.
    Filter(super::bench_filter::FilterArgs),
    /// First and incremental sync of messages kept in an IMAP server (scripts/bench-imap).
    Imap(super::bench_imap::ImapArgs),
}

#[derive(Debug, Args)]
pub struct NotifyArgs {
    #[arg(long, default_value_t = 1_000)]
    pub users: u32,
    #[arg(long, default_value_t = 10)]
    pub devices: u32,
    /// Changes per second in the latency phase.
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    #[arg(long, default_value_t = 20)]
    pub seconds: u32,
    /// The policy's coalescing window (ms).
    #[arg(long, default_value_t = 100)]
    pub coalesce_ms: u64,
}

/// Records what is delivered.
#[derive(Debug, Default)]
struct Sink(Mutex<Vec<i64>>);

impl PushEnabler for Sink {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    fn deliver<'a>(&'a self, d: &'a Delivery) -> DeliverFuture<'a> {
        Box::pin(async move {
            if let Ok(mut v) = self.0.lock() {
                v.push(d.alert_id);
            }
            Ok(())
        })
    }
}

pub fn run(cmd: BenchCommand) -> Result<(), String> {
    let args = match cmd {
        BenchCommand::Notify(args) => args,
        BenchCommand::Filter(args) => return super::bench_filter::run(&args),
        BenchCommand::Imap(args) => return super::bench_imap::run(&args),
    };
    let dir = std::env::temp_dir().join(format!("syncgate-bench-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = notify(&args, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn notify(args: &NotifyArgs, dir: &std::path::Path) -> Result<(), String> {
    let err = |e: crate::store::StoreError| e.to_string();
    let inner: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("bench.db")).map_err(err)?);
    let sink = Arc::new(Sink::default());
    let settings = NotifierSettings {
        server_id: "syncgate".into(),
        policy: Policy {
            min_interval_secs: 0,
            coalesce_ms: args.coalesce_ms,
            max_per_hour: 1_000_000,
            ..Policy::default()
        },
        max_attempts: 3,
        datastores: EngineConfig::default().datastores,
    };
    let clock = Arc::new(SystemClock);
    let (store, events) = observe(inner, clock.clone());
    let notifier =
        Notifier::new(store.clone(), settings, vec![sink.clone()], Arc::new(LongPoll::default()), clock.clone());
    let prefs = SyncPrefs::parse(r#"{"mode":"automatic","channel":"webhook","datastores":["messages"]}"#)
        .map_err(|e| e.to_string())?;
    let setup = Instant::now();
    let mut users: Vec<UserId> = Vec::new();
    for u in 0..args.users {
        let id = store.create_user(&format!("u{u}"), "secret").map_err(err)?.id;
        for d in 0..args.devices {
            notifier.set_prefs(id, &format!("d{d}"), Some(&prefs)).map_err(err)?;
        }
        users.push(id);
    }
    println!(
        "setup: {} users x {} devices = {} devices with automatic preferences in {:.1} s",
        args.users,
        args.devices,
        args.users * args.devices,
        setup.elapsed().as_secs_f64()
    );
    notifier.start_events(events);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let dispatcher = runtime.spawn(notifier.clone().run(stopped));

    let change = |user: UserId, n: u64| -> Result<(), String> {
        let email = format!("<Email><read>false</read><emailitem>Subject: {n}</emailitem></Email>");
        let add = Mutation::Add {
            parent: None,
            content_type: "application/vnd.omads-email+xml".into(),
            data: email.into_bytes(),
        };
        store.apply(user, "messages", &Origin::Device("d0".into()), &[add]).map_err(err)?;
        Ok(())
    };

    // Phase 1: a steady rate of changes.
    let total = u64::from(args.rate) * u64::from(args.seconds);
    let start = Instant::now();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 / f64::from(args.rate.max(1)));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        change(users[(rng % users.len() as u64) as usize], n)?;
    }
    let committed = start.elapsed();
    settle(&sink, Duration::from_secs(10));
    let steady = latencies(store.as_ref(), &users, args.devices, 0)?;
    let behind = committed.as_secs_f64();
    println!(
        "phase 1: {total} changes in {behind:.1} s ({:.0}/s), {} alerts delivered; commit to delivery p50 {} ms, p99 {} ms, max {} ms (coalescing window {} ms)",
        total as f64 / behind,
        steady.len(),
        pct(&steady, 0.50),
        pct(&steady, 0.99),
        steady.last().copied().unwrap_or(0),
        args.coalesce_ms
    );

    // Phase 2: every user changes at once: (devices − 1) alerts each.
    let before = sink.0.lock().map(|v| v.len()).unwrap_or(0);
    let since = clock.now_ms();
    let burst = Instant::now();
    for (n, u) in users.iter().enumerate() {
        change(*u, total + n as u64)?;
    }
    let commits = burst.elapsed().as_secs_f64();
    let wanted = before + users.len() * (args.devices.saturating_sub(1) as usize);
    let deadline = Instant::now() + Duration::from_secs(300);
    while sink.0.lock().map(|v| v.len()).unwrap_or(0) < wanted && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = burst.elapsed().as_secs_f64();
    let fanned = sink.0.lock().map(|v| v.len()).unwrap_or(0) - before;
    let burst_lat = latencies(store.as_ref(), &users, args.devices, since)?;
    println!(
        "phase 2: {} changes at once (committed in {commits:.2} s) -> {fanned} alerts delivered in {took:.2} s: {:.0} alerts/s fanned out; commit to delivery p50 {} ms, p99 {} ms",
        users.len(),
        fanned as f64 / took,
        pct(&burst_lat, 0.50),
        pct(&burst_lat, 0.99)
    );
    if let Some(kib) = crate::load::peak_rss_kib(std::process::id()) {
        println!("peak RSS of this process: {:.1} MiB", kib as f64 / 1024.0);
    }
    let _ = stop.send(true);
    runtime.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(2), dispatcher).await;
    });
    Ok(())
}

/// Waits until deliveries stop growing for a second (at most `max`); returns how many.
fn settle(sink: &Sink, max: Duration) -> usize {
    let end = Instant::now() + max;
    let mut last = usize::MAX;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = sink.0.lock().map(|v| v.len()).unwrap_or(0);
        if now == last || Instant::now() > end {
            return now;
        }
        last = now;
    }
}

/// Sorted (sent − created) of the alerts created at or after `since`.
fn latencies(store: &dyn Store, users: &[UserId], devices: u32, since: i64) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    for u in users {
        for d in 0..devices {
            for a in store.device_alerts(*u, &format!("d{d}"), since).map_err(|e| e.to_string())? {
                if let Some(sent) = a.sent {
                    out.push(sent - a.created);
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
