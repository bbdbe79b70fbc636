//! Suspend and resume (DS 1.2, PROTOCOL.md §3.7): Alert 224 answered 200, Alert 225 resuming,
//! 509 (or 508) when nothing was suspended. Not applicable when the server's DevInf is not 1.2
//! or it answers the suspend with 406.

use crate::conformance::session::{statuses, synced_device, Device, Session};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::{Alert, AlertCode, CmdName, Command, Item, Source, Target};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "susp-01",
            Area::SuspendResume,
            "Alert 224 (suspend) after package 2 is answered 200 and ends the session (§3.7)",
            susp_01
        ),
        case!(
            "susp-02",
            Area::SuspendResume,
            "Alert 225 (resume) of the suspended session is answered 200 (§3.7)",
            susp_02
        ),
        case!(
            "susp-03",
            Area::SuspendResume,
            "Alert 225 with nothing suspended is answered 509 (or 508) (§3.7)",
            susp_03
        ),
        case!(
            "susp-04",
            Area::SuspendResume,
            "after the resumed session completes, a two-way sync is answered 200 (§3.7)",
            susp_04
        ),
    ]
}

/// A fresh device that opened a slow sync (with a DevInf Get) and suspended it after
/// package 2; returns the device and the status of the Alert 224.
async fn suspended(ctx: &Ctx) -> Result<(Device, u16), CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    let get = s.devinf_get();
    s.init(AlertCode::SlowSync, vec![get]).await?;
    let ver = s.server_devinf().map(|d| d.ver_dtd);
    if ver.as_deref().is_some_and(|v| v != "1.2") {
        s.finish().await?;
        return Err(CaseError::NotApplicable(format!("the server's DevInf is {ver:?}, suspend is DS 1.2")));
    }
    let suspend = Command::Alert(Alert {
        cmd_id: 0,
        no_resp: false,
        cred: None,
        data: Some(AlertCode::Suspend),
        correlator: None,
        items: vec![Item {
            target: Some(Target::uri(&ctx.url_text)),
            source: Some(Source::uri(&s.device.id)),
            ..Default::default()
        }],
    });
    let msg = s.next_message(vec![suspend], true);
    let alert_id = msg.body.iter().find(|c| matches!(c, Command::Alert(_))).map(Command::cmd_id).unwrap_or(0);
    let msg_id = msg.header.msg_id;
    let reply = s.exchange(msg).await?;
    let code = statuses(&reply)
        .find(|st| st.msg_ref == Some(msg_id) && st.cmd == CmdName::Alert && st.cmd_ref == alert_id)
        .map(|st| st.data.code())
        .ok_or_else(|| CaseError::Protocol("no Status for the Alert 224".into()))?;
    if code == 406 {
        return Err(CaseError::NotApplicable("Alert 224 answered 406 (suspend not supported)".into()));
    }
    if !reply.final_ {
        s.until_final(reply, 20).await?;
    }
    Ok((s.into_device(), code))
}

/// Resumes the suspended session of `dev`: returns the status of the Alert 225 and the session
/// (completed).
async fn resume(ctx: &Ctx, dev: Device) -> Result<(Session, Option<u16>), CaseError> {
    let mut s = Session::new(ctx, dev);
    s.device.put_devinf = false;
    s.init(AlertCode::Resume, vec![]).await?;
    let code = s.status_in_reply_to(1, CmdName::Alert).into_iter().find(|st| st.cmd_ref == 1).map(|st| st.data.code());
    if matches!(code, Some(200..=299 | 508 | 509)) {
        s.finish().await?;
    }
    Ok((s, code))
}

async fn susp_01(ctx: Ctx) -> CaseResult {
    let (_, code) = suspended(&ctx).await?;
    check(code == 200, || format!("Alert 224 answered {code}"))
}

async fn susp_02(ctx: Ctx) -> CaseResult {
    let (dev, _) = suspended(&ctx).await?;
    let (_, code) = resume(&ctx, dev).await?;
    check(code == Some(200), || format!("Alert 225 answered {code:?}"))
}

async fn susp_03(ctx: Ctx) -> CaseResult {
    let dev = synced_device(&ctx, 0).await?;
    let (_, code) = resume(&ctx, dev).await?;
    check(matches!(code, Some(509 | 508)), || format!("Alert 225 with nothing suspended answered {code:?}"))
}

async fn susp_04(ctx: Ctx) -> CaseResult {
    let (dev, _) = suspended(&ctx).await?;
    let (s, code) = resume(&ctx, dev).await?;
    check(code.is_some_and(|c| (200..300).contains(&c)), || format!("Alert 225 answered {code:?}"))?;
    let mut s = Session::new(&ctx, s.into_device());
    let run = s.sync(AlertCode::TwoWay, vec![]).await?;
    let code = run.alert_status.map(|st| st.data.code());
    check(code == Some(200), || format!("the two-way after the resumed session answered {code:?}"))
}
