//! Sync alerts (PROTOCOL.md §3.2–3.3): datastore resolution, sync mode negotiation, anchor
//! checks forcing slow sync (508), suspend (224) and resume (225; refused with 509 without
//! saved state, resume.rs), the Next-anchor echo, and the server's own Alert.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::engine::filters;
use crate::engine::reply::ReplyBuilder;
use crate::engine::resume;
use crate::engine::session::{alert_code, ds_item, Chunk, Direction, DsState, Session};
use crate::engine::{Context, Engine};
use crate::proto::{Alert, AlertCode, Anchor, CmdName, Command, Data, Item, Meta, StatusCode, Version};
use crate::store::{Commit, StoreError};

/// The datastore name in an Alert/Sync target URI: `./contacts?x` → `contacts`.
pub(crate) fn datastore_name(uri: &str) -> String {
    let no_cgi = uri.split('?').next().unwrap_or("");
    no_cgi.trim_start_matches("./").trim_end_matches('/').to_string()
}

impl Engine {
    pub(crate) fn alert(
        &self,
        s: &mut Session,
        r: &mut ReplyBuilder,
        a: &Alert,
        ctx: &Context,
    ) -> Result<(), StoreError> {
        let Some(code) = a.data else {
            if !a.no_resp {
                r.status(a.cmd_id, CmdName::Alert, StatusCode::BadRequest);
            }
            return Ok(());
        };
        let code = code.without_server_alert();
        match code {
            AlertCode::TwoWay
            | AlertCode::SlowSync
            | AlertCode::OneWayFromClient
            | AlertCode::RefreshFromClient
            | AlertCode::OneWayFromServer
            | AlertCode::RefreshFromServer => {
                for item in &a.items {
                    self.sync_alert(s, r, a, code, item, ctx)?;
                }
                if a.items.is_empty() && !a.no_resp {
                    r.status(a.cmd_id, CmdName::Alert, StatusCode::BadRequest);
                }
                Ok(())
            }
            // Suspend (DS 1.2, PROTOCOL.md §3.7): the session ends with this exchange.
            AlertCode::Suspend if s.version == Version::V1_2 => {
                tracing::info!(device = ?s.device, "client suspends the session");
                s.suspend_requested = true;
                if !a.no_resp {
                    r.status(a.cmd_id, CmdName::Alert, StatusCode::Ok);
                }
                Ok(())
            }
            AlertCode::Resume if s.version == Version::V1_2 => {
                for item in &a.items {
                    self.sync_alert(s, r, a, code, item, ctx)?;
                }
                if a.items.is_empty() && !a.no_resp {
                    r.status(a.cmd_id, CmdName::Alert, StatusCode::BadRequest);
                }
                Ok(())
            }
            AlertCode::NextMessage | AlertCode::Display => {
                if !a.no_resp {
                    r.status(a.cmd_id, CmdName::Alert, StatusCode::Ok);
                }
                Ok(())
            }
            other => {
                tracing::info!(code = other.code(), "alert not supported: 406");
                if !a.no_resp {
                    r.status(a.cmd_id, CmdName::Alert, StatusCode::OptionalFeatureNotSupported).items = vec![Item {
                        data: Some(Data::Bytes(format!("alert {} is not supported", other.code()).into_bytes())),
                        ..Default::default()
                    }];
                }
                Ok(())
            }
        }
    }

    fn sync_alert(
        &self,
        s: &mut Session,
        r: &mut ReplyBuilder,
        a: &Alert,
        code: AlertCode,
        item: &Item,
        ctx: &Context,
    ) -> Result<(), StoreError> {
        let target = item.target.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
        let source = item.source.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
        // Quirk `empty_target_uses_source` (SonyEricsson C510 sends an empty Target).
        let alerted =
            if target.is_empty() && s.quirks.empty_target_uses_source { source.clone() } else { target.clone() };
        let name = datastore_name(&alerted);
        let cfg = self.config.datastores.iter().find(|d| d.name.eq_ignore_ascii_case(&name));
        let anchor_in = item.meta.as_ref().and_then(|m| m.anchor.clone()).unwrap_or_default();
        // The client's MaxObjSize may come here instead of in the SyncHdr (PROTOCOL.md §1.6).
        if let Some(max) = item.meta.as_ref().and_then(|m| m.max_obj_size) {
            s.max_obj_size = Some(max);
        }
        let status = |r: &mut ReplyBuilder, code: StatusCode| {
            let st = r.status(a.cmd_id, CmdName::Alert, code);
            st.target_refs = vec![target.clone()];
            st.source_refs = vec![source.clone()];
            if code.is_success() || matches!(code, StatusCode::RefreshRequired | StatusCode::Reserved509) {
                st.items = vec![Item {
                    data: Some(Data::Anchor(Anchor { last: None, next: anchor_in.next.clone() })),
                    ..Default::default()
                }];
            }
        };
        let Some(cfg) = cfg else {
            tracing::warn!(datastore = %alerted, "alert for an unknown datastore: 404");
            status(r, StatusCode::NotFound);
            return Ok(());
        };
        if s.phase != crate::engine::session::Phase::Init {
            status(r, StatusCode::Forbidden);
            return Ok(());
        }
        let (Some(user), Some(device)) = (s.user.clone(), s.device.clone()) else { return Ok(()) };
        // A DS 1.2 Filter in the Target (PROTOCOL.md §9): the device's sync set; without one,
        // the standing filter of the device's preferences, if any.
        let filter = match item.target.as_ref().and_then(|t| t.filter.as_deref()) {
            None => filters::standing(self.store.as_ref(), user.id, &device, &cfg.name)?,
            Some(f) => match filters::read(f, s.version) {
                Ok(active) => active,
                Err((code, why)) => {
                    tracing::info!(datastore = %cfg.name, status = code.code(), "filter refused: {why}");
                    let st = r.status(a.cmd_id, CmdName::Alert, code);
                    st.target_refs = vec![target.clone()];
                    st.source_refs = vec![source.clone()];
                    st.items = vec![Item { data: Some(Data::from(why.as_str())), ..Default::default() }];
                    return Ok(());
                }
            },
        }
        .map(|f| f.at(ctx.now));
        // What travels: the device's field filter within the operator's limits.
        let shape = filter.as_ref().map(|f| f.shape.clone()).unwrap_or_default();
        let shape = shape.and(&self.config.limit_shape(s.dev_typ.as_deref(), &cfg.name));
        if !shape.is_whole() {
            tracing::info!(datastore = %cfg.name, ?shape, dev_typ = ?s.dev_typ, "items travel reduced");
            if s.links.is_none() {
                s.links = Some(filters::Links::new(&self.config.links, &user, &ctx.resp_uri, ctx.now));
            }
        }
        // Resume: only with saved state whose anchors the client presents again; any other
        // alert for the datastore drops the saved state.
        // The first datastore of a session that resumes nothing: large objects left half
        // received by an earlier session will not be continued.
        if s.datastores.is_empty() && !resume::has_suspended(self.store.as_ref(), user.id, &device)? {
            self.store.stage_clear(user.id, &device, None)?;
        }
        let saved = resume::take(self.store.as_ref(), user.id, &device, &cfg.name)?;
        let resumed = match saved {
            Some(saved) if code == AlertCode::Resume && saved.client_last == anchor_in.last => Some(saved),
            Some(saved) => {
                if code == AlertCode::Resume {
                    tracing::info!(datastore = %cfg.name, last = ?anchor_in.last, "resume: anchors differ from the suspended session's");
                }
                if let Some(chunk) = &saved.incoming {
                    self.store.stage_clear(user.id, &device, Some(&chunk.key))?;
                }
                None
            }
            None => None,
        };
        let (direction, mut slow) = match code {
            AlertCode::TwoWay => (Direction::TwoWay, false),
            AlertCode::SlowSync => (Direction::TwoWay, true),
            AlertCode::OneWayFromClient => (Direction::FromClient, false),
            AlertCode::RefreshFromClient => (Direction::FromClient, true),
            AlertCode::OneWayFromServer => (Direction::FromServer, false),
            // Resume of an interrupted session: continue in its saved mode (answered 200,
            // libsynthesis server behaviour). Without saved state it is refused (509) and the
            // session continues as a normal two-way sync, slow when the anchors do not match
            // (PROTOCOL.md §3.7).
            AlertCode::Resume => match &resumed {
                Some(saved) => (saved.direction, saved.slow),
                None => (Direction::TwoWay, false),
            },
            _ => (Direction::FromServer, true),
        };
        let stored = self.store.anchor(user.id, &device, &cfg.name)?;
        // A normal sync needs the client's Last to equal the Next we stored last time.
        let mut code_out =
            if code == AlertCode::Resume && resumed.is_none() { StatusCode::Reserved509 } else { StatusCode::Ok };
        if resumed.is_some() {
            tracing::info!(datastore = %cfg.name, mode = ?alert_code(direction, slow), "resuming a suspended session");
        } else if !slow {
            let matches = matches!((&stored, &anchor_in.last), (Some(st), Some(last)) if !st.client_next.is_empty() && st.client_next == *last);
            if !matches {
                tracing::info!(datastore = %cfg.name, stored = ?stored.as_ref().map(|a| &a.client_next), last = ?anchor_in.last, "anchors do not match: 508, slow sync");
                slow = true;
                code_out = StatusCode::RefreshRequired;
            }
        }
        status(r, code_out);

        // Slow sync and refresh invalidate the device's map: LUIDs may have been reused.
        let mut map = HashMap::new();
        let mut rev = HashMap::new();
        let stored_map = self.store.id_map(user.id, &device, &cfg.name)?;
        // A resumed slow sync keeps the maps its interrupted part made.
        if slow && resumed.is_none() {
            if !stored_map.is_empty() {
                let unmaps = stored_map.into_iter().map(|(l, _)| l).collect();
                self.store.commit(user.id, &device, &cfg.name, &Commit { unmaps, ..Default::default() })?;
            }
        } else {
            for (l, g) in stored_map {
                rev.insert(g.clone(), l.clone());
                map.insert(l, g);
            }
        }
        let server_next = format!("{}", ctx.now);
        let link_ttl = i64::try_from(self.config.links.ttl_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
        let kept = stored.as_ref().and_then(|a| a.filter.as_deref());
        let resync = filters::Resync::decide(kept, filter.as_ref(), &shape, slow, ctx.now, link_ttl);
        if resync.sweep || resync.resend {
            tracing::info!(datastore = %cfg.name, sweep = resync.sweep, resend = resync.resend, "filter or shape changed since the last sync: the device's set is brought in line");
        }
        let ds = DsState {
            name: cfg.name.clone(),
            client_uri: source,
            // Quirk `echo_datastore_string`: our Alert/Sync/DevInf name the store as the client did.
            alert_target: if s.quirks.echo_datastore_string { alerted } else { cfg.name.clone() },
            direction,
            slow,
            client_next: anchor_in.next.clone().unwrap_or_default(),
            server_next: server_next.clone(),
            anchor: if slow { None } else { stored.clone() },
            map,
            rev,
            touched: HashSet::new(),
            server_changed: None,
            slow_index: None,
            snapshot_seq: 0,
            outgoing: VecDeque::new(),
            sync_sent: false,
            number_of_changes: 0,
            awaiting_map: HashSet::new(),
            client_last: match &resumed {
                // A second suspend must be resumable with the same anchors.
                Some(saved) => saved.client_last.clone(),
                None => anchor_in.last.clone(),
            },
            sent: Vec::new(),
            front: None,
            filter,
            shape,
            resync,
            resumed,
        };
        // A large object the client was sending when it suspended continues.
        if let Some(chunk) = ds.resumed.as_ref().and_then(|r| r.incoming.clone()) {
            s.chunk = Some(Chunk { resumed: true, ..chunk });
        }
        let mut reply_item = ds_item(&ds);
        reply_item.meta = Some(Meta {
            anchor: Some(Anchor {
                last: stored.map(|a| a.server_next).filter(|l| !l.is_empty()),
                next: Some(server_next),
            }),
            max_obj_size: Some(self.config.max_obj_size),
            ..Default::default()
        });
        s.pending_alerts.push(Command::Alert(Alert {
            cmd_id: 0,
            no_resp: false,
            cred: None,
            data: Some(alert_code(direction, slow)),
            correlator: None,
            items: vec![reply_item],
        }));
        s.datastores.retain(|d| d.name != ds.name);
        s.datastores.push(ds);
        Ok(())
    }
}
