//! Sync alerts and anchors (PROTOCOL.md §3.2, §3.3, §2): slow sync forced on a first sync,
//! the Next-anchor echo, every sync mode 200–205 and the server-alerted codes 206–210, unknown
//! datastores and alert codes.

use crate::conformance::session::{add, add_item, contains, synced_device, vcard, Device, Session, SyncRun};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::{AlertCode, Command, Data};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "alert-01",
            Area::AlertsAnchors,
            "a fresh device's two-way Alert gets 508 and a server Alert 201 (§3.3)",
            alert_01
        ),
        case!(
            "alert-02",
            Area::AlertsAnchors,
            "the sync Alert's Status echoes the Next anchor in Item/Data/Anchor/Next (§2, §3.3)",
            alert_02
        ),
        case!(
            "alert-03",
            Area::AlertsAnchors,
            "the sync Alert's Status has TargetRef/SourceRef of the Alert item (§1.4)",
            alert_03
        ),
        case!(
            "alert-04",
            Area::AlertsAnchors,
            "a requested slow sync (201) is answered 200 with a server Alert 201 (§3.2)",
            alert_04
        ),
        case!(
            "alert-05",
            Area::AlertsAnchors,
            "two-way with the matching Last anchor is answered 200 and a server Alert 200 (§3.3)",
            alert_05
        ),
        case!(
            "alert-06",
            Area::AlertsAnchors,
            "two-way with a Last anchor the server never saw is answered 508 (§3.3)",
            alert_06
        ),
        case!(
            "alert-07",
            Area::AlertsAnchors,
            "the server Alert names Target = client DB, Source = server DB, with a Next anchor (§3.1)",
            alert_07
        ),
        case!(
            "alert-08",
            Area::AlertsAnchors,
            "one-way from client (202) is answered 200 and the server sends no changes (§3.2)",
            alert_08,
            2
        ),
        case!(
            "alert-09",
            Area::AlertsAnchors,
            "refresh from client (203) is answered 200 with no server items; a two-way continues from it (§3.2, §3.3)",
            alert_09
        ),
        case!(
            "alert-10",
            Area::AlertsAnchors,
            "one-way from server (204) is answered 200 and delivers the server's changes (§3.2)",
            alert_10,
            2
        ),
        case!(
            "alert-11",
            Area::AlertsAnchors,
            "refresh from server (205) is answered 200, no 508, and delivers all items (§3.2)",
            alert_11,
            2
        ),
        case!(
            "alert-12",
            Area::AlertsAnchors,
            "server-alerted two-way (206) from a client is accepted like 200 (§3.2)",
            alert_12
        ),
        case!(
            "alert-13",
            Area::AlertsAnchors,
            "server-alerted one-way from client (207) is accepted like 202 (§3.2)",
            alert_13
        ),
        case!(
            "alert-14",
            Area::AlertsAnchors,
            "server-alerted refresh from client (208) is accepted like 203 (§3.2)",
            alert_14
        ),
        case!(
            "alert-15",
            Area::AlertsAnchors,
            "server-alerted one-way from server (209) is accepted like 204 (§3.2)",
            alert_15
        ),
        case!(
            "alert-16",
            Area::AlertsAnchors,
            "server-alerted refresh from server (210) is accepted like 205 (§3.2)",
            alert_16
        ),
        case!("alert-17", Area::AlertsAnchors, "an Alert for an unknown datastore is answered 404 (§2)", alert_17),
        case!("alert-18", Area::AlertsAnchors, "an unknown alert code (299) is answered 406 (§2, §3.2)", alert_18),
        case!("alert-19", Area::AlertsAnchors, "a two-way Alert without anchors forces a slow sync (§3.3)", alert_19),
    ]
}

/// Device `n` adds one new item (a two-way after its slow sync); returns the marker.
async fn add_item_as(ctx: &Ctx, n: u8) -> Result<String, CaseError> {
    let dev = synced_device(ctx, n).await?;
    let (_, marker, _) = add_item(ctx, dev).await?;
    Ok(marker)
}

fn alert_code(run: &SyncRun) -> Option<u16> {
    run.alert_status.as_ref().map(|s| s.data.code())
}

fn server_items(run: &SyncRun) -> usize {
    run.server_syncs.iter().flat_map(|s| s.commands.iter()).count()
}

fn received(s: &Session, marker: &str) -> bool {
    s.server_adds.iter().chain(s.server_replaces.iter()).any(|(_, d)| contains(d, marker.as_bytes()))
}

async fn alert_01(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let run = s.sync(AlertCode::TwoWay, vec![]).await?;
    check(alert_code(&run) == Some(508), || format!("Alert status {:?}", alert_code(&run)))?;
    let server = run.server_alert.and_then(|a| a.data).map(|c| c.code());
    check(server == Some(201), || format!("server Alert {server:?}"))
}

async fn alert_02(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.init(AlertCode::SlowSync, vec![]).await?;
    let sent = s.next_anchor.clone();
    let st = s.status_in_reply_to(1, crate::proto::CmdName::Alert).into_iter().find(|st| st.cmd_ref == 1);
    s.finish().await?;
    let st = st.ok_or_else(|| CaseError::Protocol("no Status for the Alert".into()))?;
    let echoed = st.items.iter().find_map(|i| match &i.data {
        Some(Data::Anchor(a)) => a.next.clone(),
        _ => None,
    });
    check(echoed.is_some() && echoed == sent, || format!("echoed Next {echoed:?}, sent {sent:?}"))
}

async fn alert_03(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    let st = run.alert_status.ok_or_else(|| CaseError::Protocol("no Status for the Alert".into()))?;
    check(st.target_refs == [ctx.datastore.clone()], || format!("TargetRef {:?}", st.target_refs))?;
    check(st.source_refs == [format!("./{}", ctx.datastore)], || format!("SourceRef {:?}", st.source_refs))
}

async fn alert_04(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    check(alert_code(&run) == Some(200), || format!("Alert status {:?}", alert_code(&run)))?;
    let server = run.server_alert.and_then(|a| a.data).map(|c| c.code());
    check(server == Some(201), || format!("server Alert {server:?}"))
}

async fn alert_05(ctx: Ctx) -> CaseResult {
    let dev = synced_device(&ctx, 0).await?;
    let mut s = Session::new(&ctx, dev);
    let run = s.sync(AlertCode::TwoWay, vec![]).await?;
    check(alert_code(&run) == Some(200), || format!("Alert status {:?}", alert_code(&run)))?;
    let server = run.server_alert.and_then(|a| a.data).map(|c| c.code());
    check(server == Some(200), || format!("server Alert {server:?}"))
}

async fn alert_06(ctx: Ctx) -> CaseResult {
    let mut dev = synced_device(&ctx, 0).await?;
    let bogus = format!("never-{}", dev.unique());
    dev.anchors.insert(ctx.datastore.clone(), bogus);
    let mut s = Session::new(&ctx, dev);
    let run = s.sync(AlertCode::TwoWay, vec![]).await?;
    check(alert_code(&run) == Some(508), || format!("Alert status {:?}", alert_code(&run)))
}

async fn alert_07(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    let a = run.server_alert.ok_or_else(|| CaseError::Protocol("no server sync Alert in package 2".into()))?;
    let item = a.items.first().ok_or_else(|| CaseError::Protocol("server Alert without Item".into()))?;
    let target = item.target.as_ref().map(|t| t.loc_uri.as_str());
    let source = item.source.as_ref().map(|t| t.loc_uri.as_str());
    let client_db = format!("./{}", ctx.datastore);
    check(target == Some(client_db.as_str()), || format!("server Alert Target {target:?}"))?;
    check(source == Some(ctx.datastore.as_str()), || format!("server Alert Source {source:?}"))?;
    let next = item.meta.as_ref().and_then(|m| m.anchor.as_ref()).and_then(|a| a.next.clone());
    check(next.is_some_and(|n| !n.is_empty()), || "server Alert without Meta/Anchor/Next".into())
}

async fn alert_08(ctx: Ctx) -> CaseResult {
    let dev = synced_device(&ctx, 0).await?;
    add_item_as(&ctx, 1).await?;
    let mut s = Session::new(&ctx, dev);
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let run = s.sync(AlertCode::OneWayFromClient, vec![add(&format!("x{marker}"), vcard(&marker))]).await?;
    check(alert_code(&run) == Some(200), || format!("Alert status {:?}", alert_code(&run)))?;
    check(server_items(&run) == 0, || format!("{} server changes in a one-way-from-client sync", server_items(&run)))?;
    check(run.item_statuses.iter().any(|st| st.data.code() == 201), || "the client's Add was not answered 201".into())
}

async fn alert_09(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let run = s.sync(AlertCode::RefreshFromClient, vec![add(&format!("x{marker}"), vcard(&marker))]).await?;
    check(alert_code(&run) == Some(200), || format!("Alert status {:?}", alert_code(&run)))?;
    check(server_items(&run) == 0, || format!("{} server changes in a refresh from client", server_items(&run)))?;
    // The session is complete after package 4: the next two-way continues from its anchors.
    let mut s = Session::new(&ctx, s.into_device());
    let run = s.sync(AlertCode::TwoWay, vec![]).await?;
    check(alert_code(&run) == Some(200), || format!("the two-way after it answered {:?}", alert_code(&run)))
}

async fn alert_10(ctx: Ctx) -> CaseResult {
    let dev = synced_device(&ctx, 0).await?;
    let marker = add_item_as(&ctx, 1).await?;
    let mut s = Session::new(&ctx, dev);
    let run = s.sync(AlertCode::OneWayFromServer, vec![]).await?;
    check(alert_code(&run) == Some(200), || format!("Alert status {:?}", alert_code(&run)))?;
    check(received(&s, &marker), || "the other device's new item was not delivered".into())
}

async fn alert_11(ctx: Ctx) -> CaseResult {
    let marker = add_item_as(&ctx, 1).await?;
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let run = s.sync(AlertCode::RefreshFromServer, vec![]).await?;
    check(alert_code(&run) == Some(200), || format!("Alert status {:?}", alert_code(&run)))?;
    check(received(&s, &marker), || "an existing server item was not delivered".into())
}

/// A server-alerted code sent by the client: accepted (2xx) like its plain equivalent.
async fn server_alerted(ctx: Ctx, code: u16, after_slow: bool) -> CaseResult {
    let dev = if after_slow { synced_device(&ctx, 0).await? } else { Device::new(&ctx, 0) };
    let mut s = Session::new(&ctx, dev);
    let run = s.sync(AlertCode::from(code), vec![]).await?;
    let got = alert_code(&run);
    check(matches!(got, Some(200..=299)), || format!("Alert {code} answered {got:?}"))?;
    check(run.completed, || "the session did not complete".into())
}

async fn alert_12(ctx: Ctx) -> CaseResult {
    server_alerted(ctx, 206, true).await
}

async fn alert_13(ctx: Ctx) -> CaseResult {
    server_alerted(ctx, 207, true).await
}

async fn alert_14(ctx: Ctx) -> CaseResult {
    server_alerted(ctx, 208, false).await
}

async fn alert_15(ctx: Ctx) -> CaseResult {
    server_alerted(ctx, 209, true).await
}

async fn alert_16(ctx: Ctx) -> CaseResult {
    server_alerted(ctx, 210, false).await
}

/// The status of a single Alert in package 1 (the session is completed when it opened).
async fn alert_status_of(ctx: &Ctx, edit: impl FnOnce(&mut Command)) -> Result<u16, CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    let (mut alert, next) = s.sync_alert(AlertCode::TwoWay);
    edit(&mut alert);
    s.next_anchor = Some(next);
    let reply = s.login(vec![alert], true).await?;
    crate::conformance::session::require_auth(&reply)?;
    s.until_final(reply, 20).await?;
    let st = s.status_in_reply_to(1, crate::proto::CmdName::Alert).into_iter().find(|st| st.cmd_ref == 1);
    let code = st.map(|st| st.data.code()).ok_or_else(|| CaseError::Protocol("no Status for the Alert".into()))?;
    if s.server_sync_alert().is_some() {
        s.finish().await?;
    }
    Ok(code)
}

async fn alert_17(ctx: Ctx) -> CaseResult {
    let code = alert_status_of(&ctx, |c| {
        if let Command::Alert(a) = c {
            if let Some(t) = a.items.get_mut(0).and_then(|i| i.target.as_mut()) {
                t.loc_uri = "no-such-datastore-here".into();
            }
        }
    })
    .await?;
    check(code == 404, || format!("Alert status {code}"))
}

async fn alert_18(ctx: Ctx) -> CaseResult {
    let code = alert_status_of(&ctx, |c| {
        if let Command::Alert(a) = c {
            a.data = Some(AlertCode::Other(299));
        }
    })
    .await?;
    check(code == 406, || format!("Alert status {code}"))
}

async fn alert_19(ctx: Ctx) -> CaseResult {
    let dev = synced_device(&ctx, 0).await?;
    let mut s = Session::new(&ctx, dev);
    let (mut alert, _) = s.sync_alert(AlertCode::TwoWay);
    if let Command::Alert(a) = &mut alert {
        if let Some(item) = a.items.get_mut(0) {
            item.meta = None;
        }
    }
    let reply = s.login(vec![alert], true).await?;
    crate::conformance::session::require_auth(&reply)?;
    s.until_final(reply, 20).await?;
    let code = s
        .status_in_reply_to(1, crate::proto::CmdName::Alert)
        .into_iter()
        .find(|st| st.cmd_ref == 1)
        .map(|st| st.data.code());
    let server = s.server_sync_alert().and_then(|a| a.data).map(|c| c.code());
    if server.is_some() {
        s.finish().await?;
    }
    check(code == Some(508) || server == Some(201), || format!("Alert status {code:?}, server Alert {server:?}"))
}
