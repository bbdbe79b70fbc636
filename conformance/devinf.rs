//! Device information (PROTOCOL.md §7.1, §1.1): Put answered 200, Get answered with Results
//! carrying a DevInf 1.2 of a server, its datastores and sync capabilities.

use crate::conformance::session::{Device, Session};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::{AlertCode, CmdName, Command, DevInf, Results};

pub fn cases() -> Vec<Case> {
    vec![
        case!("devinf-01", Area::DevInf, "a Put of the client DevInf (./devinf12) is answered 200 (§7.1)", devinf_01),
        case!(
            "devinf-02",
            Area::DevInf,
            "a Get of ./devinf12 is answered 200 and by Results with CmdRef/MsgRef of the Get (§7.1)",
            devinf_02
        ),
        case!(
            "devinf-03",
            Area::DevInf,
            "the server DevInf has VerDTD 1.2, DevTyp server and a DevID (§7.1)",
            devinf_03
        ),
        case!(
            "devinf-04",
            Area::DevInf,
            "the server DevInf lists the alerted datastore with Rx-Pref, Tx-Pref and SyncCap (§7.1)",
            devinf_04
        ),
        case!("devinf-05", Area::DevInf, "the server's SyncCap uses only the SyncTypes 1–7 (§7.1)", devinf_05),
        case!(
            "devinf-06",
            Area::DevInf,
            "Results carry the DevInf Meta Type of the encoding (…devinf+xml in XML) and Source ./devinf12 (§1.1, §7.1)",
            devinf_06
        ),
        case!(
            "devinf-07",
            Area::DevInf,
            "a DevInf 1.2 with device-level CTCap (as the Nokia N900 sends) is accepted: 200 (§7.1)",
            devinf_07
        ),
    ]
}

/// A slow-sync session of a fresh device whose package 1 also has a Get of the DevInf;
/// returns the session (completed), the Get's CmdID and the Results.
async fn get_devinf(ctx: &Ctx) -> Result<(Session, u32, Option<Results>), CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    let get = s.devinf_get();
    s.init(AlertCode::SlowSync, vec![get]).await?;
    let get_id = s
        .sent
        .first()
        .into_iter()
        .flat_map(|m| m.body.iter())
        .find(|c| matches!(c, Command::Get(_)))
        .map(Command::cmd_id)
        .unwrap_or(0);
    let results = s.received.iter().flat_map(|m| m.body.iter()).find_map(|c| match c {
        Command::Results(r) => Some(r.clone()),
        _ => None,
    });
    s.finish().await?;
    Ok((s, get_id, results))
}

async fn server_devinf(ctx: &Ctx) -> Result<DevInf, CaseError> {
    let (s, _, _) = get_devinf(ctx).await?;
    s.server_devinf().ok_or_else(|| CaseError::Protocol("no DevInf in the Results".into()))
}

async fn devinf_01(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.init(AlertCode::SlowSync, vec![]).await?;
    let put_id = s
        .sent
        .first()
        .into_iter()
        .flat_map(|m| m.body.iter())
        .find(|c| matches!(c, Command::Put(_)))
        .map(Command::cmd_id);
    let st = s.status_in_reply_to(1, CmdName::Put).into_iter().find(|st| Some(st.cmd_ref) == put_id);
    s.finish().await?;
    let code = st.map(|st| st.data.code());
    check(code == Some(200), || format!("Put answered {code:?}"))
}

async fn devinf_02(ctx: Ctx) -> CaseResult {
    let (s, get_id, results) = get_devinf(&ctx).await?;
    let st = s.status_in_reply_to(1, CmdName::Get).into_iter().find(|st| st.cmd_ref == get_id);
    let code = st.map(|st| st.data.code());
    check(code == Some(200), || format!("Get answered {code:?}"))?;
    let r = results.ok_or_else(|| CaseError::Protocol("no Results for the Get".into()))?;
    check(r.cmd_ref == get_id, || format!("Results CmdRef {}, Get CmdID {get_id}", r.cmd_ref))?;
    check(r.msg_ref.is_none_or(|m| m == 1), || format!("Results MsgRef {:?}", r.msg_ref))
}

async fn devinf_03(ctx: Ctx) -> CaseResult {
    let d = server_devinf(&ctx).await?;
    check(d.ver_dtd == "1.2", || format!("VerDTD {:?}", d.ver_dtd))?;
    check(d.dev_typ == "server", || format!("DevTyp {:?}", d.dev_typ))?;
    check(!d.dev_id.trim().is_empty(), || "empty DevID".into())
}

async fn devinf_04(ctx: Ctx) -> CaseResult {
    let d = server_devinf(&ctx).await?;
    let names: Vec<&str> = d.data_stores.iter().map(|ds| ds.source_ref.as_str()).collect();
    let ds = d
        .data_stores
        .iter()
        .find(|ds| ds.source_ref.trim_start_matches("./") == ctx.datastore)
        .ok_or_else(|| CaseError::Protocol(format!("{:?} not among the datastores {names:?}", ctx.datastore)))?;
    check(ds.rx_pref.is_some() && ds.tx_pref.is_some(), || "no Rx-Pref/Tx-Pref".into())?;
    check(!ds.sync_cap.is_empty(), || "no SyncCap".into())
}

async fn devinf_05(ctx: Ctx) -> CaseResult {
    let d = server_devinf(&ctx).await?;
    for ds in &d.data_stores {
        for t in &ds.sync_cap {
            check(matches!(t.trim(), "1" | "2" | "3" | "4" | "5" | "6" | "7"), || {
                format!("datastore {} SyncType {t:?}", ds.source_ref)
            })?;
        }
    }
    Ok(())
}

async fn devinf_06(ctx: Ctx) -> CaseResult {
    let (s, _, results) = get_devinf(&ctx).await?;
    let r = results.ok_or_else(|| CaseError::Protocol("no Results for the Get".into()))?;
    let t = r.meta.as_ref().and_then(|m| m.type_.clone());
    let want = s.device.encoding.devinf_type();
    check(t.as_deref() == Some(want), || format!("Results Meta Type {t:?}, expected {want}"))?;
    let src = r.items.first().and_then(|i| i.source.as_ref()).map(|s| s.loc_uri.clone());
    check(src.as_deref() == Some("./devinf12"), || format!("Results Item Source {src:?}"))
}

async fn devinf_07(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.device.put_devinf = false;
    let mut put = s.devinf_put();
    if let Command::Put(p) = &mut put {
        if let Some(crate::proto::Data::DevInf(d)) = p.items.get_mut(0).and_then(|i| i.data.as_mut()) {
            // What the Nokia N900 sends: a 1.2 document with the CTCap at device level.
            d.ct_caps = vec![crate::proto::CtCap {
                ct_type: "text/vcard".into(),
                ver_ct: Some("3.0".into()),
                field_level: false,
                properties: vec![crate::proto::Property { prop_name: "FN".into(), ..Default::default() }],
            }];
        }
    }
    s.init(AlertCode::SlowSync, vec![put]).await?;
    let put_id = s
        .sent
        .first()
        .into_iter()
        .flat_map(|m| m.body.iter())
        .find(|c| matches!(c, Command::Put(_)))
        .map(Command::cmd_id);
    let st = s.status_in_reply_to(1, CmdName::Put).into_iter().find(|st| Some(st.cmd_ref) == put_id);
    s.finish().await?;
    let code = st.map(|st| st.data.code());
    check(code == Some(200), || format!("Put of a DevInf with device-level CTCap answered {code:?}"))
}
