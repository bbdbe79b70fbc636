//! One client session as a sans-IO state machine (PROTOCOL.md §3.1 from the device's side).
//!
//! ```text
//! first_message()  ──▶ package 1: SyncHdr (Cred), Put DevInf, Alert per datastore
//! receive(pkg 2)   ──▶ 401/407 + Chal: package 1 again with the credential for the nonce
//!                  ──▶ package 3: statuses, Sync per datastore (several messages if needed)
//! receive(pkg 4)   ──▶ statuses (+ Alert 222 while the server's package is not final)
//!                  ──▶ package 5: statuses and Map once it is final
//! receive(pkg 6)   ──▶ Done
//! ```
//!
//! The caller sends each message to [`ClientSession::url`] and feeds the decoded answer back;
//! [`ClientSession::finish`] then updates the device state (anchors and item digests) for a
//! successful or suspended session and returns the report. The session never reads a clock:
//! the caller passes `now` for the anchors.

use std::collections::{BTreeMap, HashMap, VecDeque};

use base64::Engine as _;

use crate::auth::{basic_credential, md5_credential};
use crate::client::incoming::InChunk;
use crate::client::local::LocalStore;
use crate::client::outgoing::{self, Change, OutChunk};
use crate::client::state::{item_digest, DatastoreState, DeviceState};
pub use crate::client::types::{
    AuthKind, ClientConfig, ClientError, DatastoreReport, DatastoreSpec, Next, Outcome, Report, SyncMode,
};
use crate::codec::{estimate, Encoding};
use crate::cpm::fields;
use crate::proto::{
    Alert, AlertCode, Anchor, CmdName, Command, Cred, CtCap, CtInfo, Data, DataStore, DevInf, Get, Header, Item, Map,
    MapItem, Message, Meta, Property, Put, Results, Source, Status, StatusCode, Target, Version,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Package 1 sent.
    Init,
    /// Sending package 3.
    Sending,
    /// Package 3 complete; receiving package 4.
    Receiving,
    /// Package 5 sent.
    Mapping,
    Done,
}

/// One datastore within the session.
#[derive(Debug)]
pub(crate) struct Ds {
    pub(crate) spec: DatastoreSpec,
    pub(crate) last_anchor: Option<String>,
    pub(crate) next_anchor: String,
    /// The Alert code sent (225 for a resume).
    pub(crate) alert_code: AlertCode,
    pub(crate) alert_ok: bool,
    /// The mode the server confirmed.
    pub(crate) mode: Option<SyncMode>,
    /// Changes still to send (computed once the mode is known).
    pub(crate) pending: VecDeque<Change>,
    pub(crate) changes_built: bool,
    pub(crate) sync_opened: bool,
    /// LUIDs whose change the server refused: not in step.
    pub(crate) failed: Vec<String>,
    /// Refresh from the server: the local items were removed.
    pub(crate) wiped: bool,
    /// GUID → LUID of items the server added this session (for parents and Map).
    pub(crate) added: HashMap<String, String>,
    pub(crate) maps: Vec<(String, String)>,
    pub(crate) report: DatastoreReport,
}

/// A client session.
#[derive(Debug)]
pub struct ClientSession {
    cfg: ClientConfig,
    url: String,
    sync_url: String,
    session_id: String,
    msg_id: u32,
    cmd_id: u32,
    phase: Phase,
    nonce: Option<Vec<u8>>,
    auth_retried: bool,
    /// The server's MaxMsgSize (our messages must fit) and MaxObjSize.
    server_max_msg: usize,
    server_max_obj: Option<u64>,
    pub(crate) ds: Vec<Ds>,
    /// Statuses (and Results) owed for the server's last message.
    owed: Vec<Command>,
    /// Our item commands awaiting a status: (MsgID, CmdID) → datastore and LUIDs.
    awaiting: HashMap<(u32, u32), (usize, Vec<String>)>,
    pub(crate) out_chunk: Option<OutChunk>,
    pub(crate) in_chunk: Option<InChunk>,
    /// The server's MaxMsgSize as of now is known (after its first reply).
    new_nonce: Option<String>,
    suspend_sent: bool,
    suspended: bool,
    failure: Option<String>,
    /// Per datastore, the item digests and parents of the last sync (the state's, for change
    /// detection).
    synced: BTreeMap<String, DatastoreState>,
    /// The server's field-level content types (state; fetched with a Get of its DevInf when
    /// unknown for one of this session's datastores).
    server_field_level: Option<Vec<String>>,
    fetch_server_devinf: bool,
}

impl ClientSession {
    /// A session of the device in `state` against `url`, starting at time `now` (Unix seconds,
    /// for the Next anchors).
    pub fn new(cfg: ClientConfig, url: &str, specs: Vec<DatastoreSpec>, state: &mut DeviceState, now: i64) -> Self {
        state.session_counter += 1;
        let nonce = state.nonce.as_deref().and_then(|n| base64::engine::general_purpose::STANDARD.decode(n).ok());
        let specs_names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let ds = specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| {
                let saved = state.datastores.get(&spec.name).cloned().unwrap_or_default();
                let resume = spec.resume && saved.suspended_mode.is_some();
                Ds {
                    last_anchor: saved.last_anchor.clone(),
                    next_anchor: format!("{now}{i}"),
                    alert_code: if resume { AlertCode::Resume } else { spec.mode.alert_code() },
                    alert_ok: false,
                    mode: None,
                    pending: VecDeque::new(),
                    changes_built: false,
                    sync_opened: false,
                    failed: Vec::new(),
                    wiped: false,
                    added: HashMap::new(),
                    maps: Vec::new(),
                    report: DatastoreReport { name: spec.name.clone(), ..Default::default() },
                    spec,
                }
            })
            .collect();
        ClientSession {
            url: url.to_string(),
            sync_url: url.to_string(),
            session_id: state.session_counter.to_string(),
            msg_id: 0,
            cmd_id: 0,
            phase: Phase::Init,
            nonce,
            auth_retried: false,
            server_max_msg: 64_000,
            server_max_obj: None,
            ds,
            owed: Vec::new(),
            awaiting: HashMap::new(),
            out_chunk: None,
            in_chunk: None,
            new_nonce: None,
            suspend_sent: false,
            suspended: false,
            failure: None,
            synced: state.datastores.clone(),
            server_field_level: state.server_field_level.clone(),
            fetch_server_devinf: state.server_field_level.is_none()
                || specs_names.iter().any(|n| !state.server_devinf_for.contains(n)),
            cfg,
        }
    }

    /// Where to send the next message (the server's RespURI once it gave one).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The encoding of the device's messages.
    pub fn encoding(&self) -> Encoding {
        self.cfg.encoding
    }

    /// Package 1: credentials, DevInf, one Alert per datastore.
    pub fn first_message(&mut self) -> Message {
        let mut msg = self.new_message(true);
        if self.cfg.send_devinf {
            let put = Command::Put(Put {
                meta: Some(Meta::with_type(self.cfg.encoding.devinf_type())),
                items: vec![Item {
                    source: Some(Source::uri(Version::V1_2.devinf_uri())),
                    data: Some(Data::DevInf(Box::new(self.devinf()))),
                    ..Default::default()
                }],
                ..Default::default()
            });
            self.push(&mut msg, put);
        }
        if self.fetch_server_devinf {
            // What the server takes (field-level Replace): its DevInf, once.
            let get = Command::Get(Get {
                meta: Some(Meta::with_type(self.cfg.encoding.devinf_type())),
                items: vec![Item { target: Some(Target::uri(Version::V1_2.devinf_uri())), ..Default::default() }],
                ..Default::default()
            });
            self.push(&mut msg, get);
        }
        for i in 0..self.ds.len() {
            let ds = &self.ds[i];
            let alert = Command::Alert(Alert {
                cmd_id: 0,
                no_resp: false,
                cred: None,
                data: Some(ds.alert_code),
                correlator: None,
                items: vec![Item {
                    target: Some(Target::uri(&ds.spec.name)),
                    source: Some(Source::uri(&ds.spec.local_uri)),
                    meta: Some(Meta {
                        anchor: Some(Anchor { last: ds.last_anchor.clone(), next: Some(ds.next_anchor.clone()) }),
                        max_obj_size: Some(self.cfg.max_obj_size),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
            });
            self.push(&mut msg, alert);
        }
        msg.final_ = true;
        msg
    }

    /// Consumes the server's answer to our last message; `local` is changed by the server's
    /// Sync. Returns the next message to send, or that the session is over.
    pub fn receive(&mut self, reply: Message, local: &mut dyn LocalStore) -> Result<Next, ClientError> {
        if let Some(uri) = reply.header.resp_uri.as_deref().filter(|u| !u.is_empty()) {
            self.url = uri.to_string();
        }
        if let Some(meta) = &reply.header.meta {
            if let Some(max) = meta.max_msg_size {
                self.server_max_msg = usize::try_from(max).unwrap_or(usize::MAX).max(2048);
            }
            if meta.max_obj_size.is_some() {
                self.server_max_obj = meta.max_obj_size;
            }
        }
        let statuses: Vec<&Status> = reply
            .body
            .iter()
            .filter_map(|c| match c {
                Command::Status(s) => Some(s),
                _ => None,
            })
            .collect();
        // The SyncHdr status: authentication.
        if let Some(hdr) = statuses.iter().find(|s| s.cmd == CmdName::SyncHdr && s.cmd_ref == 0) {
            if let Some(next) = hdr.chal.as_ref().and_then(|c| c.meta.next_nonce.clone()) {
                self.nonce = base64::engine::general_purpose::STANDARD.decode(&next).ok();
                self.new_nonce = Some(next);
            }
            let code = hdr.data.code();
            if matches!(code, 401 | 407) {
                if self.phase == Phase::Init && !self.auth_retried && hdr.chal.is_some() {
                    self.auth_retried = true;
                    if let Some(t) = hdr.chal.as_ref().and_then(|c| c.meta.type_.as_deref()) {
                        if t.eq_ignore_ascii_case("syncml:auth-basic") {
                            self.cfg.auth = AuthKind::Basic;
                        } else if t.eq_ignore_ascii_case("syncml:auth-md5") {
                            self.cfg.auth = AuthKind::Md5;
                        }
                    }
                    return Ok(Next::Send(Box::new(self.first_message())));
                }
                return self.fail(format!("authentication refused ({code})"));
            }
            if !(200..300).contains(&code) {
                return self.fail(format!("the server refused the message ({code})"));
            }
        }
        for st in &statuses {
            self.status(st);
        }
        let server_final = reply.final_;
        // Whether the server's message has anything but statuses (then it must be answered).
        let answer_needed = reply.body.iter().any(|c| !matches!(c, Command::Status(_)));
        let msg_ref = reply.header.msg_id;
        self.owe(Status {
            cmd_id: 0,
            msg_ref: Some(msg_ref),
            cmd_ref: 0,
            cmd: CmdName::SyncHdr,
            target_refs: vec![reply.header.target.loc_uri.clone()],
            source_refs: vec![reply.header.source.loc_uri.clone()],
            cred: None,
            chal: None,
            data: StatusCode::Ok,
            items: vec![],
        });
        let mut server_suspends = false;
        for cmd in &reply.body {
            match cmd {
                Command::Status(_) => {}
                Command::Alert(a) => server_suspends |= self.server_alert(msg_ref, a),
                Command::Sync(sync) => self.server_sync(msg_ref, sync, local)?,
                Command::Get(g) => {
                    self.owe_code(msg_ref, g.cmd_id, CmdName::Get, StatusCode::Ok);
                    let results = Command::Results(Results {
                        cmd_id: 0,
                        msg_ref: Some(msg_ref),
                        cmd_ref: g.cmd_id,
                        meta: Some(Meta::with_type(self.cfg.encoding.devinf_type())),
                        target_ref: None,
                        source_ref: Some(Version::V1_2.devinf_uri().to_string()),
                        items: vec![Item {
                            source: Some(Source::uri(Version::V1_2.devinf_uri())),
                            data: Some(Data::DevInf(Box::new(self.devinf()))),
                            ..Default::default()
                        }],
                    });
                    self.owed.push(results);
                }
                Command::Results(res) => {
                    self.owe_code(msg_ref, res.cmd_id, CmdName::Results, StatusCode::Ok);
                    if let Some(di) = res.items.iter().find_map(|i| match &i.data {
                        Some(Data::DevInf(d)) => Some(d),
                        _ => None,
                    }) {
                        let mut types = self.server_field_level.take().unwrap_or_default();
                        for t in outgoing::field_level_types(di) {
                            if !types.contains(&t) {
                                types.push(t);
                            }
                        }
                        self.server_field_level = Some(types);
                        self.fetch_server_devinf = false;
                    }
                }
                other => {
                    self.owe_code(msg_ref, other.cmd_id(), other.name(), StatusCode::Ok);
                }
            }
        }
        if let Some(reason) = self.failure.clone() {
            return self.fail(reason);
        }
        if server_suspends {
            // Answer its Alert 224 with one more message; its reply ends the session.
            self.suspended = true;
            self.phase = Phase::Done;
            let mut msg = self.new_message(false);
            self.flush_owed(&mut msg);
            self.push_maps(&mut msg);
            msg.final_ = true;
            return Ok(Next::Send(Box::new(msg)));
        }
        if self.suspend_sent {
            self.suspended = true;
            self.phase = Phase::Done;
            return Ok(Next::Done);
        }
        match self.phase {
            Phase::Init => {
                if self.ds.iter().all(|d| !d.alert_ok) {
                    return self.fail("the server accepted none of the datastores".into());
                }
                self.phase = Phase::Sending;
                self.build_changes(local)?;
                Ok(Next::Send(Box::new(self.package3())))
            }
            Phase::Sending => Ok(Next::Send(Box::new(self.package3()))),
            Phase::Receiving if !server_final => Ok(Next::Send(Box::new(self.statuses_only(true)))),
            Phase::Receiving if !answer_needed && self.ds.iter().all(|d| d.maps.is_empty()) => {
                // A final package 4 of statuses only (e.g. after a one-way sync from the
                // client): nothing to answer, no Map to send; the session is complete.
                self.wipe_for_refresh(local)?;
                self.owed.clear();
                self.phase = Phase::Done;
                Ok(Next::Done)
            }
            Phase::Receiving => {
                self.wipe_for_refresh(local)?;
                self.phase = Phase::Mapping;
                let mut msg = self.new_message(false);
                self.flush_owed(&mut msg);
                self.push_maps(&mut msg);
                msg.final_ = true;
                self.maybe_suspend(&mut msg);
                Ok(Next::Send(Box::new(msg)))
            }
            Phase::Mapping if !server_final => Ok(Next::Send(Box::new(self.statuses_only(true)))),
            Phase::Mapping | Phase::Done => {
                self.phase = Phase::Done;
                Ok(Next::Done)
            }
        }
    }

    /// Ends the session: on success (or suspend) the device state takes the new anchors and the
    /// digests of the items now in step; the report says what happened.
    pub fn finish(mut self, state: &mut DeviceState, local: &dyn LocalStore) -> Result<Report, ClientError> {
        let outcome = match (&self.failure, self.suspended, self.phase) {
            (Some(reason), _, _) => Outcome::Failed(reason.clone()),
            (None, true, _) => Outcome::Suspended,
            (None, false, Phase::Done) => Outcome::Ok,
            (None, false, _) => Outcome::Failed("the session ended early".into()),
        };
        if let Some(n) = self.new_nonce.take() {
            state.nonce = Some(n);
        }
        if self.server_field_level.is_some() && !self.fetch_server_devinf {
            state.server_field_level = self.server_field_level.clone();
            for d in &self.ds {
                if !state.server_devinf_for.contains(&d.spec.name) {
                    state.server_devinf_for.push(d.spec.name.clone());
                }
            }
        }
        if outcome != Outcome::Ok && outcome != Outcome::Suspended {
            return Ok(self.report(outcome));
        }
        for ds in &self.ds {
            if !ds.alert_ok {
                continue;
            }
            let saved = state.datastores.entry(ds.spec.name.clone()).or_default();
            let mut synced = BTreeMap::new();
            let mut parents = BTreeMap::new();
            let mut bodies = BTreeMap::new();
            for item in local.items(&ds.spec.name)? {
                if let Some(p) = item.parent {
                    parents.insert(item.luid.clone(), p);
                }
                if let Some(b) = fields::body_digest(&item.content_type, &item.data) {
                    bodies.insert(item.luid.clone(), b);
                }
                synced.insert(item.luid, item_digest(&item.content_type, &item.data));
            }
            // What the server refused, or never got, stays a change for next time.
            let unsent: Vec<&String> =
                ds.failed.iter().chain(ds.pending.iter().map(|c| &c.luid)).chain(self.chunk_luid(ds)).collect();
            for luid in unsent {
                match saved.synced.get(luid) {
                    Some(old) => synced.insert(luid.clone(), old.clone()),
                    None => synced.remove(luid),
                };
                match saved.parents.get(luid) {
                    Some(old) => parents.insert(luid.clone(), old.clone()),
                    None => parents.remove(luid),
                };
                match saved.bodies.get(luid) {
                    Some(old) => bodies.insert(luid.clone(), old.clone()),
                    None => bodies.remove(luid),
                };
            }
            for change in &ds.pending {
                if change.kind == outgoing::Kind::Delete {
                    if let Some(old) = saved.synced.get(&change.luid) {
                        synced.insert(change.luid.clone(), old.clone());
                    }
                }
            }
            saved.synced = synced;
            saved.parents = parents;
            saved.bodies = bodies;
            if outcome == Outcome::Ok {
                saved.last_anchor = Some(ds.next_anchor.clone());
                saved.suspended_mode = None;
            } else {
                saved.suspended_mode = Some(ds.mode.unwrap_or(ds.spec.mode).alert_code().code());
            }
        }
        Ok(self.report(outcome))
    }

    fn chunk_luid<'a>(&'a self, ds: &Ds) -> Option<&'a String> {
        self.out_chunk.as_ref().filter(|c| c.datastore == ds.spec.name).map(|c| &c.luid)
    }

    fn report(self, outcome: Outcome) -> Report {
        Report { outcome, datastores: self.ds.into_iter().map(|d| d.report).collect(), messages: self.msg_id }
    }

    fn fail(&mut self, reason: String) -> Result<Next, ClientError> {
        self.failure.get_or_insert(reason);
        self.phase = Phase::Done;
        Ok(Next::Done)
    }

    /// A status the server sent for one of our commands.
    fn status(&mut self, st: &Status) {
        let code = st.data.code();
        let msg_ref = st.msg_ref.unwrap_or(self.msg_id);
        match st.cmd {
            CmdName::Alert => {
                let target = st.target_refs.first().map(String::as_str);
                if let Some(ds) = self.ds.iter_mut().find(|d| target == Some(d.spec.name.as_str())) {
                    ds.report.alert_status = Some(code);
                    ds.alert_ok = st.data.is_success() || matches!(code, 508 | 509);
                    if code == 508 {
                        // The server wants a slow sync (its own Alert says so too).
                        ds.mode = Some(SyncMode::Slow);
                    }
                }
            }
            CmdName::Add | CmdName::Replace | CmdName::Delete | CmdName::Move => {
                if code == 213 {
                    self.chunk_accepted(msg_ref, st.cmd_ref);
                    return;
                }
                if self.out_chunk.as_ref().is_some_and(|c| c.awaiting == Some((msg_ref, st.cmd_ref))) {
                    // A refused chunk: the object is abandoned.
                    if let Some(c) = self.out_chunk.take() {
                        if let Some(ds) = self.ds.iter_mut().find(|d| d.spec.name == c.datastore) {
                            ds.failed.push(c.luid);
                            ds.report.sent_failed += 1;
                        }
                    }
                }
                let Some((di, luids)) = self.awaiting.get(&(msg_ref, st.cmd_ref)).cloned() else { return };
                let refs: Vec<String> = if st.source_refs.is_empty() && st.target_refs.is_empty() {
                    luids
                } else {
                    st.source_refs.iter().chain(&st.target_refs).cloned().collect()
                };
                let ds = &mut self.ds[di];
                *ds.report.item_statuses.entry(code).or_default() += refs.len() as u32;
                if !st.data.is_success() {
                    ds.report.sent_failed += refs.len() as u32;
                    ds.failed.extend(refs);
                }
            }
            _ => {}
        }
    }

    /// A server Alert: the mode of a datastore (package 2), 222, or 224 (returns true).
    fn server_alert(&mut self, msg_ref: u32, a: &Alert) -> bool {
        let code = a.data.unwrap_or(AlertCode::Display);
        let mut status = Status {
            cmd_id: 0,
            msg_ref: Some(msg_ref),
            cmd_ref: a.cmd_id,
            cmd: CmdName::Alert,
            target_refs: vec![],
            source_refs: vec![],
            cred: None,
            chal: None,
            data: StatusCode::Ok,
            items: vec![],
        };
        if let Some(mode) = SyncMode::from_alert(code) {
            let item = a.items.first();
            let target = item.and_then(|i| i.target.as_ref()).map(|t| t.loc_uri.clone()).unwrap_or_default();
            let source = item.and_then(|i| i.source.as_ref()).map(|s| s.loc_uri.clone()).unwrap_or_default();
            status.target_refs = vec![target.clone()];
            status.source_refs = vec![source.clone()];
            let found = self.ds.iter_mut().find(|d| d.spec.local_uri == target || d.spec.name == source);
            match found {
                Some(ds) => {
                    ds.mode = Some(mode);
                    ds.report.mode = Some(mode);
                    ds.alert_ok = true;
                    let next =
                        item.and_then(|i| i.meta.as_ref()).and_then(|m| m.anchor.as_ref()).and_then(|a| a.next.clone());
                    status.items =
                        vec![Item { data: Some(Data::Anchor(Anchor { last: None, next })), ..Default::default() }];
                }
                None => status.data = StatusCode::NotFound,
            }
        }
        self.owed.push(Command::Status(status));
        code == AlertCode::Suspend
    }

    fn owe(&mut self, st: Status) {
        self.owed.push(Command::Status(st));
    }

    pub(crate) fn owe_code(&mut self, msg_ref: u32, cmd_ref: u32, cmd: CmdName, code: StatusCode) -> &mut Status {
        self.owed.push(Command::Status(Status {
            cmd_id: 0,
            msg_ref: Some(msg_ref),
            cmd_ref,
            cmd,
            target_refs: vec![],
            source_refs: vec![],
            cred: None,
            chal: None,
            data: code,
            items: vec![],
        }));
        match self.owed.last_mut() {
            Some(Command::Status(s)) => s,
            // Invariant: a Status was pushed just above.
            _ => unreachable!("a status was just pushed"),
        }
    }

    /// A message with only the statuses we owe (and Alert 222 when asked: "send more").
    fn statuses_only(&mut self, next_message: bool) -> Message {
        let mut msg = self.new_message(false);
        self.flush_owed(&mut msg);
        if next_message {
            let alert = Command::Alert(Alert {
                cmd_id: 0,
                no_resp: false,
                cred: None,
                data: Some(AlertCode::NextMessage),
                correlator: None,
                items: vec![Item {
                    target: Some(Target::uri(&self.sync_url)),
                    source: Some(Source::uri(&self.cfg.device_id)),
                    ..Default::default()
                }],
            });
            self.push(&mut msg, alert);
        }
        msg.final_ = true;
        self.maybe_suspend(&mut msg);
        msg
    }

    /// Package 3 (or its next message): statuses, then as many changes as fit.
    fn package3(&mut self) -> Message {
        let mut msg = self.new_message(false);
        self.flush_owed(&mut msg);
        let budget = self.server_max_msg.saturating_sub(self.server_max_msg / 10 + 1024);
        let complete = outgoing::pack(self, &mut msg, budget);
        if complete {
            self.phase = Phase::Receiving;
            msg.final_ = true;
        }
        self.maybe_suspend(&mut msg);
        msg
    }

    fn maybe_suspend(&mut self, msg: &mut Message) {
        if self.suspend_sent || self.cfg.suspend_after.is_none_or(|n| self.msg_id < n) {
            return;
        }
        self.push_maps(msg);
        let alert = Command::Alert(Alert {
            cmd_id: 0,
            no_resp: false,
            cred: None,
            data: Some(AlertCode::Suspend),
            correlator: None,
            items: vec![Item {
                target: Some(Target::uri(&self.sync_url)),
                source: Some(Source::uri(&self.cfg.device_id)),
                ..Default::default()
            }],
        });
        self.push(msg, alert);
        msg.final_ = true;
        self.suspend_sent = true;
    }

    fn push_maps(&mut self, msg: &mut Message) {
        for i in 0..self.ds.len() {
            let maps = std::mem::take(&mut self.ds[i].maps);
            if maps.is_empty() {
                continue;
            }
            let map = Command::Map(Map {
                cmd_id: 0,
                target: Target::uri(&self.ds[i].spec.name),
                source: Source::uri(&self.ds[i].spec.local_uri),
                cred: None,
                meta: None,
                items: maps
                    .into_iter()
                    .map(|(luid, guid)| MapItem { target: Target::uri(guid), source: Source::uri(luid) })
                    .collect(),
            });
            self.push(msg, map);
        }
    }

    fn flush_owed(&mut self, msg: &mut Message) {
        for cmd in std::mem::take(&mut self.owed) {
            self.push(msg, cmd);
        }
    }

    /// A new message of the session; the first of a session (or an auth retry) carries Cred.
    fn new_message(&mut self, with_cred: bool) -> Message {
        self.msg_id += 1;
        self.cmd_id = 0;
        let cred = with_cred.then(|| self.cred()).flatten().map(Box::new);
        Message {
            version: Version::V1_2,
            header: Header {
                ver_dtd: Version::V1_2.ver_dtd().into(),
                ver_proto: Version::V1_2.ver_proto().into(),
                session_id: self.session_id.clone(),
                msg_id: self.msg_id,
                target: Target::uri(&self.sync_url),
                source: Source { loc_uri: self.cfg.device_id.clone(), loc_name: Some(self.cfg.user.clone()) },
                cred,
                meta: Some(Meta {
                    max_msg_size: Some(self.cfg.max_msg_size),
                    max_obj_size: Some(self.cfg.max_obj_size),
                    ..Default::default()
                }),
                ..Default::default()
            },
            body: Vec::new(),
            final_: false,
        }
    }

    fn cred(&self) -> Option<Cred> {
        let (kind, data) = match (self.cfg.auth, &self.nonce) {
            (AuthKind::Md5, Some(nonce)) => {
                ("syncml:auth-md5", md5_credential(&self.cfg.user, &self.cfg.password, nonce))
            }
            // MD5 without a nonce yet: no credential; the server's challenge brings one.
            (AuthKind::Md5, None) => return None,
            (AuthKind::Basic, _) => ("syncml:auth-basic", basic_credential(&self.cfg.user, &self.cfg.password)),
        };
        Some(Cred {
            meta: Some(Meta { type_: Some(kind.into()), format: Some("b64".into()), ..Default::default() }),
            data: data.into_bytes(),
        })
    }

    /// Appends a command with the next CmdID (and the children of a Sync).
    pub(crate) fn push(&mut self, msg: &mut Message, mut cmd: Command) -> u32 {
        self.cmd_id += 1;
        let id = self.cmd_id;
        cmd.set_cmd_id(id);
        if let Command::Sync(sync) = &mut cmd {
            for child in &mut sync.commands {
                self.cmd_id += 1;
                child.set_cmd_id(self.cmd_id);
            }
        }
        msg.body.push(cmd);
        id
    }

    /// Remembers that the item commands of a Sync just pushed await statuses.
    pub(crate) fn expect_statuses(&mut self, ds: usize, cmd_id: u32, luids: Vec<String>) {
        self.awaiting.insert((self.msg_id, cmd_id), (ds, luids));
    }

    pub(crate) fn current_msg_id(&self) -> u32 {
        self.msg_id
    }

    pub(crate) fn server_max_obj(&self) -> Option<u64> {
        self.server_max_obj
    }

    pub(crate) fn body_size(msg: &Message) -> usize {
        msg.body.iter().map(estimate).sum::<usize>() + 600
    }

    /// The change set of every datastore, now that the server's modes are known.
    fn build_changes(&mut self, local: &dyn LocalStore) -> Result<(), ClientError> {
        for i in 0..self.ds.len() {
            let ds = &self.ds[i];
            if !ds.alert_ok || ds.changes_built {
                continue;
            }
            let mode = ds.mode.unwrap_or(ds.spec.mode);
            let pending = if mode.sends() {
                let saved = self.synced.get(&ds.spec.name).cloned().unwrap_or_default();
                let field_level = self.server_field_level.as_deref().unwrap_or_default();
                outgoing::changes(mode, local.items(&ds.spec.name)?, &saved, field_level)
            } else {
                VecDeque::new()
            };
            let ds = &mut self.ds[i];
            ds.changes_built = true;
            ds.pending = pending;
        }
        Ok(())
    }

    fn devinf(&self) -> DevInf {
        DevInf {
            ver_dtd: "1.2".into(),
            man: Some("syncgate".into()),
            mod_: Some("syncgate client".into()),
            oem: None,
            fw_v: None,
            sw_v: Some(env!("CARGO_PKG_VERSION").into()),
            hw_v: None,
            dev_id: self.cfg.device_id.clone(),
            dev_typ: "workstation".into(),
            utc: true,
            support_large_objs: true,
            support_number_of_changes: true,
            data_stores: self
                .ds
                .iter()
                .map(|d| {
                    let ct = CtInfo { ct_type: d.spec.content_type.clone(), ver_ct: String::new() };
                    // Field-level Replaces are welcome for types that have fields.
                    let ct_caps = fields::supports(&d.spec.content_type)
                        .then(|| CtCap {
                            ct_type: d.spec.content_type.clone(),
                            ver_ct: Some("1.2".into()),
                            field_level: true,
                            properties: fields::EMAIL_FIELDS
                                .iter()
                                .map(|n| Property { prop_name: (*n).into(), ..Default::default() })
                                .collect(),
                        })
                        .into_iter()
                        .collect();
                    DataStore {
                        ct_caps,
                        source_ref: d.spec.local_uri.clone(),
                        display_name: Some(d.spec.name.clone()),
                        max_guid_size: Some(64),
                        rx_pref: Some(ct.clone()),
                        tx_pref: Some(ct),
                        sync_cap: (1..=7).map(|n: u8| n.to_string()).collect(),
                        ..Default::default()
                    }
                })
                .collect(),
            ct_caps: Vec::new(),
            exts: Vec::new(),
        }
    }
}
