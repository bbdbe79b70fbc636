//! The map phase (PROTOCOL.md §3.1, §3.5): Map answered 200, mapped items not sent again,
//! Map statuses referencing the Map, and early maps from an interrupted map phase.

use crate::conformance::session::{add_item, contains, synced_device, Device, Session};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::{AlertCode, CmdName, Command};

pub fn cases() -> Vec<Case> {
    vec![
        case!("map-01", Area::Map, "a Map of the received Adds is answered 200 (§3.5)", map_01, 2),
        case!("map-02", Area::Map, "mapped items are not sent again in the next two-way sync (§3.5)", map_02, 2),
        case!(
            "map-03",
            Area::Map,
            "the Map Status has CmdRef = the Map's CmdID and package 6 carries Final (§3.1)",
            map_03,
            2
        ),
        case!(
            "map-04",
            Area::Map,
            "an early Map in package 1 of the next session is answered 200 and honoured (§3.1)",
            map_04,
            2
        ),
    ]
}

/// Device a adds an item; fresh device b slow-syncs (receiving it). Returns b's session.
async fn fresh_receiver(
    ctx: &Ctx,
    hold_map: bool,
) -> Result<(Session, String, crate::conformance::session::SyncRun), CaseError> {
    let a = synced_device(ctx, 0).await?;
    let (_, marker, _) = add_item(ctx, a).await?;
    let mut s = Session::new(ctx, Device::new(ctx, 1));
    s.hold_map = hold_map;
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    check(s.server_adds.iter().any(|(_, d)| contains(d, marker.as_bytes())), || "the item was not delivered".into())?;
    Ok((s, marker, run))
}

async fn map_01(ctx: Ctx) -> CaseResult {
    let (_, _, run) = fresh_receiver(&ctx, false).await?;
    let st = run.map_status.ok_or_else(|| CaseError::Protocol("no Status for the Map".into()))?;
    check(st.data.code() == 200, || format!("Map answered {}", st.data))
}

async fn map_02(ctx: Ctx) -> CaseResult {
    let (s, marker, _) = fresh_receiver(&ctx, false).await?;
    let mut s = Session::new(&ctx, s.into_device());
    s.sync(AlertCode::TwoWay, vec![]).await?;
    let again = s.server_adds.iter().filter(|(_, d)| contains(d, marker.as_bytes())).count();
    check(again == 0, || format!("the mapped item was sent {again} more time(s)"))
}

async fn map_03(ctx: Ctx) -> CaseResult {
    let (s, _, run) = fresh_receiver(&ctx, false).await?;
    let st = run.map_status.ok_or_else(|| CaseError::Protocol("no Status for the Map".into()))?;
    let map_msg = s
        .sent
        .iter()
        .find(|m| m.body.iter().any(|c| matches!(c, Command::Map(_))))
        .ok_or_else(|| CaseError::Protocol("no Map was sent".into()))?;
    let map_id = map_msg.body.iter().find(|c| matches!(c, Command::Map(_))).map(Command::cmd_id);
    check(Some(st.cmd_ref) == map_id, || format!("Map Status CmdRef {}, Map CmdID {map_id:?}", st.cmd_ref))?;
    check(st.msg_ref == Some(map_msg.header.msg_id), || format!("Map Status MsgRef {:?}", st.msg_ref))?;
    check(run.completed, || "package 6 without Final".into())
}

async fn map_04(ctx: Ctx) -> CaseResult {
    let (s, marker, _) = fresh_receiver(&ctx, true).await?;
    let mut dev = s.into_device();
    let held: Vec<(String, String)> = dev.guids.iter().map(|(g, l)| (g.clone(), l.clone())).collect();
    dev.put_devinf = false;
    let mut s = Session::new(&ctx, dev);
    s.to_map = held;
    let map = s.map_command();
    s.init(AlertCode::TwoWay, vec![map]).await?;
    let st = s.status_in_reply_to(1, CmdName::Map).into_iter().next();
    s.finish().await?;
    let code = st.map(|st| st.data.code());
    check(code == Some(200), || format!("early Map answered {code:?}"))?;
    let again = s.server_adds.iter().filter(|(_, d)| contains(d, marker.as_bytes())).count();
    check(again == 0, || format!("the early-mapped item was sent {again} more time(s)"))
}
