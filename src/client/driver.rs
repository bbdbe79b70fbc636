//! Runs a client session over HTTP: encodes each message, POSTs it with `crate::transport`,
//! decodes the answer and feeds it back, until the session is over. Also the state folder of
//! `syncgate client`: `state.json` (the device state) and `data/<datastore>/` (its items).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client::local::{write_atomic, LocalStore};
use crate::client::session::{ClientConfig, ClientSession, DatastoreSpec, Next, Outcome, Report};
use crate::client::state::DeviceState;
use crate::codec::{self, Limits};
use crate::transport::{HttpClient, Url};

/// Timing of one message exchange, for the load generator.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    pub latency: Duration,
    pub request_bytes: usize,
    pub response_bytes: usize,
}

/// Runs one whole session; `on_exchange` sees every message round trip.
pub async fn sync(
    http: &mut HttpClient,
    cfg: ClientConfig,
    url: &str,
    specs: Vec<DatastoreSpec>,
    state: &mut DeviceState,
    local: &mut (dyn LocalStore + Send),
    on_exchange: impl FnMut(Exchange) + Send,
) -> Result<Report, String> {
    sync_dumping(http, cfg, url, specs, state, local, on_exchange, None).await
}

/// [`sync`], writing every message sent and received as indented XML into `dump`
/// (`NNN-out.xml`, `NNN-in.xml`) when given.
#[allow(clippy::too_many_arguments)]
pub async fn sync_dumping(
    http: &mut HttpClient,
    cfg: ClientConfig,
    url: &str,
    specs: Vec<DatastoreSpec>,
    state: &mut DeviceState,
    local: &mut (dyn LocalStore + Send),
    mut on_exchange: impl FnMut(Exchange) + Send,
    dump: Option<&Path>,
) -> Result<Report, String> {
    let base = Url::parse(url).map_err(|e| e.to_string())?;
    let mut session = ClientSession::new(cfg, url, specs, state, unix_now());
    let encoding = session.encoding();
    let mut msg = session.first_message();
    let limits = Limits::default();
    let mut n = 0u32;
    let write_dump = |n: u32, dir: &str, msg: &crate::proto::Message| {
        if let Some(d) = dump {
            let doc = codec::Document::Message(msg.clone());
            if let Ok(xml) = codec::encode(&doc, codec::Encoding::Xml, true) {
                let _ = std::fs::create_dir_all(d);
                let _ = std::fs::write(d.join(format!("{n:03}-{dir}.xml")), xml);
            }
        }
    };
    loop {
        n += 1;
        write_dump(n, "out", &msg);
        let body = codec::encode_message(&msg, encoding).map_err(|e| format!("encoding our message: {e}"))?;
        let target = base.join(session.url()).map_err(|e| e.to_string())?;
        let request_bytes = body.len();
        let started = std::time::Instant::now();
        let response = http.post(&target, encoding.content_type(), body).await.map_err(|e| e.to_string())?;
        on_exchange(Exchange { latency: started.elapsed(), request_bytes, response_bytes: response.body.len() });
        if response.status != 200 {
            let text = String::from_utf8_lossy(&response.body);
            return Err(format!("HTTP {} from the server (message {n}): {}", response.status, text.trim()));
        }
        let (_, reply) =
            codec::decode_message(&response.body, &limits).map_err(|e| format!("undecodable answer: {e}"))?;
        write_dump(n, "in", &reply);
        match session.receive(reply, local).map_err(|e| e.to_string())? {
            Next::Send(next) => msg = *next,
            Next::Done => break,
        }
    }
    session.finish(state, local).map_err(|e| e.to_string())
}

/// Reads `state.json` of a device's state folder (a new device when there is none).
pub fn load_state(dir: &Path) -> Result<DeviceState, String> {
    match std::fs::read(dir.join("state.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", dir.join("state.json").display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DeviceState::default()),
        Err(e) => Err(format!("{}: {e}", dir.join("state.json").display())),
    }
}

/// Writes `state.json` (through a temporary file and a rename).
pub fn save_state(dir: &Path, state: &DeviceState) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
    write_atomic(&dir.join("state.json"), &text).map_err(|e| e.to_string())
}

/// Whether a report means success.
pub fn succeeded(report: &Report) -> bool {
    report.outcome == Outcome::Ok
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The system time in Unix milliseconds (for reports).
pub fn unix_now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
