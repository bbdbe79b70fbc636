//! What a client run reports: how the process ended, and the session's `status.ini` (overall
//! status, per-store mode, status and counters) with the raw message dumps of `loglevel=5`.
//! Assertions on a sync's outcome print everything needed to debug it: the client's output,
//! the path of its log folder and the per-store statuses.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::harness::{keep_tmp, tail, SyncMode, CLIENT_TIMEOUT};
use super::items::Store;

/// How one client process ended.
#[derive(Debug)]
pub struct ClientRun {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
}

impl ClientRun {
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// What one sync reported: the process result and the session's `status.ini`.
#[derive(Debug)]
pub struct SyncResult {
    pub device: String,
    pub mode: SyncMode,
    pub run: ClientRun,
    /// `status` of `status.ini` (200 = success; 401 = authorization failed; 20xxx = local).
    pub status: Option<u32>,
    /// Per SyncEvolution source (`addressbook`, `calendar`, `todo`, `memo`).
    pub stores: BTreeMap<String, StoreReport>,
    /// The session's log folder (`syncevolution-log.html`, `status.ini`, message dumps).
    pub log_dir: Option<PathBuf>,
}

/// The `source-<name>-*` keys of `status.ini`.
#[derive(Clone, Debug, Default)]
pub struct StoreReport {
    pub mode: String,
    pub status: Option<u32>,
    /// All keys after `source-<name>-`, e.g. `stat-local-added-total`.
    pub keys: BTreeMap<String, String>,
}

impl StoreReport {
    /// A `stat-<name>` counter, 0 when absent (the client omits zero counters).
    pub fn stat(&self, name: &str) -> u64 {
        self.keys.get(&format!("stat-{name}")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }
    /// Items added / updated / removed on the device by this sync.
    pub fn local_added(&self) -> u64 {
        self.stat("local-added-total")
    }
    pub fn local_updated(&self) -> u64 {
        self.stat("local-updated-total")
    }
    pub fn local_removed(&self) -> u64 {
        self.stat("local-removed-total")
    }
    /// Items the device sent to the server as added / updated / removed.
    pub fn remote_added(&self) -> u64 {
        self.stat("remote-added-total")
    }
    pub fn remote_updated(&self) -> u64 {
        self.stat("remote-updated-total")
    }
    pub fn remote_removed(&self) -> u64 {
        self.stat("remote-removed-total")
    }
    /// Item bytes received from / sent to the server.
    pub fn bytes_received(&self) -> u64 {
        self.stat("local-any-received")
    }
    pub fn bytes_sent(&self) -> u64 {
        self.stat("local-any-sent")
    }
}

impl SyncResult {
    /// Panics (with the client's output and the path of its log folder) unless the client
    /// exited 0, `status.ini` says 200 and every store ended with status 0.
    pub fn assert_ok(&self) -> &SyncResult {
        let stores_ok = self.stores.values().all(|s| matches!(s.status, Some(0) | Some(200)));
        if self.run.exit_code != Some(0) || self.status != Some(200) || !stores_ok || self.stores.is_empty() {
            panic!("{}", self.failure_report("sync failed"));
        }
        self
    }

    /// Panics unless the client gave up with an authorization failure (HTTP/SyncML 401).
    pub fn assert_unauthorized(&self) -> &SyncResult {
        let out = self.run.output();
        let said_401 = out.contains("authorization failed") || out.contains("status 401");
        if self.run.exit_code == Some(0) || self.status != Some(401) || !said_401 {
            panic!("{}", self.failure_report("expected the client to fail with 401 (authorization failed)"));
        }
        self
    }

    /// The report of one store; panics if the session did not include it.
    pub fn store(&self, store: Store) -> &StoreReport {
        self.stores.get(store.source()).unwrap_or_else(|| {
            panic!("{}", self.failure_report(&format!("status.ini has no source-{}-* keys", store.source())))
        })
    }

    /// The raw SyncML messages the client dumped (only at `loglevel=5`), in session order:
    /// (file, size in bytes, whether it came from the server).
    pub fn message_dumps(&self) -> Vec<(PathBuf, u64, bool)> {
        let Some(dir) = &self.log_dir else { return Vec::new() };
        let mut dumps: Vec<(u32, PathBuf, u64, bool)> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        // syncevolution-log_msgNNN_SEQ_{incoming,outgoing}.{xml,wbxml}
                        let rest = name.strip_prefix("syncevolution-log_msg")?;
                        let mut parts = rest.split('_');
                        let seq: u32 = parts.nth(1)?.parse().ok()?;
                        let incoming = parts.next()?.starts_with("incoming");
                        Some((seq, e.path(), e.metadata().ok()?.len(), incoming))
                    })
                    .collect()
            })
            .unwrap_or_default();
        dumps.sort();
        dumps.into_iter().map(|(_, path, size, incoming)| (path, size, incoming)).collect()
    }

    /// A multi-line description of this run for failure messages.
    pub fn failure_report(&self, headline: &str) -> String {
        let run = &self.run;
        let mut text = format!(
            "{headline}: device {} `--sync {}`: exit {:?}{}{}, status.ini status {:?}, after {:.1?}\n",
            self.device,
            self.mode,
            run.exit_code,
            run.signal.map(|s| format!(", killed by signal {s}")).unwrap_or_default(),
            if run.timed_out { format!(", TIMED OUT after {CLIENT_TIMEOUT:?}") } else { String::new() },
            self.status,
            run.elapsed,
        );
        if run.signal == Some(11) {
            text.push_str("  (SIGSEGV: is the LD_PRELOAD shim tests/interop/syncevo-shim.c in effect?)\n");
        }
        for (name, report) in &self.stores {
            text.push_str(&format!("  source {name}: mode {}, status {:?}\n", report.mode, report.status));
        }
        match &self.log_dir {
            Some(dir) => text.push_str(&format!(
                "  client log: {}/syncevolution-log.html{}\n",
                dir.display(),
                if keep_tmp() { "" } else { " (removed at the end of the test; set SYNCGATE_KEEP_TMP=1 to keep it)" }
            )),
            None => text.push_str("  the client wrote no session log folder\n"),
        }
        text.push_str(&format!("---- client stdout (tail):\n{}\n", tail(&run.stdout, 60)));
        text.push_str(&format!("---- client stderr (tail):\n{}", tail(&run.stderr, 30)));
        text
    }
}

/// `status = N` and the `source-<name>-<key> = value` lines of a session's `status.ini`.
pub(super) fn parse_status_ini(text: &str) -> (Option<u32>, BTreeMap<String, StoreReport>) {
    let mut status = None;
    let mut stores: BTreeMap<String, StoreReport> = BTreeMap::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else { continue };
        let (key, value) = (key.trim(), value.trim());
        if key == "status" {
            status = value.parse().ok();
            continue;
        }
        let Some((source, rest)) = key.strip_prefix("source-").and_then(|k| k.split_once('-')) else { continue };
        let report = stores.entry(source.to_string()).or_default();
        match rest {
            "mode" => report.mode = value.to_string(),
            "status" => report.status = value.parse().ok(),
            _ => {}
        }
        report.keys.insert(rest.to_string(), value.to_string());
    }
    (status, stores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_status_ini() {
        let text = "status = 200\nstart = 1795321599, 2026-11-22 04:26:39 +0000\n\
            source-addressbook-mode = two-way\nsource-addressbook-status = 0\n\
            source-addressbook-stat-local-added-total = 1\nsource-addressbook-stat-local-any-received = 442\n\
            source-memo-mode = slow\nsource-memo-status = 22000\nsource-memo-stat-remote-added-total = 7\n";
        let (status, stores) = parse_status_ini(text);
        assert_eq!(status, Some(200));
        assert_eq!(stores["addressbook"].mode, "two-way");
        assert_eq!(stores["addressbook"].local_added(), 1);
        assert_eq!(stores["addressbook"].bytes_received(), 442);
        assert_eq!(stores["addressbook"].local_removed(), 0);
        assert_eq!(stores["memo"].status, Some(22000));
        assert_eq!(stores["memo"].remote_added(), 7);
    }
}
