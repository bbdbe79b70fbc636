//! The load generator behind `syncgate load`: many simulated devices (`client`) syncing with a
//! server at once, and the numbers an operator sizes a deployment with.
//!
//! Every device is a task with its own HTTP connection and in-memory data. Its first session
//! is a slow sync uploading `items` items; every later one is a two-way sync after changing
//! `changes` of its items. Devices run until `sessions` sessions were started in all or
//! `duration` passed, pausing a random time around `pause` before each session. Measured: sessions and items per second, the latency of every message
//! exchange (p50, p95, p99, max), failures by kind, and, given the server's pid on this
//! machine, its CPU time and memory (from `/proc`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::driver;
use crate::client::{ClientConfig, DatastoreSpec, DeviceState, LocalItem, MemoryLocal, Outcome, SyncMode};
use crate::codec::Encoding;
use crate::transport::HttpClient;

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub url: String,
    /// Device `i` logs in as `users[i % users.len()]`.
    pub users: Vec<(String, String)>,
    pub devices: usize,
    /// Items each device uploads in its first (slow) sync.
    pub items: usize,
    /// Items each device changes before every later two-way sync.
    pub changes: usize,
    /// Stop after this many sessions in all (`None`: only the duration counts).
    pub sessions: Option<u64>,
    pub duration: Option<Duration>,
    pub datastore: String,
    pub encoding: Encoding,
    pub device_prefix: String,
    pub timeout: Duration,
    /// The server's pid, when it runs on this machine.
    pub server_pid: Option<u32>,
    /// Print a progress line on stderr every half second.
    pub progress: bool,
    /// Mean pause of a device before each of its sessions (uniform in 0..2×pause, so starts
    /// spread too); zero runs every device back to back (the server's saturation point).
    pub pause: Duration,
}

/// The results.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    pub devices: usize,
    pub seconds: f64,
    pub sessions: u64,
    pub sessions_failed: u64,
    pub sessions_per_second: f64,
    /// Items sent and received by the devices in successful sessions.
    pub items: u64,
    pub items_per_second: f64,
    pub messages: u64,
    pub latency_ms: Latency,
    pub errors: BTreeMap<String, u64>,
    pub server: Option<ServerUsage>,
}

/// Message round-trip latency in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// The server process's use of this machine during the run.
#[derive(Clone, Debug, Serialize)]
pub struct ServerUsage {
    pub cpu_seconds: f64,
    /// CPU seconds per item synced, in microseconds.
    pub cpu_us_per_item: f64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

#[derive(Default)]
struct Shared {
    started: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    items: AtomicU64,
    messages: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// Runs the load and returns the numbers.
pub async fn run(cfg: LoadConfig) -> LoadReport {
    let shared = Arc::new(Shared::default());
    let cpu_before = cfg.server_pid.and_then(cpu_seconds);
    let started = Instant::now();
    let deadline = cfg.duration.map(|d| started + d);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..cfg.devices {
        let cfg = cfg.clone();
        let shared = shared.clone();
        tasks.spawn(async move { device(i, &cfg, &shared, deadline).await });
    }
    let progress = cfg.progress.then(|| {
        let shared = shared.clone();
        let total = cfg.sessions;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let done = shared.done.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let bar = total.map_or(String::new(), |t| {
                    let filled = (done * 30 / t.max(1)).min(30) as usize;
                    format!("[{}{}] ", "#".repeat(filled), ".".repeat(30 - filled))
                });
                eprint!(
                    "\r{bar}{done}{} sessions, {} failed, {:.0} items/s   ",
                    total.map_or(String::new(), |t| format!("/{t}")),
                    shared.failed.load(Ordering::Relaxed),
                    shared.items.load(Ordering::Relaxed) as f64 / secs
                );
            }
        })
    });
    while tasks.join_next().await.is_some() {}
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut lat = shared.latencies_us.lock().map(|v| v.clone()).unwrap_or_default();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    let sessions = shared.done.load(Ordering::Relaxed);
    let items = shared.items.load(Ordering::Relaxed);
    let server = cfg.server_pid.and_then(|pid| {
        let cpu = cpu_seconds(pid)? - cpu_before?;
        let (rss, peak) = memory_kib(pid)?;
        Some(ServerUsage {
            cpu_seconds: cpu,
            cpu_us_per_item: if items == 0 { 0.0 } else { cpu * 1e6 / items as f64 },
            rss_kib: rss,
            peak_rss_kib: peak,
        })
    });
    LoadReport {
        devices: cfg.devices,
        seconds,
        sessions,
        sessions_failed: shared.failed.load(Ordering::Relaxed),
        sessions_per_second: sessions as f64 / seconds.max(0.001),
        items,
        items_per_second: items as f64 / seconds.max(0.001),
        messages: shared.messages.load(Ordering::Relaxed),
        latency_ms: Latency { p50: pct(0.50), p95: pct(0.95), p99: pct(0.99), max: pct(1.0) },
        errors: shared.errors.lock().map(|e| e.clone()).unwrap_or_default(),
        server,
    }
}

/// One device's sessions until the budget or the time is used up.
async fn device(i: usize, cfg: &LoadConfig, shared: &Shared, deadline: Option<Instant>) {
    let Some((user, password)) = cfg.users.get(i % cfg.users.len().max(1)) else { return };
    let id = format!("{}-{i}", cfg.device_prefix);
    let mut client_cfg = ClientConfig::new(&id, user, password);
    client_cfg.encoding = cfg.encoding;
    client_cfg.max_msg_size = 256 * 1024;
    let mut http = HttpClient::new(cfg.timeout).with_user_agent("syncgate-load");
    let mut state = DeviceState::default();
    let mut local = MemoryLocal::new();
    for n in 0..cfg.items {
        local.put(&cfg.datastore, item(&id, n, 0));
    }
    let mut round = 0u32;
    // A per-device pseudo-random sequence for the pauses (no shared generator, no dependency).
    let mut seed = (i as u64).wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    loop {
        if !cfg.pause.is_zero() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let frac = (seed >> 11) as f64 / (1u64 << 53) as f64;
            tokio::time::sleep(cfg.pause.mul_f64(2.0 * frac)).await;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        let n = shared.started.fetch_add(1, Ordering::Relaxed);
        if cfg.sessions.is_some_and(|max| n >= max) {
            return;
        }
        let mode = if round == 0 { SyncMode::Slow } else { SyncMode::TwoWay };
        if round > 0 {
            for c in 0..cfg.changes.min(cfg.items) {
                let k = (round as usize * cfg.changes + c) % cfg.items;
                local.put(&cfg.datastore, item(&id, k, round));
            }
        }
        let spec = DatastoreSpec::new(&cfg.datastore, "text/vcard", mode);
        let mut exchanges = Vec::new();
        let result = driver::sync(&mut http, client_cfg.clone(), &cfg.url, vec![spec], &mut state, &mut local, |x| {
            exchanges.push(u32::try_from(x.latency.as_micros()).unwrap_or(u32::MAX));
        })
        .await;
        shared.messages.fetch_add(exchanges.len() as u64, Ordering::Relaxed);
        if let Ok(mut l) = shared.latencies_us.lock() {
            l.extend(exchanges);
        }
        let error = match result {
            Ok(report) if report.outcome == Outcome::Ok => {
                let moved: u64 = report
                    .datastores
                    .iter()
                    .map(|d| {
                        u64::from(d.sent_added + d.sent_replaced + d.sent_deleted)
                            + u64::from(d.received_added + d.received_replaced + d.received_deleted)
                    })
                    .sum();
                shared.items.fetch_add(moved, Ordering::Relaxed);
                None
            }
            Ok(report) => Some(match report.outcome {
                Outcome::Failed(why) => why,
                _ => "suspended".to_string(),
            }),
            Err(why) => Some(why),
        };
        shared.done.fetch_add(1, Ordering::Relaxed);
        match error {
            None => round += 1,
            Some(why) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut e) = shared.errors.lock() {
                    *e.entry(error_kind(&why)).or_default() += 1;
                }
                // A failed first sync is retried as a slow sync.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The vCard of item `n` of a device, in version `round`.
fn item(device: &str, n: usize, round: u32) -> LocalItem {
    let text = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Load{n};{device};;;\r\nFN:{device} Load{n}\r\nTEL;TYPE=CELL:+1 555 {n:04}\r\n\
         EMAIL:load{n}@example.com\r\nNOTE:round {round}\r\nEND:VCARD\r\n"
    );
    LocalItem { luid: format!("i{n}"), content_type: "text/vcard".into(), parent: None, data: text.into_bytes() }
}

/// A failure reason without the parts that differ each time (numbers, ids).
fn error_kind(why: &str) -> String {
    let kind: String = why.chars().take(80).map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
    kind
}

/// The process's user + system CPU time, seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Clock ticks per second for `/proc/PID/stat` (USER_HZ, 100 on Linux).
fn clock_ticks() -> f64 {
    100.0
}

/// The peak resident set (VmHWM) of a process in KiB, where /proc tells it.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    memory_kib(pid).map(|(_, peak)| peak)
}

/// (VmRSS, VmHWM) in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_usage_is_readable() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some_and(|s| s >= 0.0));
        let (rss, peak) = memory_kib(pid).unwrap();
        assert!(rss > 0 && peak >= rss);
        assert_eq!(error_kind("HTTP 503 from x"), "HTTP ### from x");
    }
}
