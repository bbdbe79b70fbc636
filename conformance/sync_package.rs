//! The sync package (PROTOCOL.md §2, §3.1, §3.4, §3.5): statuses for Add/Replace/Delete, one
//! Status per item, the Sync status, server changes reaching other devices and not echoing back.

use crate::conformance::session::{
    add, add_item, contains, delete, luid_of, replace, synced_device, vcard, Device, Session, SyncRun,
};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::{AlertCode, CmdName, Command, Data, Item, Source, Status};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "sync-01",
            Area::SyncPackage,
            "an Add in a slow sync is answered 201 with SourceRef = the LUID (§2)",
            sync_01
        ),
        case!(
            "sync-02",
            Area::SyncPackage,
            "the Sync command is answered 200 with TargetRef/SourceRef of the Sync (§2)",
            sync_02
        ),
        case!(
            "sync-03",
            Area::SyncPackage,
            "a Replace of a known item in a two-way sync is answered 200 (§2)",
            sync_03
        ),
        case!("sync-04", Area::SyncPackage, "a Delete of a known item is answered 200 (§2)", sync_04),
        case!("sync-05", Area::SyncPackage, "a Delete of a never-mapped LUID is answered 404 or 211 (§2)", sync_05),
        case!(
            "sync-06",
            Area::SyncPackage,
            "an Add with three Items gets three Statuses, one SourceRef each (§2)",
            sync_06
        ),
        case!("sync-07", Area::SyncPackage, "a Replace of an unknown LUID is added: 201 (or 200) (§2)", sync_07),
        case!(
            "sync-08",
            Area::SyncPackage,
            "a change of one device reaches another device as an Add with the data (§3.1, §3.5)",
            sync_08,
            2
        ),
        case!("sync-09", Area::SyncPackage, "a device's own change is not echoed back to it (§3.5)", sync_09),
        case!("sync-10", Area::SyncPackage, "a server Add carries Source = GUID and no Target (§2)", sync_10, 2),
        case!(
            "sync-11",
            Area::SyncPackage,
            "a Replace reaches another device as Replace with Target = its LUID (§3.5)",
            sync_11,
            2
        ),
        case!(
            "sync-12",
            Area::SyncPackage,
            "a Delete reaches another device as Delete with Target = its LUID (§3.5)",
            sync_12,
            2
        ),
        case!(
            "sync-13",
            Area::SyncPackage,
            "the server's Sync has Target = client DB and Source = server DB (§3.1)",
            sync_13,
            2
        ),
        case!(
            "sync-14",
            Area::SyncPackage,
            "a fresh device's slow sync delivers the existing items (§3.4)",
            sync_14,
            2
        ),
        case!(
            "sync-15",
            Area::SyncPackage,
            "a slow-sync item equal to a server item is matched, not duplicated (§3.4)",
            sync_15,
            2
        ),
    ]
}

fn item_status(run: &SyncRun, i: usize) -> Result<&Status, CaseError> {
    run.item_statuses.get(i).ok_or_else(|| CaseError::Protocol(format!("{} item statuses", run.item_statuses.len())))
}

async fn sync_01(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let luid = format!("x{marker}");
    let run = s.sync(AlertCode::SlowSync, vec![add(&luid, vcard(&marker))]).await?;
    let st = item_status(&run, 0)?;
    check(st.data.code() == 201 && st.cmd == CmdName::Add, || format!("{} {}", st.cmd.as_str(), st.data))?;
    check(st.source_refs == [luid.clone()], || format!("SourceRef {:?}, expected {luid:?}", st.source_refs))
}

async fn sync_02(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    let st = run.sync_status.ok_or_else(|| CaseError::Protocol("no Status for the Sync".into()))?;
    check(st.data.code() == 200, || format!("Sync status {}", st.data))?;
    check(st.target_refs == [ctx.datastore.clone()], || format!("TargetRef {:?}", st.target_refs))?;
    check(st.source_refs == [format!("./{}", ctx.datastore)], || format!("SourceRef {:?}", st.source_refs))
}

async fn sync_03(ctx: Ctx) -> CaseResult {
    let dev = synced_device(&ctx, 0).await?;
    let (dev, marker, luid) = add_item(&ctx, dev).await?;
    let mut s = Session::new(&ctx, dev);
    let run = s.sync(AlertCode::TwoWay, vec![replace(&luid, vcard(&format!("{marker}-changed")))]).await?;
    let st = item_status(&run, 0)?;
    check(st.data.code() == 200, || format!("Replace answered {}", st.data))
}

async fn sync_04(ctx: Ctx) -> CaseResult {
    let dev = synced_device(&ctx, 0).await?;
    let (dev, _, luid) = add_item(&ctx, dev).await?;
    let mut s = Session::new(&ctx, dev);
    let run = s.sync(AlertCode::TwoWay, vec![delete(&luid)]).await?;
    let st = item_status(&run, 0)?;
    check(st.data.code() == 200, || format!("Delete answered {}", st.data))
}

async fn sync_05(ctx: Ctx) -> CaseResult {
    let dev = synced_device(&ctx, 0).await?;
    let mut s = Session::new(&ctx, dev);
    let run = s.sync(AlertCode::TwoWay, vec![delete("never-mapped-luid")]).await?;
    let st = item_status(&run, 0)?;
    check(matches!(st.data.code(), 404 | 211), || format!("Delete answered {}", st.data))
}

async fn sync_06(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let base = format!("{}-{}", ctx.case_id, s.device.unique());
    let luids: Vec<String> = (1..=3).map(|i| format!("x{base}-{i}")).collect();
    let items = luids
        .iter()
        .enumerate()
        .map(|(i, l)| Item {
            source: Some(Source::uri(l)),
            data: Some(Data::Bytes(vcard(&format!("{base}-{i}")))),
            ..Default::default()
        })
        .collect();
    let cmd = Command::Add(crate::proto::Add {
        meta: Some(crate::proto::Meta::with_type("text/vcard")),
        items,
        ..Default::default()
    });
    let run = s.sync(AlertCode::SlowSync, vec![cmd]).await?;
    let mut refs: Vec<String> = run.item_statuses.iter().flat_map(|st| st.source_refs.clone()).collect();
    refs.sort();
    check(run.item_statuses.len() == 3, || format!("{} statuses for 3 items", run.item_statuses.len()))?;
    check(refs == luids, || format!("SourceRefs {refs:?}"))?;
    check(run.item_statuses.iter().all(|st| st.data.code() == 201), || "not every item answered 201".into())
}

async fn sync_07(ctx: Ctx) -> CaseResult {
    let dev = synced_device(&ctx, 0).await?;
    let mut s = Session::new(&ctx, dev);
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let run = s.sync(AlertCode::TwoWay, vec![replace(&format!("x{marker}"), vcard(&marker))]).await?;
    let st = item_status(&run, 0)?;
    check(matches!(st.data.code(), 200 | 201), || format!("Replace of an unknown LUID answered {}", st.data))
}

/// Device b is synced, device a adds an item; then b syncs two-way. Returns b's session.
async fn propagate_add(ctx: &Ctx) -> Result<(Session, String, Device), CaseError> {
    let b = synced_device(ctx, 1).await?;
    let a = synced_device(ctx, 0).await?;
    let (a, marker, _) = add_item(ctx, a).await?;
    let mut s = Session::new(ctx, b);
    s.sync(AlertCode::TwoWay, vec![]).await?;
    Ok((s, marker, a))
}

async fn sync_08(ctx: Ctx) -> CaseResult {
    let (s, marker, _) = propagate_add(&ctx).await?;
    check(s.server_adds.iter().any(|(_, d)| contains(d, marker.as_bytes())), || {
        format!("no Add carrying {marker:?} among {} server Adds", s.server_adds.len())
    })
}

async fn sync_09(ctx: Ctx) -> CaseResult {
    let dev = synced_device(&ctx, 0).await?;
    let (dev, marker, _) = add_item(&ctx, dev).await?;
    let mut s = Session::new(&ctx, dev);
    s.sync(AlertCode::TwoWay, vec![]).await?;
    let echoed = s.server_adds.iter().chain(s.server_replaces.iter()).any(|(_, d)| contains(d, marker.as_bytes()));
    check(!echoed, || "the device's own Add came back in the next session".into())
}

async fn sync_10(ctx: Ctx) -> CaseResult {
    let (s, marker, _) = propagate_add(&ctx).await?;
    let add = s
        .received
        .iter()
        .flat_map(|m| m.body.iter())
        .filter_map(|c| if let Command::Sync(sync) = c { Some(sync) } else { None })
        .flat_map(|sync| sync.commands.iter())
        .filter_map(|c| if let Command::Add(a) = c { Some(a) } else { None })
        .flat_map(|a| a.items.iter())
        .find(|i| i.data.as_ref().and_then(Data::bytes).is_some_and(|d| contains(d, marker.as_bytes())))
        .ok_or_else(|| CaseError::Protocol("the new item was not delivered".into()))?;
    check(add.source.as_ref().is_some_and(|s| !s.loc_uri.is_empty()), || "server Add without Source GUID".into())?;
    check(add.target.is_none(), || format!("server Add with a Target {:?}", add.target))
}

/// b holds a's item mapped; a changes it with `change(luid)`; b syncs two-way.
async fn propagate_change(
    ctx: &Ctx,
    change: impl FnOnce(&str, &str) -> Command,
) -> Result<(Session, String, String), CaseError> {
    let a = synced_device(ctx, 0).await?;
    let (a, marker, a_luid) = add_item(ctx, a).await?;
    let b = synced_device(ctx, 1).await?;
    let b_luid =
        luid_of(&b, &marker).ok_or_else(|| CaseError::Protocol("b's slow sync did not deliver the item".into()))?;
    let mut s = Session::new(ctx, a);
    let run = s.sync(AlertCode::TwoWay, vec![change(&a_luid, &marker)]).await?;
    check(run.item_statuses.first().is_some_and(|st| st.data.is_success()), || "the change was refused".into())?;
    let mut s = Session::new(ctx, b);
    s.sync(AlertCode::TwoWay, vec![]).await?;
    Ok((s, marker, b_luid))
}

async fn sync_11(ctx: Ctx) -> CaseResult {
    let (s, marker, b_luid) = propagate_change(&ctx, |luid, m| replace(luid, vcard(&format!("{m}-changed")))).await?;
    let got = s.server_replaces.iter().find(|(_, d)| contains(d, format!("{marker}-changed").as_bytes()));
    let (target, _) = got.ok_or_else(|| CaseError::Protocol("the Replace was not delivered".into()))?;
    check(*target == b_luid, || format!("Replace Target {target:?}, the device's LUID is {b_luid:?}"))
}

async fn sync_12(ctx: Ctx) -> CaseResult {
    let (s, _, b_luid) = propagate_change(&ctx, |luid, _| delete(luid)).await?;
    check(s.server_deletes.contains(&b_luid), || format!("no Delete for {b_luid:?}: got {:?}", s.server_deletes))
}

async fn sync_13(ctx: Ctx) -> CaseResult {
    let (s, _, _) = propagate_add(&ctx).await?;
    let sync = s
        .received
        .iter()
        .flat_map(|m| m.body.iter())
        .find_map(|c| if let Command::Sync(sync) = c { Some(sync.clone()) } else { None })
        .ok_or_else(|| CaseError::Protocol("no server Sync".into()))?;
    let target = sync.target.map(|t| t.loc_uri);
    let source = sync.source.map(|t| t.loc_uri);
    check(target == Some(format!("./{}", ctx.datastore)), || format!("server Sync Target {target:?}"))?;
    check(source.as_deref() == Some(ctx.datastore.as_str()), || format!("server Sync Source {source:?}"))
}

async fn sync_14(ctx: Ctx) -> CaseResult {
    let a = synced_device(&ctx, 0).await?;
    let (_, marker, _) = add_item(&ctx, a).await?;
    let mut s = Session::new(&ctx, Device::new(&ctx, 1));
    s.sync(AlertCode::SlowSync, vec![]).await?;
    check(s.server_adds.iter().any(|(_, d)| contains(d, marker.as_bytes())), || {
        "the existing item was not delivered".into()
    })
}

async fn sync_15(ctx: Ctx) -> CaseResult {
    let a = synced_device(&ctx, 0).await?;
    let (_, marker, _) = add_item(&ctx, a).await?;
    let mut s = Session::new(&ctx, Device::new(&ctx, 1));
    let run = s.sync(AlertCode::SlowSync, vec![add(&format!("b{marker}"), vcard(&marker))]).await?;
    let st = item_status(&run, 0)?;
    check(st.data.is_success(), || format!("the slow-sync Add answered {}", st.data))?;
    let copies = s.server_adds.iter().filter(|(_, d)| contains(d, marker.as_bytes())).count();
    check(copies == 0, || format!("the server sent {copies} copies of the item the device already has"))
}
