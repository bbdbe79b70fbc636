//! A scriptable SyncML client session for the conformance cases: builds messages from
//! `crate::proto` types, encodes them with `crate::codec`, POSTs them with `crate::transport`,
//! follows RespURI, authenticates from the server's Chal (MD5 with the nonce, basic as
//! fallback; PROTOCOL.md §5) and answers every command of the server with a Status (and
//! Results for a Get of the DevInf), so cases only write what they test.
//!
//! It must not know anything about syncgate's internals: only the wire.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::codec::{self, Encoding, Limits};
use crate::conformance::{check, CaseError, Ctx};
use crate::proto::{
    Alert, AlertCode, Anchor, Chal, CmdName, Command, Cred, CtInfo, Data, DataStore, DevInf, Header, Item, Map,
    MapItem, Message, Meta, Put, Results, Source, Status, StatusCode, Sync, Target, Version,
};
use crate::transport::{HttpClient, Response, Url};

pub use crate::conformance::messages::*;

/// How the device authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Md5,
    Basic,
}

/// What a simulated device remembers between sessions.
#[derive(Clone, Debug)]
pub struct Device {
    pub id: String,
    pub encoding: Encoding,
    pub scheme: Scheme,
    /// The raw nonce of the server's last Chal (empty before the first contact).
    pub nonce: Vec<u8>,
    /// Per datastore: the Next anchor of the last completed session.
    pub anchors: HashMap<String, String>,
    /// Items the server sent: LUID → data.
    pub items: HashMap<String, Vec<u8>>,
    /// Server GUID → our LUID, for items received and mapped.
    pub guids: HashMap<String, String>,
    /// The MaxMsgSize this device announces.
    pub max_msg_size: u64,
    /// Sends the DevInf Put in the first message of every session.
    pub put_devinf: bool,
    seq: u64,
}

impl Device {
    /// A fresh device of the case (`n` = 0 for `{prefix}-{case}`, 1 for `…-b`).
    pub fn new(ctx: &Ctx, n: u8) -> Device {
        Device {
            id: ctx.device_id(n),
            encoding: ctx.encoding,
            scheme: Scheme::Md5,
            nonce: Vec::new(),
            anchors: HashMap::new(),
            items: HashMap::new(),
            guids: HashMap::new(),
            max_msg_size: 1_000_000,
            put_devinf: true,
            seq: 0,
        }
    }

    /// A new unique value (anchors, LUIDs, markers).
    pub fn unique(&mut self) -> String {
        self.seq += 1;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        format!("{secs}{:03}", self.seq)
    }

    /// This device's DevInf (DS 1.2, one datastore per name).
    pub fn devinf(&self, datastores: &[&str]) -> DevInf {
        let vcard = CtInfo { ct_type: "text/vcard".into(), ver_ct: "3.0".into() };
        DevInf {
            ver_dtd: "1.2".into(),
            man: Some("syncgate".into()),
            mod_: Some("conformance".into()),
            sw_v: Some(env!("CARGO_PKG_VERSION").into()),
            dev_id: self.id.clone(),
            dev_typ: "workstation".into(),
            utc: true,
            support_large_objs: true,
            support_number_of_changes: true,
            data_stores: datastores
                .iter()
                .map(|ds| DataStore {
                    source_ref: format!("./{ds}"),
                    rx_pref: Some(vcard.clone()),
                    tx_pref: Some(vcard.clone()),
                    sync_cap: ["1", "2", "3", "4", "5", "6", "7"].iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// One SyncML session of a device.
pub struct Session {
    pub ctx: Ctx,
    pub device: Device,
    http: HttpClient,
    base: Url,
    /// Where the next message goes (the last RespURI, or the URL given).
    pub url: Url,
    pub session_id: String,
    /// The MsgID of the last message sent.
    pub msg_id: u32,
    /// Sends this Cred instead of the computed one (`Some(None)`: no Cred at all).
    pub cred_override: Option<Option<Cred>>,
    /// Leaves out Cred once the server answered 212.
    authenticated: bool,
    /// Statuses (and Results) answering the server's last message, sent with our next one.
    pub pending: Vec<Command>,
    /// Every message the server sent in this session, in order.
    pub received: Vec<Message>,
    /// The last message we sent.
    pub last_sent: Option<Message>,
    /// Server item chunks being reassembled: GUID → bytes so far.
    chunks: HashMap<String, Vec<u8>>,
    /// Server changes of this session: Add (GUID, data), Replace (LUID, data), Delete (LUID).
    pub server_adds: Vec<(String, Vec<u8>)>,
    pub server_replaces: Vec<(String, Vec<u8>)>,
    pub server_deletes: Vec<String>,
    /// (GUID, LUID) pairs to send in the next Map.
    pub to_map: Vec<(String, String)>,
    /// The Next anchor of the running session, kept by the device when it completes.
    pub next_anchor: Option<String>,
    /// Every message we sent in this session.
    pub sent: Vec<Message>,
    /// Leaves the Map out of package 5 (`to_map` keeps the pairs).
    pub hold_map: bool,
    /// The body size and Content-Type of every answer, in order.
    pub received_sizes: Vec<usize>,
    pub received_types: Vec<Option<String>>,
    /// Rewrites every encoded message before it is sent (WBXML variants).
    pub transform: Option<fn(Vec<u8>) -> Vec<u8>>,
    /// Sends an MD5 credential as the 16 raw digest bytes without Format (WBXML, §5.2).
    pub raw_md5: bool,
    /// A DS 1.2 Filter for the sync Alert's Target (§9).
    pub filter: Option<Box<crate::proto::Filter>>,
}

/// What a whole sync session ([`Session::sync`]) saw.
#[derive(Debug, Default)]
pub struct SyncRun {
    /// The status of our sync Alert.
    pub alert_status: Option<Status>,
    /// The server's sync Alert (pkg2).
    pub server_alert: Option<Alert>,
    /// The status of our Sync command.
    pub sync_status: Option<Status>,
    /// Statuses for the commands inside our Sync (one per item).
    pub item_statuses: Vec<Status>,
    /// The server's Sync commands (pkg4).
    pub server_syncs: Vec<Sync>,
    /// The status of our Map (when one was sent).
    pub map_status: Option<Status>,
    /// Whether the server's last message carried Final.
    pub completed: bool,
}

impl Session {
    /// A new session of `device` (new SessionID, MsgID starting at 1, the URL given).
    pub fn new(ctx: &Ctx, mut device: Device) -> Session {
        let session_id = device.unique();
        Session {
            http: HttpClient::new(ctx.timeout).with_user_agent("syncgate-conformance"),
            base: ctx.url.clone(),
            url: ctx.url.clone(),
            ctx: ctx.clone(),
            device,
            session_id,
            msg_id: 0,
            cred_override: None,
            authenticated: false,
            pending: Vec::new(),
            received: Vec::new(),
            last_sent: None,
            chunks: HashMap::new(),
            server_adds: Vec::new(),
            server_replaces: Vec::new(),
            server_deletes: Vec::new(),
            to_map: Vec::new(),
            next_anchor: None,
            sent: Vec::new(),
            hold_map: false,
            received_sizes: Vec::new(),
            received_types: Vec::new(),
            transform: None,
            raw_md5: false,
            filter: None,
        }
    }

    /// Starts over as a new session of the same device (after a refused login).
    pub fn restart(&mut self) {
        let mut fresh = Session::new(&self.ctx, self.device.clone());
        fresh.transform = self.transform;
        fresh.raw_md5 = self.raw_md5;
        fresh.hold_map = self.hold_map;
        fresh.filter = self.filter.clone();
        *self = fresh;
    }

    /// The SyncHdr of our next message.
    pub fn header(&self, msg_id: u32) -> Header {
        let cred = match &self.cred_override {
            Some(c) => c.clone(),
            None if self.authenticated => None,
            None => Some(self.credential(&self.ctx.password)),
        };
        Header {
            ver_dtd: "1.2".into(),
            ver_proto: "SyncML/1.2".into(),
            session_id: self.session_id.clone(),
            msg_id,
            target: Target::uri(&self.ctx.url_text),
            source: Source { loc_uri: self.device.id.clone(), loc_name: Some(self.ctx.user.clone()) },
            cred: cred.map(Box::new),
            meta: Some(Meta {
                max_msg_size: Some(self.device.max_msg_size),
                max_obj_size: Some(4_000_000),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The credential for `password` in the device's scheme and nonce (§5.2).
    pub fn credential(&self, password: &str) -> Cred {
        match self.device.scheme {
            Scheme::Md5 if self.raw_md5 => {
                let text = crate::auth::md5_credential(&self.ctx.user, password, &self.device.nonce);
                let raw = B64.decode(text).unwrap_or_default();
                Cred { meta: Some(Meta::with_type("syncml:auth-md5")), data: raw }
            }
            Scheme::Md5 => md5_cred(&self.ctx.user, password, &self.device.nonce),
            Scheme::Basic => basic_cred(&self.ctx.user, password),
        }
    }

    /// Our next message: the pending statuses, then `cmds`, CmdIDs renumbered from 1.
    pub fn next_message(&mut self, cmds: Vec<Command>, final_: bool) -> Message {
        self.msg_id += 1;
        let mut body: Vec<Command> = std::mem::take(&mut self.pending);
        body.extend(cmds);
        number(&mut body, &mut 1);
        Message { version: Version::V1_2, header: self.header(self.msg_id), body, final_ }
    }

    /// Sends `cmds` (after the pending statuses) and returns the server's answer.
    pub async fn send(&mut self, cmds: Vec<Command>, final_: bool) -> Result<Message, CaseError> {
        let msg = self.next_message(cmds, final_);
        self.exchange(msg).await
    }

    /// Sends a prepared message and absorbs the answer (RespURI, nonce, automatic statuses).
    pub async fn exchange(&mut self, msg: Message) -> Result<Message, CaseError> {
        let mut bytes = codec::encode_message(&msg, self.device.encoding)?;
        if let Some(f) = self.transform {
            bytes = f(bytes);
        }
        self.sent.push(msg.clone());
        self.last_sent = Some(msg);
        let response = self.post_raw(bytes, self.device.encoding.content_type()).await?;
        self.received_sizes.push(response.body.len());
        self.received_types.push(response.content_type.clone());
        let reply = self.decode(&response)?;
        self.absorb(&reply);
        Ok(reply)
    }

    /// POSTs raw bytes to the session's current URL.
    pub async fn post_raw(&mut self, body: Vec<u8>, content_type: &str) -> Result<Response, CaseError> {
        let url = self.url.clone();
        Ok(self.http.post(&url, content_type, body).await?)
    }

    /// POSTs raw bytes to `url`.
    pub async fn post_to(&mut self, url: &Url, body: Vec<u8>, content_type: &str) -> Result<Response, CaseError> {
        Ok(self.http.post(url, content_type, body).await?)
    }

    /// Decodes a SyncML answer; anything else (HTTP error, other content) is an error.
    pub fn decode(&self, response: &Response) -> Result<Message, CaseError> {
        if response.status != 200 {
            return Err(CaseError::Http { status: response.status, body: snippet(&response.body) });
        }
        let (_, msg) = codec::decode_message(&response.body, &Limits::default())?;
        Ok(msg)
    }

    /// Logs in: sends `cmds` as the first message and, while the server answers 401/407 with a
    /// Chal, retries as a new session with the challenged scheme and nonce (§5.3). Returns the
    /// answer to the last attempt.
    pub async fn login(&mut self, cmds: Vec<Command>, final_: bool) -> Result<Message, CaseError> {
        let mut reply = self.send(cmds.clone(), final_).await?;
        for _ in 0..2 {
            let code = hdr_status(&reply).map(|s| s.data.code());
            let chal = hdr_status(&reply).and_then(|s| s.chal.clone());
            match (code, chal) {
                (Some(401 | 407), Some(chal)) => {
                    self.take_chal(&chal);
                    self.restart();
                    reply = self.send(cmds.clone(), final_).await?;
                }
                _ => break,
            }
        }
        Ok(reply)
    }

    /// Adopts the scheme and nonce of a Chal.
    pub fn take_chal(&mut self, chal: &Chal) {
        let t = chal.meta.type_.as_deref().unwrap_or("").to_ascii_lowercase();
        if t.contains("basic") {
            self.device.scheme = Scheme::Basic;
        } else if t.contains("md5") {
            self.device.scheme = Scheme::Md5;
        }
        if let Some(n) = &chal.meta.next_nonce {
            self.device.nonce = B64.decode(n.trim()).unwrap_or_else(|_| n.as_bytes().to_vec());
        }
    }

    /// Takes note of an answer received by other means than [`Session::exchange`].
    pub fn accept(&mut self, reply: &Message) {
        self.absorb(reply);
    }

    /// Takes note of an answer: RespURI, the SyncHdr status and its Chal, and queues our
    /// statuses for every command in it.
    fn absorb(&mut self, reply: &Message) {
        if let Some(uri) = &reply.header.resp_uri {
            if let Ok(url) = self.base.join(uri.trim()) {
                self.url = url;
            }
        }
        if let Some(st) = hdr_status(reply) {
            if st.data.code() == 212 {
                self.authenticated = true;
            }
            if let Some(chal) = &st.chal {
                if st.data.is_success() {
                    self.take_chal(chal);
                }
            }
        }
        self.pending.clear();
        if !reply.header.no_resp {
            self.answer(reply);
        }
        self.received.push(reply.clone());
    }

    fn answer(&mut self, reply: &Message) {
        let msg_ref = reply.header.msg_id;
        let mut hdr = status(msg_ref, 0, CmdName::SyncHdr, StatusCode::Ok);
        hdr.target_refs = vec![reply.header.target.loc_uri.clone()];
        hdr.source_refs = vec![reply.header.source.loc_uri.clone()];
        self.pending.push(Command::Status(hdr));
        for cmd in &reply.body {
            self.answer_command(msg_ref, cmd);
        }
    }

    fn answer_command(&mut self, msg_ref: u32, cmd: &Command) {
        let mut st = status(msg_ref, cmd.cmd_id(), cmd.name(), StatusCode::Ok);
        match cmd {
            Command::Status(_) => return,
            Command::Results(_) | Command::Put(_) => {}
            Command::Alert(a) => {
                if let Some(item) = a.items.first() {
                    st.target_refs = item.target.iter().map(|t| t.loc_uri.clone()).collect();
                    st.source_refs = item.source.iter().map(|s| s.loc_uri.clone()).collect();
                    let next = item.meta.as_ref().and_then(|m| m.anchor.as_ref()).and_then(|a| a.next.clone());
                    if a.data.is_some_and(|c| c.is_sync()) {
                        st.items =
                            vec![Item { data: Some(Data::Anchor(Anchor { last: None, next })), ..Default::default() }];
                    }
                }
            }
            Command::Get(g) => {
                let wants_devinf =
                    g.items.iter().any(|i| i.target.as_ref().is_some_and(|t| t.loc_uri.contains("devinf")));
                if wants_devinf {
                    self.pending.push(Command::Status(st));
                    let results = Results {
                        msg_ref: Some(msg_ref),
                        cmd_ref: g.cmd_id,
                        meta: Some(Meta::with_type(self.device.encoding.devinf_type())),
                        source_ref: Some("./devinf12".into()),
                        items: vec![Item {
                            source: Some(Source::uri("./devinf12")),
                            data: Some(Data::DevInf(Box::new(self.device.devinf(&[&self.ctx.datastore])))),
                            ..Default::default()
                        }],
                        ..Default::default()
                    };
                    self.pending.push(Command::Results(results));
                    return;
                }
            }
            Command::Sync(s) => {
                st.target_refs = s.target.iter().map(|t| t.loc_uri.clone()).collect();
                st.source_refs = s.source.iter().map(|t| t.loc_uri.clone()).collect();
                self.pending.push(Command::Status(st));
                for inner in &s.commands {
                    self.answer_change(msg_ref, inner);
                }
                return;
            }
            _ => {}
        }
        self.pending.push(Command::Status(st));
    }

    /// One Status per item of a server Add/Replace/Delete; records the change.
    fn answer_change(&mut self, msg_ref: u32, cmd: &Command) {
        let items = match cmd {
            Command::Add(c) => &c.items,
            Command::Replace(c) => &c.items,
            Command::Delete(c) => &c.items,
            other => {
                self.pending.push(Command::Status(status(msg_ref, other.cmd_id(), other.name(), StatusCode::Ok)));
                return;
            }
        };
        for item in items {
            let data = item.data.as_ref().and_then(Data::bytes).unwrap_or_default().to_vec();
            let mut st = status(msg_ref, cmd.cmd_id(), cmd.name(), StatusCode::Ok);
            match cmd {
                Command::Add(_) => {
                    let guid = item.source.as_ref().map(|s| s.loc_uri.clone()).unwrap_or_default();
                    st.source_refs = vec![guid.clone()];
                    if item.more_data {
                        self.chunks.entry(guid).or_default().extend_from_slice(&data);
                        st.data = StatusCode::ChunkAccepted;
                    } else {
                        let mut whole = self.chunks.remove(&guid).unwrap_or_default();
                        whole.extend_from_slice(&data);
                        let luid = format!("L{}", self.device.unique());
                        self.device.items.insert(luid.clone(), whole.clone());
                        self.device.guids.insert(guid.clone(), luid.clone());
                        self.to_map.push((guid.clone(), luid));
                        self.server_adds.push((guid, whole));
                        st.data = StatusCode::ItemAdded;
                    }
                }
                Command::Replace(_) => {
                    let luid = item.target.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
                    st.target_refs = vec![luid.clone()];
                    self.device.items.insert(luid.clone(), data.clone());
                    self.server_replaces.push((luid, data));
                }
                _ => {
                    let luid = item.target.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
                    st.target_refs = vec![luid.clone()];
                    self.device.items.remove(&luid);
                    self.server_deletes.push(luid);
                }
            }
            self.pending.push(Command::Status(st));
        }
    }

    /// Sends Alert 222 (with the pending statuses) until the server's message carries Final;
    /// returns the last answer (at most `limit` rounds).
    pub async fn until_final(&mut self, mut reply: Message, limit: usize) -> Result<Message, CaseError> {
        for _ in 0..limit {
            if reply.final_ {
                return Ok(reply);
            }
            let only_statuses = self.pending.iter().all(|c| matches!(c, Command::Status(_)));
            let cmds = if only_statuses { vec![next_message_alert(&self.ctx, &self.device.id)] } else { vec![] };
            reply = self.send(cmds, false).await?;
        }
        check(reply.final_, || format!("no Final after {limit} continuation messages"))?;
        Ok(reply)
    }

    /// The sync Alert for `mode` on the context's datastore with the device's anchors.
    pub fn sync_alert(&mut self, mode: AlertCode) -> (Command, String) {
        let ds = self.ctx.datastore.clone();
        let next = self.device.unique();
        let last = self.device.anchors.get(&ds).cloned();
        let alert = Alert {
            cmd_id: 0,
            no_resp: false,
            cred: None,
            data: Some(mode),
            correlator: None,
            items: vec![Item {
                target: Some(Target { filter: self.filter.clone(), ..Target::uri(&ds) }),
                source: Some(Source::uri(format!("./{ds}"))),
                meta: Some(Meta { anchor: Some(Anchor { last, next: Some(next.clone()) }), ..Default::default() }),
                ..Default::default()
            }],
        };
        (Command::Alert(alert), next)
    }

    /// A Get of the server's DevInf (§7.1).
    pub fn devinf_get(&self) -> Command {
        Command::Get(crate::proto::Get {
            meta: Some(Meta::with_type(self.device.encoding.devinf_type())),
            items: vec![Item { target: Some(Target::uri("./devinf12")), ..Default::default() }],
            ..Default::default()
        })
    }

    /// The server's DevInf, if a Results in this session carried one.
    pub fn server_devinf(&self) -> Option<DevInf> {
        self.received.iter().flat_map(|m| m.body.iter()).find_map(|c| match c {
            Command::Results(r) => r.items.iter().find_map(|i| match &i.data {
                Some(Data::DevInf(d)) => Some((**d).clone()),
                _ => None,
            }),
            _ => None,
        })
    }

    /// The DevInf Put of package 1.
    pub fn devinf_put(&self) -> Command {
        Command::Put(Put {
            meta: Some(Meta::with_type(self.device.encoding.devinf_type())),
            items: vec![Item {
                source: Some(Source::uri("./devinf12")),
                data: Some(Data::DevInf(Box::new(self.device.devinf(&[&self.ctx.datastore])))),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    /// Package 1 (Alert for `mode`, DevInf Put if the device sends it) with login, and the rest
    /// of package 2. Returns the answers and the Next anchor sent.
    pub async fn init(&mut self, mode: AlertCode, extra: Vec<Command>) -> Result<(Message, String), CaseError> {
        let (alert, next) = self.sync_alert(mode);
        let mut cmds = vec![alert];
        if self.device.put_devinf {
            cmds.push(self.devinf_put());
        }
        cmds.extend(extra);
        let reply = self.login(cmds, true).await?;
        require_auth(&reply)?;
        let reply = self.until_final(reply, 20).await?;
        self.next_anchor = Some(next.clone());
        Ok((reply, next))
    }

    /// The Sync command of package 3 with `changes` (CmdIDs are assigned on sending).
    pub fn sync_command(&self, changes: Vec<Command>) -> Command {
        let ds = &self.ctx.datastore;
        Command::Sync(Sync {
            target: Some(Target::uri(ds)),
            source: Some(Source::uri(format!("./{ds}"))),
            number_of_changes: Some(changes.len() as u32),
            commands: changes,
            ..Default::default()
        })
    }

    /// A whole session (§3.1): packages 1–6 for `mode`, sending `changes` in package 3.
    /// On success (alert answered 2xx or 508, Final at the end) the device keeps the new anchor.
    pub async fn sync(&mut self, mode: AlertCode, changes: Vec<Command>) -> Result<SyncRun, CaseError> {
        let mut run = SyncRun::default();
        self.init(mode, vec![]).await?;
        // The Alert is the first command of message 1 (no statuses precede it).
        run.alert_status = self.status_in_reply_to(1, CmdName::Alert).into_iter().find(|s| s.cmd_ref == 1);
        run.server_alert = self.server_sync_alert();
        let code = run.alert_status.as_ref().map(|s| s.data.code());
        // A refused Alert leaves the session after package 2: a further message would make
        // some servers hold it open (syncgate keeps its per-user lease for it).
        check(matches!(code, Some(200..=299 | 508)), || format!("sync Alert {mode} answered {code:?}"))?;
        self.rest(&mut run, changes).await?;
        Ok(run)
    }

    /// Packages 3–6 after a successful [`Session::init`]: our Sync with `changes`, the
    /// server's changes, the Map. Keeps the new anchor when the session completes.
    pub async fn rest(&mut self, run: &mut SyncRun, changes: Vec<Command>) -> Result<(), CaseError> {
        let sync_msg_id = self.msg_id + 1;
        let reply = self.send(vec![self.sync_command(changes)], true).await?;
        self.until_final(reply, 50).await?;
        run.sync_status = self.status_in_reply_to(sync_msg_id, CmdName::Sync).into_iter().next();
        run.item_statuses = self
            .all_statuses()
            .into_iter()
            .filter(|s| {
                s.msg_ref == Some(sync_msg_id) && matches!(s.cmd, CmdName::Add | CmdName::Replace | CmdName::Delete)
            })
            .collect();
        run.server_syncs = self
            .received
            .iter()
            .flat_map(|m| m.body.iter())
            .filter_map(|c| match c {
                Command::Sync(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        if run.server_syncs.is_empty() && self.to_map.is_empty() {
            // No server Sync (one-way from client, refresh from client): the session ends with
            // package 4 (§3.1); there is nothing to acknowledge or map.
            run.completed = self.received.last().is_some_and(|m| m.final_);
            if let Some(next) = self.next_anchor.take() {
                self.device.anchors.insert(self.ctx.datastore.clone(), next);
            }
            self.pending.clear();
            return Ok(());
        }
        self.map_phase(run).await
    }

    /// Packages 5 and 6: the pending statuses and a Map of the received Adds (unless
    /// `hold_map`), Final, until the server's Final. Keeps the new anchor at the end.
    pub async fn map_phase(&mut self, run: &mut SyncRun) -> Result<(), CaseError> {
        let map_msg_id = self.msg_id + 1;
        let cmds = if self.to_map.is_empty() || self.hold_map { vec![] } else { vec![self.map_command()] };
        let has_map = !cmds.is_empty();
        let reply = self.send(cmds, true).await?;
        let reply = self.until_final(reply, 20).await?;
        if has_map {
            run.map_status = self.status_in_reply_to(map_msg_id, CmdName::Map).into_iter().next();
        }
        run.completed = reply.final_;
        if let Some(next) = self.next_anchor.take() {
            self.device.anchors.insert(self.ctx.datastore.clone(), next);
        }
        Ok(())
    }

    /// Finishes a session that [`Session::init`] opened with an empty Sync and the map phase,
    /// so that servers serving one session at a time are free again.
    pub async fn finish(&mut self) -> Result<SyncRun, CaseError> {
        let mut run = SyncRun::default();
        self.rest(&mut run, vec![]).await?;
        Ok(run)
    }

    /// The server's sync Alert (package 2) in this session.
    pub fn server_sync_alert(&self) -> Option<Alert> {
        self.received.iter().flat_map(|m| m.body.iter()).find_map(|c| match c {
            Command::Alert(a) if a.data.is_some_and(|c| c.is_sync()) => Some(a.clone()),
            _ => None,
        })
    }

    /// A Map of every received Add not yet mapped (clears the list).
    pub fn map_command(&mut self) -> Command {
        let ds = &self.ctx.datastore;
        Command::Map(Map {
            target: Target::uri(ds),
            source: Source::uri(format!("./{ds}")),
            items: std::mem::take(&mut self.to_map)
                .into_iter()
                .map(|(guid, luid)| MapItem { target: Target::uri(guid), source: Source::uri(luid) })
                .collect(),
            ..Default::default()
        })
    }

    /// Every Status the server sent in this session.
    pub fn all_statuses(&self) -> Vec<Status> {
        self.received
            .iter()
            .flat_map(|m| m.body.iter())
            .filter_map(|c| match c {
                Command::Status(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    /// The statuses answering commands named `cmd` of our message `msg_id`.
    pub fn status_in_reply_to(&self, msg_id: u32, cmd: CmdName) -> Vec<Status> {
        self.all_statuses().into_iter().filter(|s| s.msg_ref == Some(msg_id) && s.cmd == cmd).collect()
    }

    /// The last status for command `cmd` with CmdRef `cmd_ref` in any message.
    pub fn find_status(&self, cmd: CmdName, cmd_ref: u32) -> Option<Status> {
        self.all_statuses().into_iter().rev().find(|s| s.cmd == cmd && s.cmd_ref == cmd_ref)
    }

    /// Ends the device's part (for a later session of the same device).
    pub fn into_device(self) -> Device {
        self.device
    }
}

/// A device that completed a slow sync (so the server knows its anchors and maps).
pub async fn synced_device(ctx: &Ctx, n: u8) -> Result<Device, CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, n));
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    check(run.completed, || "the preparing slow sync did not complete".into())?;
    Ok(s.into_device())
}

/// A synced device adds one new item in a two-way session; returns the device, the item's
/// marker (unique text in its data) and its LUID.
pub async fn add_item(ctx: &Ctx, mut dev: Device) -> Result<(Device, String, String), CaseError> {
    let marker = format!("{}-{}", ctx.case_id, dev.unique());
    let luid = format!("x{marker}");
    let mut s = Session::new(ctx, dev);
    let run = s.sync(AlertCode::TwoWay, vec![add(&luid, vcard(&marker))]).await?;
    let code = run.item_statuses.first().map(|st| st.data.code());
    check(code == Some(201), || format!("the preparing Add was answered {code:?}"))?;
    Ok((s.into_device(), marker, luid))
}

/// The LUID under which the device holds the item carrying `marker`.
pub fn luid_of(dev: &Device, marker: &str) -> Option<String> {
    dev.items.iter().find(|(_, d)| contains(d, marker.as_bytes())).map(|(l, _)| l.clone())
}
