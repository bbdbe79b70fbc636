//! `syncgate load`: many simulated devices against a server URL, then throughput, latency
//! percentiles, failures and (with `--server-pid`) the server's CPU and memory.
//!
//! ```text
//! syncgate load --url http://127.0.0.1:8080/sync --user-prefix load --users 100 --password pw \
//!   --devices 100 --items 20 --changes 10 --sessions 1000 --server-pid 4242 --json out.json
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::codec::Encoding;
use crate::load::{self, LoadConfig, LoadReport};

/// Options of `syncgate load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The server's sync URL.
    #[arg(long)]
    pub url: String,
    /// One account for every device (or see --user-prefix).
    #[arg(long, conflicts_with = "user_prefix")]
    pub user: Option<String>,
    /// Accounts PREFIX0 … PREFIX{N-1} (N = --users), device i using account i mod N.
    #[arg(long)]
    pub user_prefix: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub users: usize,
    #[arg(long)]
    pub password: String,
    /// Simulated devices running at once.
    #[arg(long, default_value_t = 100)]
    pub devices: usize,
    /// Items each device uploads in its first (slow) sync.
    #[arg(long, default_value_t = 20)]
    pub items: usize,
    /// Items each device changes before each later two-way sync.
    #[arg(long, default_value_t = 2)]
    pub changes: usize,
    /// Stop after this many sessions in all.
    #[arg(long)]
    pub sessions: Option<u64>,
    /// Stop after this many seconds (default 30 when --sessions is not given).
    #[arg(long)]
    pub duration: Option<u64>,
    /// The server datastore the devices sync.
    #[arg(long, default_value = "contacts")]
    pub datastore: String,
    /// Send plain XML instead of WBXML.
    #[arg(long)]
    pub xml: bool,
    /// Device ids are PREFIX-0, PREFIX-1, … (default: load-<unix time>, new devices each run).
    #[arg(long)]
    pub device_prefix: Option<String>,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// The server's pid on this machine: its CPU time and memory are reported.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Also write the result as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Mean pause of each device before each session, in milliseconds (0: back to back).
    #[arg(long, default_value_t = 0)]
    pub pause_ms: u64,
}

pub fn run(args: LoadArgs) -> Result<(), String> {
    let users: Vec<(String, String)> = match (&args.user, &args.user_prefix) {
        (Some(u), _) => vec![(u.clone(), args.password.clone())],
        (None, Some(p)) => (0..args.users.max(1)).map(|i| (format!("{p}{i}"), args.password.clone())).collect(),
        (None, None) => return Err("give --user NAME or --user-prefix PREFIX --users N".into()),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let duration = match (args.duration, args.sessions) {
        (Some(s), _) => Some(Duration::from_secs(s)),
        (None, None) => Some(Duration::from_secs(30)),
        (None, Some(_)) => None,
    };
    let cfg = LoadConfig {
        url: args.url.clone(),
        users,
        devices: args.devices.max(1),
        items: args.items,
        changes: args.changes,
        sessions: args.sessions,
        duration,
        datastore: args.datastore.clone(),
        encoding: if args.xml { Encoding::Xml } else { Encoding::Wbxml },
        device_prefix: args.device_prefix.clone().unwrap_or_else(|| format!("load-{now}")),
        timeout: Duration::from_secs(args.timeout),
        server_pid: args.server_pid,
        progress: !args.quiet,
        pause: Duration::from_millis(args.pause_ms),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let report = runtime.block_on(load::run(cfg));
    print!("{}", render(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if report.sessions == 0 {
        return Err("no session ran".into());
    }
    Ok(())
}

/// The human-readable result.
pub fn render(r: &LoadReport) -> String {
    let mut out = format!(
        "devices {}  time {:.1} s\nsessions {} ({} failed)  {:.1} sessions/s\nitems {}  {:.0} items/s\n\
         messages {}  latency ms p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1}\n",
        r.devices,
        r.seconds,
        r.sessions,
        r.sessions_failed,
        r.sessions_per_second,
        r.items,
        r.items_per_second,
        r.messages,
        r.latency_ms.p50,
        r.latency_ms.p95,
        r.latency_ms.p99,
        r.latency_ms.max
    );
    for (kind, n) in &r.errors {
        out.push_str(&format!("error x{n}: {kind}\n"));
    }
    if let Some(s) = &r.server {
        out.push_str(&format!(
            "server cpu {:.2} s  ({:.1} µs per item)  rss {} KiB  peak rss {} KiB\n",
            s.cpu_seconds, s.cpu_us_per_item, s.rss_kib, s.peak_rss_kib
        ));
    }
    out
}
