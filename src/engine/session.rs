//! One session: its state between messages and the dispatch of each incoming message
//! (PROTOCOL.md §3.1 packages 1–6).

use std::collections::{HashMap, HashSet, VecDeque};

use crate::codec::Encoding;
use crate::engine::auth::{authenticate, AuthOutcome};
use crate::engine::quirks::{DeviceIdentity, Quirks};
use crate::engine::reply::ReplyBuilder;
use crate::engine::server_sync::OutRef;
use crate::engine::stats::{Flow, SessionStats};
use crate::engine::{devinf, fields, Context, Engine, Reply};
use crate::proto::{
    Alert, AlertCode, CmdName, Command, Data, Item, Message, Meta, Source, StatusCode, Target, Version,
};
use crate::store::{Commit, DeviceRecord, StoreError, SyncAnchor, User};

/// Where the session is in the package sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Receiving package 1 (alerts, DevInf).
    #[default]
    Init,
    /// Receiving package 3 (the client's changes).
    ClientSync,
    /// Sending package 4 (the server's changes), possibly over several messages.
    ServerSync,
    /// Receiving package 5 (statuses and maps).
    Map,
    /// Finished.
    Done,
}

/// Sync direction negotiated for a datastore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Direction {
    TwoWay,
    FromClient,
    FromServer,
}

/// The state of one datastore in a session.
#[derive(Debug)]
pub(crate) struct DsState {
    /// Server-side datastore name (configuration).
    pub(crate) name: String,
    /// The client's datastore URI (its Alert's Source).
    pub(crate) client_uri: String,
    /// The string the client alerted as Target (echoed in DevInf and our Alert).
    pub(crate) alert_target: String,
    pub(crate) direction: Direction,
    /// Slow sync (two-way) or refresh (one-way).
    pub(crate) slow: bool,
    pub(crate) client_next: String,
    pub(crate) server_next: String,
    pub(crate) anchor: Option<SyncAnchor>,
    /// LUID → GUID and back, as stored plus this session's changes.
    pub(crate) map: HashMap<String, String>,
    pub(crate) rev: HashMap<String, String>,
    /// Items the client sent in this session (refresh from client deletes the others).
    pub(crate) touched: HashSet<String>,
    /// Items the server changed since the last sync (conflict detection; server wins).
    pub(crate) server_changed: Option<HashSet<String>>,
    /// Unmatched stored items by digest of their content key, built at the first slow-sync item.
    pub(crate) slow_index: Option<HashMap<[u8; 16], Vec<String>>>,
    /// Store sequence number the server's change set was computed at.
    pub(crate) snapshot_seq: u64,
    /// Server changes not yet sent (references: the content is read when a message is packed),
    /// the next one already built, and whether this datastore's Sync was sent at all.
    pub(crate) outgoing: VecDeque<OutRef>,
    pub(crate) front: Option<(OutRef, Command, Option<crate::engine::out_chunk::StoredBody>)>,
    /// The client's record filter for this session (filters.rs): the device's sync set.
    pub(crate) filter: Option<crate::engine::filters::ActiveFilter>,
    /// How items travel to the device: its field filter within the operator's limits.
    pub(crate) shape: crate::cpm::shape::Shape,
    /// What the session does because the filter changed since the last one (filters.rs).
    pub(crate) resync: crate::engine::filters::Resync,
    pub(crate) sync_sent: bool,
    pub(crate) number_of_changes: u32,
    /// GUIDs sent as Add this session, waiting for the client's Map.
    pub(crate) awaiting_map: HashSet<String>,
    /// The client's Last anchor in its Alert (a resume must present it again).
    pub(crate) client_last: Option<String>,
    /// Server changes sent and not yet acknowledged: (MsgID, CmdID, reference) (resume.rs).
    pub(crate) sent: Vec<(u32, u32, OutRef)>,
    /// The saved state of the interrupted session this one resumes (Alert 225).
    pub(crate) resumed: Option<crate::engine::resume::SuspendedDs>,
}

/// A large object being received in chunks; the chunks are staged in the store under `key`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Chunk {
    pub(crate) datastore: String,
    pub(crate) luid: String,
    /// Add, Replace or Copy, as text.
    pub(crate) cmd: String,
    pub(crate) content_type: Option<String>,
    pub(crate) declared: Option<u64>,
    /// The store's staging key (datastore and LUID).
    pub(crate) key: String,
    /// Bytes received (and staged) so far.
    pub(crate) received: u64,
    /// Length of the last chunk, to recognise its repetition after a resume.
    pub(crate) last_len: u64,
    /// Restored from a suspended session and not yet continued.
    #[serde(default)]
    pub(crate) resumed: bool,
}

/// The state of one session between messages. Created by [`Engine::new_session`].
#[derive(Debug, Default)]
pub struct Session {
    pub(crate) user: Option<User>,
    pub(crate) user_name: Option<String>,
    pub(crate) device: Option<String>,
    pub(crate) version: Version,
    pub(crate) server_msg_id: u32,
    pub(crate) phase: Phase,
    pub(crate) datastores: Vec<DsState>,
    pub(crate) max_msg_size: usize,
    pub(crate) max_obj_size: Option<u64>,
    /// Server Alerts and other commands to send after this message's statuses.
    pub(crate) pending_alerts: Vec<Command>,
    pub(crate) chunk: Option<Chunk>,
    /// The server's large object being sent in chunks (server_sync.rs).
    pub(crate) out_chunk: Option<crate::engine::out_chunk::OutChunk>,
    /// The device's quirk switches, resolved once after authentication.
    pub(crate) quirks: Quirks,
    pub(crate) quirks_resolved: bool,
    /// Content types the device takes field-level Replaces for (from its DevInf; fields.rs).
    pub(crate) field_level_types: Vec<String>,
    /// The device's class (DevInf DevTyp), for the operator's limits.
    pub(crate) dev_typ: Option<String>,
    /// Makes links to whole objects for items sent reduced (set at the first sync Alert).
    pub(crate) links: Option<crate::engine::filters::Links>,
    /// The client sent Alert 224: the session ends after this message (resume.rs).
    pub(crate) suspend_requested: bool,
    /// We sent Alert 224 (the gateway is stopping): the client's next message ends the session.
    pub(crate) server_suspended: bool,
    /// Statuses other than success sent in this session ("Sync 503" → count), for the summary.
    pub(crate) refusals: std::collections::BTreeMap<String, u32>,
    /// What the session did, for metrics and the operator console (stats.rs).
    pub(crate) stats: crate::engine::stats::SessionStats,
}

impl Session {
    /// The authenticated user, once known (for logs).
    pub fn user(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.name.as_str()).or(self.user_name.as_deref())
    }

    /// The device id (SyncHdr Source LocURI), once known (for logs).
    pub fn device(&self) -> Option<&str> {
        self.device.as_deref()
    }

    /// The device quirks in force (defaults until the device is identified).
    pub fn quirks(&self) -> &Quirks {
        &self.quirks
    }

    /// The configured names of the datastores the session syncs (known after its alerts).
    pub fn datastore_names(&self) -> Vec<&str> {
        self.datastores.iter().map(|d| d.name.as_str()).collect()
    }

    /// What the session did so far; [`SessionStats::outcome`] is set once it ended.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Every status other than a success sent so far ("Add 415" → how many).
    pub fn refusals(&self) -> &std::collections::BTreeMap<String, u32> {
        &self.refusals
    }
}

/// "Sync 503" seen twice → "Sync 503 (service unavailable) x2".
fn refusal_text(key: &str, times: u32) -> String {
    let code = crate::engine::stats::code_of(key);
    let mut meaning = String::new();
    for (i, c) in StatusCode::from(code).name().chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            meaning.push(' ');
        }
        meaning.push(c.to_ascii_lowercase());
    }
    if times > 1 {
        format!("{key} ({meaning}) x{times}")
    } else {
        format!("{key} ({meaning})")
    }
}

impl Engine {
    /// Handles one incoming message of `session` and produces the reply.
    pub fn handle(&self, session: &mut Session, msg: Message, ctx: &Context) -> Reply {
        let stats = &mut session.stats;
        stats.messages += 1;
        if stats.messages == 1 {
            stats.started = ctx.now;
        }
        stats.last = ctx.now;
        stats.count(&msg.body, Flow::FromClient, &session.datastores);
        let reply = self.handle_message(session, msg, ctx);
        session.stats.count(&reply.message.body, Flow::ToClient, &session.datastores);
        // Every status other than a success, for the session's summary line.
        for cmd in &reply.message.body {
            if let Command::Status(st) = cmd {
                let code = st.data.code();
                if code >= 300 {
                    *session.refusals.entry(format!("{:?} {code}", st.cmd)).or_insert(0) += 1;
                }
            }
        }
        if reply.finished {
            session.stats.note_modes(&session.datastores);
            let suspended = session.suspend_requested || session.server_suspended;
            let outcome = session.stats.finish(&session.refusals, suspended).as_str();
            // One line an operator can grep: who, which datastores, and what was refused.
            let refused: Vec<String> = session.refusals.iter().map(|(k, n)| refusal_text(k, *n)).collect();
            let datastores: Vec<&str> = session.datastores.iter().map(|d| d.name.as_str()).collect();
            let user = session.user();
            let device = session.device.as_deref().unwrap_or("?");
            let mode = session.stats.mode();
            match outcome {
                // A slow sync's "Alert 508" is no refusal: listed, at INFO.
                "ok" if refused.is_empty() => {
                    tracing::info!(user, device, ?datastores, mode, outcome, "session ended: ok")
                }
                "ok" => {
                    tracing::info!(user, device, ?datastores, mode, outcome, statuses = %refused.join(", "), "session ended: ok")
                }
                // The normal first round of a first login: the device comes back with credentials.
                "challenged" => {
                    tracing::info!(user, device, outcome, refused = %refused.join(", "), "session ended: credentials requested")
                }
                _ => {
                    tracing::warn!(user, device, ?datastores, mode, outcome, refused = %refused.join(", "), "session ended with refusals")
                }
            }
        }
        if reply.finished {
            // The transport keeps a finished session a while (resends of its last message get
            // the cached reply); its maps and change sets are not needed for that.
            session.datastores = Vec::new();
            session.chunk = None;
            session.out_chunk = None;
            session.pending_alerts = Vec::new();
        }
        reply
    }

    fn handle_message(&self, session: &mut Session, msg: Message, ctx: &Context) -> Reply {
        let s = session;
        s.server_msg_id += 1;
        if s.device.is_none() {
            s.device = Some(msg.header.source.loc_uri.clone());
            s.version = msg.version;
        }
        let mut r = ReplyBuilder::new(&msg.header, s.version, s.server_msg_id, Some(&ctx.resp_uri));

        // Versions: 513 for an unknown protocol, 505 for a DTD that does not match it.
        if !matches!(msg.header.ver_proto.trim(), "SyncML/1.0" | "SyncML/1.1" | "SyncML/1.2") {
            tracing::warn!(ver_proto = %msg.header.ver_proto, "unsupported protocol version: 513");
            r.header_status(&msg.header, StatusCode::ProtocolVersionNotSupported, None);
            return self.end(s, r, ctx.encoding);
        }
        if msg.header.ver_dtd.trim() != msg.version.ver_dtd() {
            tracing::warn!(ver_dtd = %msg.header.ver_dtd, "VerDTD does not match the document: 505");
            r.header_status(&msg.header, StatusCode::DtdVersionNotSupported, None);
            return self.end(s, r, ctx.encoding);
        }
        if let Some(meta) = &msg.header.meta {
            if let Some(m) = meta.max_msg_size {
                s.max_msg_size = m.clamp(2048, 64 << 20) as usize;
            }
            if meta.max_obj_size.is_some() {
                s.max_obj_size = meta.max_obj_size;
            }
        }
        if s.max_msg_size == 0 {
            s.max_msg_size = self.config.max_msg_size as usize;
        }

        // Authentication, once per session.
        if s.user.is_none() {
            match authenticate(self.store.as_ref(), &self.config.auth, &self.throttle, &msg.header, ctx.now) {
                Ok(AuthOutcome::Accepted { user, chal }) => {
                    tracing::info!(user = %user.name, device = %msg.header.source.loc_uri, "authenticated");
                    // Changes made directly in a backing store (IMAP) join the change log first.
                    match self.store.pull_backend(user.id) {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::info!(user = %user.name, changes = n, "changes picked up from the backing store")
                        }
                        Err(e) => {
                            tracing::warn!(user = %user.name, error = %e, "backing store not read; its datastores will fail")
                        }
                    }
                    s.user = Some(user);
                    r.header_status(&msg.header, StatusCode::AuthenticationAccepted, Some(chal));
                }
                Ok(AuthOutcome::Refused { code, chal, reason, user, challenge }) => {
                    s.stats.challenged = challenge;
                    if challenge {
                        tracing::info!(user = ?user, device = %msg.header.source.loc_uri, status = code.code(), %reason, "credentials requested");
                    } else {
                        tracing::warn!(user = ?user, device = %msg.header.source.loc_uri, status = code.code(), %reason, "authentication refused");
                    }
                    s.user_name = user;
                    r.header_status(&msg.header, code, chal);
                    return self.end(s, r, ctx.encoding);
                }
                Err(e) => {
                    tracing::error!(error = %e, "store failure during authentication");
                    r.header_status(&msg.header, StatusCode::ServiceUnavailable, None);
                    return self.end(s, r, ctx.encoding);
                }
            }
        } else {
            r.header_status(&msg.header, StatusCode::Ok, None);
        }
        if !s.quirks_resolved {
            self.resolve_quirks(s, &msg, ctx);
        }
        r.status_per_command = s.quirks.status_per_command;
        let ctx = &Context { encoding: s.quirks.reply_encoding(ctx.encoding), ..ctx.clone() };
        if s.server_suspended {
            // The client's last message after our Alert 224 (its statuses): acknowledged, and
            // the session ends. Nothing of it is executed: the saved state stays as it was.
            for cmd in msg.body.iter().filter(|c| !matches!(c, Command::Status(_))) {
                r.status(cmd.cmd_id(), cmd.name(), StatusCode::Ok);
            }
            return self.end(s, r, ctx.encoding);
        }

        for cmd in &msg.body {
            if let Err(e) = self.command(s, &mut r, cmd, ctx) {
                tracing::error!(error = %e, command = ?cmd.name(), "store failure");
                let st = r.status(cmd.cmd_id(), cmd.name(), failure_status(&e));
                if let StoreError::Unavailable(_) = e {
                    st.items = vec![retry_hint()];
                }
            }
        }
        if s.suspend_requested {
            // Alert 224: keep what a resume needs; this reply ends the session.
            if let Err(e) = self.suspend(s) {
                tracing::error!(error = %e, "store failure saving a suspended session: a resume will be refused");
            }
            s.pending_alerts.clear();
            if msg.header.no_resp {
                r.msg.body.retain(|c| !matches!(c, Command::Status(_)));
            }
            return self.end(s, r, ctx.encoding);
        }
        if ctx.suspend
            && s.version == Version::V1_2
            && s.user.is_some()
            && !s.datastores.is_empty()
            && matches!(s.phase, Phase::Init | Phase::ClientSync | Phase::ServerSync)
        {
            // The gateway is going down: suspend from our side (PROTOCOL.md §3.7), so the
            // client resumes with Alert 225 instead of starting over.
            tracing::info!("gateway shutting down: the session is suspended (server Alert 224)");
            if let Err(e) = self.suspend(s) {
                tracing::error!(error = %e, "store failure saving a suspended session: a resume will be refused");
            }
            s.pending_alerts.clear();
            r.push(Command::Alert(Alert {
                cmd_id: 0,
                no_resp: false,
                cred: None,
                correlator: None,
                data: Some(AlertCode::Suspend),
                items: vec![Item {
                    target: s.device.as_deref().map(Target::uri),
                    source: Some(Source::uri(&msg.header.target.loc_uri)),
                    ..Default::default()
                }],
            }));
            // The client answers our Alert with one more message, which ends the session.
            s.phase = Phase::Done;
            s.server_suspended = true;
            return Reply { message: r.finish(true), finished: false, encoding: ctx.encoding };
        }
        let alerts = std::mem::take(&mut s.pending_alerts);
        for a in alerts {
            r.push(a);
        }
        match self.advance(s, &mut r, msg.final_, ctx) {
            Ok(final_) => {
                let finished = s.phase == Phase::Done;
                if msg.header.no_resp {
                    // NoResp on the header: no Status at all for this message.
                    r.msg.body.retain(|c| !matches!(c, Command::Status(_)));
                }
                if r.msg.body.is_empty() && !(final_ || finished) {
                    // Nothing at all to answer a non-final message with: ask for the next one
                    // (Alert 222, PROTOCOL.md §1.5).
                    r.push(Command::Alert(Alert {
                        cmd_id: 0,
                        no_resp: false,
                        cred: None,
                        correlator: None,
                        data: Some(AlertCode::NextMessage),
                        items: vec![Item {
                            target: Some(Target::uri(&msg.header.source.loc_uri)),
                            source: Some(Source::uri(&msg.header.target.loc_uri)),
                            ..Default::default()
                        }],
                    }));
                }
                Reply { message: r.finish(final_ || finished), finished, encoding: ctx.encoding }
            }
            Err(e) => {
                tracing::error!(error = %e, "store failure; ending the session");
                let st = r.status(0, CmdName::SyncHdr, failure_status(&e));
                st.items.clear();
                if let StoreError::Unavailable(_) = e {
                    st.items = vec![retry_hint()];
                }
                self.end(s, r, ctx.encoding)
            }
        }
    }

    fn end(&self, s: &mut Session, r: ReplyBuilder, encoding: Encoding) -> Reply {
        s.phase = Phase::Done;
        Reply { message: r.finish(true), finished: true, encoding }
    }

    /// Picks the device's quirks (once per session, after authentication) from the User-Agent
    /// and its DevInf: the one Put in this message, else the stored one.
    fn resolve_quirks(&self, s: &mut Session, msg: &Message, ctx: &Context) {
        s.quirks_resolved = true;
        let put = msg.body.iter().find_map(|c| match c {
            Command::Put(p) => devinf::client_devinf(&p.items),
            _ => None,
        });
        let stored = || {
            let (user, device) = (s.user.as_ref()?, s.device.as_deref()?);
            match self.store.device(user.id, device) {
                Ok(rec) => devinf::decode_stored(rec?.devinf.as_deref()?),
                Err(e) => {
                    tracing::warn!(error = %e, "stored DevInf unreadable; quirks by User-Agent only");
                    None
                }
            }
        };
        let di = put.or_else(stored);
        s.field_level_types = di.as_ref().map(fields::client_types).unwrap_or_default();
        s.dev_typ = di.as_ref().map(|d| d.dev_typ.clone()).filter(|t| !t.is_empty());
        let identity = DeviceIdentity {
            manufacturer: di.as_ref().and_then(|d| d.man.clone()).filter(|m| !m.is_empty()),
            model: di.as_ref().and_then(|d| d.mod_.clone()).filter(|m| !m.is_empty()),
            user_agent: ctx.user_agent.clone(),
        };
        let (quirks, matched) = Quirks::resolve(&self.config.quirk_rules(), &identity);
        s.quirks = quirks;
        if matched > 0 {
            tracing::info!(
                manufacturer = ?identity.manufacturer,
                model = ?identity.model,
                user_agent = ?identity.user_agent,
                rules = matched,
                quirks = %quirks,
                "device quirks applied"
            );
        } else {
            tracing::debug!(manufacturer = ?identity.manufacturer, model = ?identity.model, user_agent = ?identity.user_agent, "no device quirks");
        }
    }

    /// One command of the client's message.
    fn command(&self, s: &mut Session, r: &mut ReplyBuilder, cmd: &Command, ctx: &Context) -> Result<(), StoreError> {
        let no_resp = |c: &Command| match c {
            Command::Add(a) => a.no_resp,
            Command::Alert(a) => a.no_resp,
            Command::Get(a) => a.no_resp,
            Command::Put(a) => a.no_resp,
            Command::Sync(a) => a.no_resp,
            _ => false,
        };
        match cmd {
            Command::Status(st) => {
                Self::outgoing_chunk_status(s, st);
                if let (Some((datastore, luid)), Some(user), Some(device)) =
                    (Self::acknowledge(s, st), s.user.as_ref(), s.device.as_deref())
                {
                    let commit = Commit { unmaps: vec![luid], ..Default::default() };
                    self.store.commit(user.id, device, &datastore, &commit)?;
                }
                if !st.data.is_success() && st.cmd != CmdName::SyncHdr {
                    tracing::warn!(cmd = st.cmd.as_str(), status = st.data.code(), refs = ?st.target_refs, "client reports failure");
                }
                Ok(())
            }
            Command::Alert(a) => self.alert(s, r, a, ctx),
            Command::Put(p) => {
                if let (Some(user), Some(bytes)) = (&s.user, devinf::client_devinf_bytes(&p.items)) {
                    self.save_devinf(user, s.device.as_deref().unwrap_or(""), bytes)?;
                    if let Some(di) = devinf::client_devinf(&p.items) {
                        s.field_level_types = fields::client_types(&di);
                    }
                }
                if !p.no_resp {
                    r.status(p.cmd_id, CmdName::Put, StatusCode::Ok).source_refs =
                        p.items.iter().filter_map(|i| i.source.as_ref().map(|x| x.loc_uri.clone())).collect();
                }
                Ok(())
            }
            Command::Results(res) => {
                if let (Some(user), Some(bytes)) = (&s.user, devinf::client_devinf_bytes(&res.items)) {
                    self.save_devinf(user, s.device.as_deref().unwrap_or(""), bytes)?;
                    if let Some(di) = devinf::client_devinf(&res.items) {
                        s.field_level_types = fields::client_types(&di);
                    }
                }
                r.status(res.cmd_id, CmdName::Results, StatusCode::Ok);
                Ok(())
            }
            Command::Get(g) => {
                let target =
                    g.items.first().and_then(|i| i.target.as_ref()).map(|t| t.loc_uri.clone()).unwrap_or_default();
                if !target.to_ascii_lowercase().contains("devinf") {
                    r.status(g.cmd_id, CmdName::Get, StatusCode::NotFound).target_refs = vec![target];
                    return Ok(());
                }
                if !g.no_resp {
                    r.status(g.cmd_id, CmdName::Get, StatusCode::Ok).target_refs = vec![target.clone()];
                }
                // Alerts of this message may come after the Get: echo their strings when known.
                let alerted: HashMap<String, String> =
                    s.datastores.iter().map(|d| (d.name.clone(), d.alert_target.clone())).collect();
                // CTCaps with FieldLevel only for devices that announce it themselves: libsynthesis
                // (SyncEvolution) rejects a DevInf whose CTCap has a FieldLevel element.
                let field_level = !s.field_level_types.is_empty();
                let source = &r.msg.header.source.loc_uri;
                let mut di = devinf::server_devinf(&self.config, s.version, source, field_level, |n| {
                    alerted.get(n).cloned().unwrap_or_else(|| n.to_string())
                });
                di.dev_id = r.msg.header.source.loc_uri.clone();
                r.push(Command::Results(devinf::results(g.cmd_id, r.msg_ref(), &target, di, s.version, ctx.encoding)));
                Ok(())
            }
            Command::Sync(sync) => self.client_sync(s, r, sync, ctx.now),
            Command::Map(m) => self.map(s, r, m),
            Command::Atomic(_)
            | Command::Sequence(_)
            | Command::Copy(_)
            | Command::Move(_)
            | Command::Search(_)
            | Command::Exec(_) => {
                if !no_resp(cmd) {
                    r.status(cmd.cmd_id(), cmd.name(), StatusCode::OptionalFeatureNotSupported).items = vec![Item {
                        data: Some(Data::from("command not supported by this server")),
                        ..Default::default()
                    }];
                }
                Ok(())
            }
            Command::Add(_) | Command::Replace(_) | Command::Delete(_) => {
                r.status(cmd.cmd_id(), cmd.name(), StatusCode::Forbidden);
                Ok(())
            }
        }
    }

    fn save_devinf(&self, user: &User, device_id: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let mut rec = self
            .store
            .device(user.id, device_id)?
            .unwrap_or_else(|| DeviceRecord { device_id: device_id.to_string(), ..Default::default() });
        rec.devinf = Some(bytes);
        self.store.put_device(user.id, &rec)
    }

    /// After the commands: move through the packages and add what the server sends.
    /// Returns whether this reply closes a server package (carries Final).
    fn advance(
        &self,
        s: &mut Session,
        r: &mut ReplyBuilder,
        client_final: bool,
        ctx: &Context,
    ) -> Result<bool, StoreError> {
        match s.phase {
            Phase::Init if client_final => {
                let known = match (&s.user, &s.device) {
                    (Some(u), Some(d)) => self.store.device(u.id, d)?.and_then(|d| d.devinf).is_some(),
                    _ => true,
                };
                if !known {
                    r.push(Command::Get(crate::proto::Get {
                        meta: Some(Meta::with_type(ctx.encoding.devinf_type())),
                        items: vec![Item { target: Some(Target::uri(s.version.devinf_uri())), ..Default::default() }],
                        ..Default::default()
                    }));
                }
                s.phase = Phase::ClientSync;
                Ok(true)
            }
            // Every Alert was refused: there is nothing to sync, and a final answer of statuses
            // only ends the session for the client too (it sends no package 5).
            Phase::ClientSync if client_final && s.datastores.is_empty() => {
                s.phase = Phase::Done;
                Ok(true)
            }
            Phase::ClientSync if client_final => {
                self.build_server_changes(s)?;
                s.phase = Phase::ServerSync;
                self.send_server_changes(s, r)
            }
            Phase::ServerSync => self.send_server_changes(s, r),
            Phase::Map if client_final => {
                self.complete(s, ctx)?;
                s.phase = Phase::Done;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The session succeeded: store anchors (only now) and the device's last sync time.
    fn complete(&self, s: &mut Session, ctx: &Context) -> Result<(), StoreError> {
        let Some(user) = &s.user else { return Ok(()) };
        let device = s.device.clone().unwrap_or_default();
        for ds in &s.datastores {
            let anchor = SyncAnchor {
                client_next: ds.client_next.clone(),
                server_next: ds.server_next.clone(),
                synced_seq: ds.snapshot_seq,
                filter: ds.resync.state.clone(),
            };
            self.store.set_anchor(user.id, &device, &ds.name, &anchor)?;
            // Adds the client never mapped are unknown to it: forget nothing, but they will be
            // sent again as Adds next time because they have no map entry.
            if !ds.awaiting_map.is_empty() {
                tracing::debug!(datastore = %ds.name, unmapped = ds.awaiting_map.len(), "server adds without map");
            }
        }
        let mut rec = self
            .store
            .device(user.id, &device)?
            .unwrap_or_else(|| DeviceRecord { device_id: device.clone(), ..Default::default() });
        rec.last_sync = Some(ctx.now);
        self.store.put_device(user.id, &rec)?;
        tracing::info!(user = %user.name, device = %device, datastores = s.datastores.len(), "session complete");
        Ok(())
    }

    /// Map: the client's LUIDs for the server's Adds.
    fn map(&self, s: &mut Session, r: &mut ReplyBuilder, m: &crate::proto::Map) -> Result<(), StoreError> {
        let target = crate::engine::alert::datastore_name(&m.target.loc_uri);
        let (Some(user), Some(device)) = (s.user.clone(), s.device.clone()) else { return Ok(()) };
        let found = s
            .datastores
            .iter()
            .position(|d| d.name.eq_ignore_ascii_case(&target) || d.alert_target == m.target.loc_uri);
        let Some(i) = found else {
            // Maps left over from an interrupted session may come before this session's Alert
            // ("early maps"): store them for any configured datastore.
            if let Some(cfg) = self.config.datastores.iter().find(|d| d.name.eq_ignore_ascii_case(&target)) {
                let maps = m
                    .items
                    .iter()
                    .map(|mi| crate::store::MapUpdate::Pair {
                        luid: mi.source.loc_uri.clone(),
                        guid: mi.target.loc_uri.clone(),
                    })
                    .collect();
                self.store.commit(user.id, &device, &cfg.name, &Commit { maps, ..Default::default() })?;
                let st = r.status(m.cmd_id, CmdName::Map, StatusCode::Ok);
                st.target_refs = vec![m.target.loc_uri.clone()];
                st.source_refs = vec![m.source.loc_uri.clone()];
                return Ok(());
            }
            let st = r.status(m.cmd_id, CmdName::Map, StatusCode::NotFound);
            st.target_refs = vec![m.target.loc_uri.clone()];
            st.source_refs = vec![m.source.loc_uri.clone()];
            return Ok(());
        };
        let ds = &mut s.datastores[i];
        let mut commit = Commit::default();
        for mi in &m.items {
            let (guid, luid) = (mi.target.loc_uri.clone(), mi.source.loc_uri.clone());
            ds.awaiting_map.remove(&guid);
            if let Some(old) = ds.map.insert(luid.clone(), guid.clone()) {
                ds.rev.remove(&old);
            }
            ds.rev.insert(guid.clone(), luid.clone());
            commit.maps.push(crate::store::MapUpdate::Pair { luid, guid });
        }
        self.store.commit(user.id, &device, &ds.name, &commit)?;
        let st = r.status(m.cmd_id, CmdName::Map, StatusCode::Ok);
        st.target_refs = vec![m.target.loc_uri.clone()];
        st.source_refs = vec![m.source.loc_uri.clone()];
        Ok(())
    }
}

/// An Item addressed to the client's datastore from ours (the server's Alert and Sync).
pub(crate) fn ds_item(ds: &DsState) -> Item {
    Item {
        target: Some(Target::uri(&ds.client_uri)),
        source: Some(Source::uri(&ds.alert_target)),
        ..Default::default()
    }
}

pub(crate) fn alert_code(direction: Direction, slow: bool) -> AlertCode {
    match (direction, slow) {
        (Direction::TwoWay, false) => AlertCode::TwoWay,
        (Direction::TwoWay, true) => AlertCode::SlowSync,
        (Direction::FromClient, false) => AlertCode::OneWayFromClient,
        (Direction::FromClient, true) => AlertCode::RefreshFromClient,
        (Direction::FromServer, false) => AlertCode::OneWayFromServer,
        (Direction::FromServer, true) => AlertCode::RefreshFromServer,
    }
}

/// The status of a command the store failed: 503 (try again later) when a backing store is
/// unreachable, else 510 (data store failure).
fn failure_status(e: &StoreError) -> StatusCode {
    match e {
        StoreError::Unavailable(_) => StatusCode::ServiceUnavailable,
        _ => StatusCode::DataStoreFailure,
    }
}

/// The reason and retry hint that go with a 503.
fn retry_hint() -> crate::proto::Item {
    crate::proto::Item {
        data: Some(crate::proto::Data::from("the message store is unavailable; retry after 60 seconds")),
        ..Default::default()
    }
}
