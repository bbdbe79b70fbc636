//! Status rules (PROTOCOL.md §1.4, §1.5, §2, §1.1): the SyncHdr status first, MsgRef/CmdRef/Cmd
//! naming what we sent, CmdIDs, statuses in command order, NoResp, non-final messages and Alert
//! 222, and the cached answer to a resent message.

use std::collections::HashSet;

use crate::conformance::session::{add, statuses, vcard, Device, Session, SyncRun};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::{AlertCode, CmdName, Command, Message};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "status-01",
            Area::StatusRules,
            "the Status for the SyncHdr comes first in every reply (§1.4)",
            status_01
        ),
        case!(
            "status-02",
            Area::StatusRules,
            "every Status names by MsgRef/CmdRef/Cmd a command the client sent (§1.4)",
            status_02
        ),
        case!(
            "status-03",
            Area::StatusRules,
            "CmdIDs in each server message are unique and count up from 1 (§1.4)",
            status_03
        ),
        case!(
            "status-04",
            Area::StatusRules,
            "statuses come in the order of the commands they answer (§1.4)",
            status_04
        ),
        case!("status-05", Area::StatusRules, "the server never answers a Status with a Status (§2)", status_05),
        case!("status-06", Area::StatusRules, "a command with NoResp gets no Status (§1.4)", status_06),
        case!("status-07", Area::StatusRules, "a non-final client message is answered without Final (§1.5)", status_07),
        case!(
            "status-08",
            Area::StatusRules,
            "a non-final message with SyncHdr NoResp is answered with Alert 222 (§1.5)",
            status_08
        ),
        case!("status-09", Area::StatusRules, "a byte-identical resend gets the same answer (§1.1)", status_09),
    ]
}

/// A slow sync of a fresh device sending three Adds (three commands).
async fn three_adds(ctx: &Ctx) -> Result<(Session, SyncRun), CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    let base = format!("{}-{}", ctx.case_id, s.device.unique());
    let adds = (1..=3).map(|i| add(&format!("x{base}-{i}"), vcard(&format!("{base}-{i}")))).collect();
    let run = s.sync(AlertCode::SlowSync, adds).await?;
    Ok((s, run))
}

async fn status_01(ctx: Ctx) -> CaseResult {
    let (s, _) = three_adds(&ctx).await?;
    for m in s.received.iter().filter(|m| !m.header.no_resp) {
        let first = m.body.first();
        let ok = matches!(first, Some(Command::Status(st)) if st.cmd == CmdName::SyncHdr && st.cmd_ref == 0);
        check(ok, || {
            format!("reply {} starts with {:?}", m.header.msg_id, first.map(|c| c.name().as_str().to_string()))
        })?;
    }
    Ok(())
}

/// (MsgID, CmdID, name) of every command we sent, nested ones included, plus the SyncHdrs.
fn sent_refs(sent: &[Message]) -> HashSet<(u32, u32, String)> {
    fn walk(msg: u32, cmds: &[Command], out: &mut HashSet<(u32, u32, String)>) {
        for c in cmds {
            out.insert((msg, c.cmd_id(), c.name().as_str().to_string()));
            if let Command::Sync(s) = c {
                walk(msg, &s.commands, out);
            }
        }
    }
    let mut out = HashSet::new();
    for m in sent {
        out.insert((m.header.msg_id, 0, "SyncHdr".to_string()));
        walk(m.header.msg_id, &m.body, &mut out);
    }
    out
}

async fn status_02(ctx: Ctx) -> CaseResult {
    let (s, _) = three_adds(&ctx).await?;
    let refs = sent_refs(&s.sent);
    for st in s.all_statuses() {
        let key = (st.msg_ref.unwrap_or(0), st.cmd_ref, st.cmd.as_str().to_string());
        check(refs.contains(&key), || {
            format!("Status MsgRef {:?} CmdRef {} Cmd {} names nothing sent", st.msg_ref, st.cmd_ref, st.cmd.as_str())
        })?;
    }
    Ok(())
}

async fn status_03(ctx: Ctx) -> CaseResult {
    let (s, _) = three_adds(&ctx).await?;
    fn ids(cmds: &[Command], out: &mut Vec<u32>) {
        for c in cmds {
            out.push(c.cmd_id());
            if let Command::Sync(s) = c {
                ids(&s.commands, out);
            }
        }
    }
    for m in &s.received {
        let mut got = Vec::new();
        ids(&m.body, &mut got);
        let unique: HashSet<u32> = got.iter().copied().collect();
        check(unique.len() == got.len(), || format!("reply {}: repeated CmdIDs {got:?}", m.header.msg_id))?;
        check(got.first().is_none_or(|&f| f == 1), || {
            format!("reply {}: CmdIDs {got:?} do not start at 1", m.header.msg_id)
        })?;
        check(got.windows(2).all(|w| w[0] < w[1]), || {
            format!("reply {}: CmdIDs {got:?} do not count up", m.header.msg_id)
        })?;
    }
    Ok(())
}

async fn status_04(ctx: Ctx) -> CaseResult {
    let (s, run) = three_adds(&ctx).await?;
    let sync_msg = run.item_statuses.first().and_then(|st| st.msg_ref).unwrap_or(0);
    for m in &s.received {
        let order: Vec<u32> = statuses(m)
            .filter(|st| st.msg_ref == Some(sync_msg) && st.cmd != CmdName::SyncHdr)
            .map(|st| st.cmd_ref)
            .collect();
        check(order.windows(2).all(|w| w[0] <= w[1]), || {
            format!("statuses for message {sync_msg} in CmdRef order {order:?}")
        })?;
    }
    check(run.item_statuses.len() == 3, || format!("{} item statuses for 3 Adds", run.item_statuses.len()))
}

async fn status_05(ctx: Ctx) -> CaseResult {
    let (s, _) = three_adds(&ctx).await?;
    let bad = s.all_statuses().into_iter().find(|st| st.cmd == CmdName::Status);
    check(bad.is_none(), || format!("a Status answering our Status {:?}", bad.map(|b| b.cmd_ref)))
}

async fn status_06(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let mut quiet = add(&format!("x{marker}"), vcard(&marker));
    if let Command::Add(a) = &mut quiet {
        a.no_resp = true;
    }
    let run = s.sync(AlertCode::SlowSync, vec![quiet]).await?;
    check(run.item_statuses.is_empty(), || format!("{} Status(es) for an Add with NoResp", run.item_statuses.len()))
}

/// Opens a slow sync and sends the first half of package 3 (one Add, not final), with the
/// SyncHdr's NoResp set as given. Returns the session and the answer.
async fn half_package(ctx: &Ctx, no_resp: bool) -> Result<(Session, Message), CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    s.init(AlertCode::SlowSync, vec![]).await?;
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let sync = s.sync_command(vec![add(&format!("x{marker}"), vcard(&marker))]);
    let mut msg = s.next_message(vec![sync], false);
    msg.header.no_resp = no_resp;
    let reply = s.exchange(msg).await?;
    Ok((s, reply))
}

async fn rest_of_package(s: &mut Session) -> CaseResult {
    let reply = s.send(vec![s.sync_command(vec![])], true).await?;
    s.until_final(reply, 50).await?;
    s.map_phase(&mut SyncRun::default()).await
}

async fn status_07(ctx: Ctx) -> CaseResult {
    let (mut s, reply) = half_package(&ctx, false).await?;
    rest_of_package(&mut s).await?;
    check(!reply.final_, || "the answer to a non-final message carries Final".into())
}

async fn status_08(ctx: Ctx) -> CaseResult {
    let (mut s, reply) = half_package(&ctx, true).await?;
    let has_222 = reply.body.iter().any(|c| matches!(c, Command::Alert(a) if a.data == Some(AlertCode::NextMessage)));
    let names: Vec<String> = reply.body.iter().map(|c| c.name().as_str().to_string()).collect();
    rest_of_package(&mut s).await?;
    check(has_222, || format!("the answer holds {names:?}, no Alert 222"))
}

async fn status_09(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.init(AlertCode::SlowSync, vec![]).await?;
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let msg = s.next_message(vec![s.sync_command(vec![add(&format!("x{marker}"), vcard(&marker))])], true);
    let bytes = crate::codec::encode_message(&msg, s.device.encoding)?;
    let ct = s.device.encoding.content_type();
    let first = s.post_raw(bytes.clone(), ct).await?;
    let again = s.post_raw(bytes, ct).await?;
    let reply = s.decode(&first)?;
    let resent = s.decode(&again)?;
    s.accept(&reply);
    s.until_final(reply.clone(), 50).await?;
    s.map_phase(&mut SyncRun::default()).await?;
    check(again.body == first.body || resent == reply, || "the resend got a different answer".into())
}
