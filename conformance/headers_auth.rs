//! SyncHdr rules (PROTOCOL.md §1.1, §1.4) and authentication (§5): versions, SessionID and
//! MsgID echo, RespURI, content types, 407/401/212, MD5 with the Chal nonce, basic, nonce
//! persistence and rotation.

use crate::conformance::session::{basic_cred, hdr_status, md5_cred, Device, Scheme, Session};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::{AlertCode, Cred, Message, Meta};

pub fn cases() -> Vec<Case> {
    vec![
        case!("hdr-01", Area::Headers, "unsupported VerProto SyncML/9.9 is answered 513 on the SyncHdr (§1.4)", hdr_01),
        case!("hdr-02", Area::Headers, "VerProto 1.2 with VerDTD 9.9 is answered 505 on the SyncHdr (§1.4)", hdr_02),
        case!("hdr-03", Area::Headers, "every reply echoes the client's SessionID (§1.4)", hdr_03),
        case!(
            "hdr-04",
            Area::Headers,
            "server MsgIDs count 1, 2, 3… and the SyncHdr Status has MsgRef = our MsgID (§1.4)",
            hdr_04
        ),
        case!(
            "hdr-05",
            Area::Headers,
            "a RespURI is an absolute URI and the session continues there (§1.4, §1.1)",
            hdr_05
        ),
        case!(
            "hdr-06",
            Area::Headers,
            "reply SyncHdr Target = the client's Source LocURI, Source non-empty (§1.4)",
            hdr_06
        ),
        case!(
            "hdr-07",
            Area::Headers,
            "the reply's Content-Type is the request's (application/vnd.syncml+xml) (§1.1)",
            hdr_07
        ),
        case!("hdr-08", Area::Headers, "a Content-Type with '; charset=UTF-8' is accepted (§1.1)", hdr_08),
        case!("auth-01", Area::Auth, "a message without Cred is answered 407 with a Chal (§5.3)", auth_01),
        case!("auth-02", Area::Auth, "basic Cred with a wrong password is answered 401 with a Chal (§5.3)", auth_02),
        case!("auth-03", Area::Auth, "MD5 credential from the Chal nonce is accepted: 212 (§5.2)", auth_03),
        case!("auth-04", Area::Auth, "basic credential B64(user:password) is accepted: 212 (§5.2)", auth_04),
        case!(
            "auth-05",
            Area::Auth,
            "the Chal names auth-md5/auth-basic; an MD5 Chal has Format b64 and a base64 NextNonce (§5.3)",
            auth_05
        ),
        case!(
            "auth-06",
            Area::Auth,
            "the NextNonce of a 212 is valid for the next session's first message (§5.3)",
            auth_06
        ),
        case!("auth-07", Area::Auth, "each successful session issues a new NextNonce (§5.3)", auth_07),
        case!(
            "auth-08",
            Area::Auth,
            "an MD5 credential replayed with an already used nonce is refused: 401 (§5.3)",
            auth_08
        ),
        case!("auth-09", Area::Auth, "MD5 credential with a wrong password is answered 401 (§5.3)", auth_09),
        case!("auth-10", Area::Auth, "an unknown user is answered 401 (§5.3)", auth_10),
        case!("auth-11", Area::Auth, "an unknown Cred type is answered 406 (§5.3)", auth_11),
        case!("auth-12", Area::Auth, "after 212 later messages without Cred are accepted (§5.3)", auth_12),
        case!("auth-13", Area::Auth, "after a failed login a fresh session (new SessionID) succeeds (§5.3)", auth_13),
    ]
}

/// The first message of a fresh device with its header changed by `edit`.
async fn first_with(ctx: &Ctx, edit: impl FnOnce(&mut Message)) -> Result<(Session, Message), CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    let (alert, _) = s.sync_alert(AlertCode::TwoWay);
    let mut msg = s.next_message(vec![alert], true);
    edit(&mut msg);
    let reply = s.exchange(msg).await?;
    Ok((s, reply))
}

fn hdr_code(msg: &Message) -> Result<u16, CaseError> {
    hdr_status(msg).map(|s| s.data.code()).ok_or_else(|| CaseError::Protocol("no Status for the SyncHdr".into()))
}

async fn hdr_01(ctx: Ctx) -> CaseResult {
    let (_, reply) = first_with(&ctx, |m| m.header.ver_proto = "SyncML/9.9".into()).await?;
    let code = hdr_code(&reply)?;
    check(code == 513, || format!("SyncHdr status {code}"))
}

async fn hdr_02(ctx: Ctx) -> CaseResult {
    let (_, reply) = first_with(&ctx, |m| m.header.ver_dtd = "9.9".into()).await?;
    let code = hdr_code(&reply)?;
    check(code == 505, || format!("SyncHdr status {code}"))
}

async fn hdr_03(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.sync(AlertCode::SlowSync, vec![]).await?;
    for m in &s.received {
        check(m.header.session_id == s.session_id, || {
            format!("reply MsgID {} has SessionID {:?}, sent {:?}", m.header.msg_id, m.header.session_id, s.session_id)
        })?;
    }
    Ok(())
}

async fn hdr_04(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.sync(AlertCode::SlowSync, vec![]).await?;
    for (i, m) in s.received.iter().enumerate() {
        let want = i as u32 + 1;
        check(m.header.msg_id == want, || format!("reply {} has MsgID {}", want, m.header.msg_id))?;
        let msg_ref = hdr_status(m).and_then(|st| st.msg_ref);
        check(msg_ref == Some(want), || format!("reply {want}: SyncHdr Status MsgRef {msg_ref:?}, expected {want}"))?;
    }
    Ok(())
}

async fn hdr_05(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    for m in &s.received {
        if let Some(uri) = &m.header.resp_uri {
            let scheme = uri.split("://").next().unwrap_or("").to_ascii_lowercase();
            check(uri.contains("://") && (scheme == "http" || scheme == "https"), || {
                format!("RespURI {uri:?} is not absolute")
            })?;
            check(!uri.contains("&amp;") && !uri.contains(' '), || format!("RespURI {uri:?} is not a clean URI"))?;
        }
    }
    check(run.completed, || "the session did not complete".into())
}

async fn hdr_06(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.sync(AlertCode::SlowSync, vec![]).await?;
    for m in &s.received {
        check(m.header.target.loc_uri == s.device.id, || {
            format!("reply Target LocURI {:?}, expected the device id {:?}", m.header.target.loc_uri, s.device.id)
        })?;
        check(!m.header.source.loc_uri.is_empty(), || "empty reply Source LocURI".into())?;
    }
    Ok(())
}

async fn hdr_07(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.device.encoding = crate::codec::Encoding::Xml;
    let (alert, _) = s.sync_alert(AlertCode::TwoWay);
    let msg = s.next_message(vec![alert], true);
    let bytes = crate::codec::encode_message(&msg, crate::codec::Encoding::Xml)?;
    let r = s.post_raw(bytes, "application/vnd.syncml+xml").await?;
    s.decode(&r)?;
    let ct = r.content_type.clone().unwrap_or_default();
    let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    check(base == "application/vnd.syncml+xml", || format!("Content-Type {ct:?}"))
}

async fn hdr_08(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let (alert, _) = s.sync_alert(AlertCode::TwoWay);
    let msg = s.next_message(vec![alert], true);
    let ct = format!("{}; charset=UTF-8", s.device.encoding.content_type());
    let bytes = crate::codec::encode_message(&msg, s.device.encoding)?;
    let r = s.post_raw(bytes, &ct).await?;
    let reply = s.decode(&r)?;
    hdr_code(&reply).map(|_| ())
}

async fn auth_01(ctx: Ctx) -> CaseResult {
    let (_, reply) = first_with(&ctx, |m| m.header.cred = None).await?;
    let st = hdr_status(&reply).ok_or_else(|| CaseError::Protocol("no SyncHdr status".into()))?;
    check(st.data.code() == 407, || format!("SyncHdr status {}", st.data))?;
    check(st.chal.is_some(), || "407 without Chal".into())
}

async fn auth_02(ctx: Ctx) -> CaseResult {
    let cred = basic_cred(&ctx.user, &format!("{}-wrong", ctx.password));
    let (_, reply) = first_with(&ctx, |m| m.header.cred = Some(Box::new(cred))).await?;
    let st = hdr_status(&reply).ok_or_else(|| CaseError::Protocol("no SyncHdr status".into()))?;
    check(st.data.code() == 401, || format!("SyncHdr status {}", st.data))?;
    check(st.chal.is_some(), || "401 without Chal".into())
}

/// The Chal a fresh device gets for a message without Cred.
async fn fresh_chal(ctx: &Ctx) -> Result<(Session, crate::proto::Chal), CaseError> {
    let (s, reply) = first_with(ctx, |m| m.header.cred = None).await?;
    let chal = hdr_status(&reply).and_then(|st| st.chal.clone());
    let chal =
        chal.ok_or_else(|| CaseError::Protocol(format!("no Chal (SyncHdr status {:?})", hdr_code(&reply).ok())))?;
    Ok((s, chal))
}

async fn auth_03(ctx: Ctx) -> CaseResult {
    let (mut s, chal) = fresh_chal(&ctx).await?;
    s.take_chal(&chal);
    if s.device.scheme != Scheme::Md5 {
        return Err(CaseError::NotApplicable(format!("the server challenges {:?}, not MD5", chal.meta.type_)));
    }
    s.restart();
    let reply = s.login_once().await?;
    let code = hdr_code(&reply)?;
    s.finish_if_open(code).await?;
    check(code == 212, || format!("SyncHdr status {code} for MD5 with the challenged nonce"))
}

async fn auth_04(ctx: Ctx) -> CaseResult {
    let (mut s, reply) =
        first_with(&ctx, |m| m.header.cred = Some(Box::new(basic_cred(&ctx.user, &ctx.password)))).await?;
    let st = hdr_status(&reply).ok_or_else(|| CaseError::Protocol("no SyncHdr status".into()))?;
    let code = st.data.code();
    let md5_only = st.chal.as_ref().and_then(|c| c.meta.type_.clone()).is_some_and(|t| t.contains("md5"));
    if code == 401 && md5_only {
        return Err(CaseError::NotApplicable("basic refused with an MD5 challenge (MD5 required)".into()));
    }
    s.finish_if_open(code).await?;
    check(code == 212, || format!("SyncHdr status {code}"))
}

async fn auth_05(ctx: Ctx) -> CaseResult {
    let (_, chal) = fresh_chal(&ctx).await?;
    let t = chal.meta.type_.clone().unwrap_or_default();
    check(t == "syncml:auth-md5" || t == "syncml:auth-basic", || format!("Chal Type {t:?}"))?;
    if t == "syncml:auth-md5" {
        check(chal.meta.format.as_deref() == Some("b64"), || format!("MD5 Chal Format {:?}", chal.meta.format))?;
        let nonce = chal.meta.next_nonce.clone().unwrap_or_default();
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD.decode(nonce.trim());
        check(raw.is_ok_and(|r| !r.is_empty()), || format!("NextNonce {nonce:?} is not non-empty base64"))?;
    }
    Ok(())
}

async fn auth_06(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.sync(AlertCode::SlowSync, vec![]).await?;
    if s.device.scheme != Scheme::Md5 {
        return Err(CaseError::NotApplicable("the server authenticates with basic".into()));
    }
    let mut s = Session::new(&ctx, s.into_device());
    let reply = s.login_once().await?;
    let code = hdr_code(&reply)?;
    s.finish_if_open(code).await?;
    check(code == 212 || code == 200, || format!("first message of the next session with the stored nonce: {code}"))
}

async fn auth_07(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.sync(AlertCode::SlowSync, vec![]).await?;
    if s.device.scheme != Scheme::Md5 {
        return Err(CaseError::NotApplicable("the server authenticates with basic".into()));
    }
    let first = s.device.nonce.clone();
    let mut s = Session::new(&ctx, s.into_device());
    s.sync(AlertCode::TwoWay, vec![]).await?;
    check(s.device.nonce != first, || format!("the same NextNonce {:?} twice", String::from_utf8_lossy(&first)))
}

async fn auth_08(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.sync(AlertCode::SlowSync, vec![]).await?;
    if s.device.scheme != Scheme::Md5 {
        return Err(CaseError::NotApplicable("the server authenticates with basic".into()));
    }
    // Session 2 uses the nonce of session 1's 212; session 3 replays that same credential.
    let used = s.device.nonce.clone();
    let mut s = Session::new(&ctx, s.into_device());
    s.sync(AlertCode::TwoWay, vec![]).await?;
    let mut s = Session::new(&ctx, s.into_device());
    s.cred_override = Some(Some(md5_cred(&ctx.user, &ctx.password, &used)));
    let reply = s.login_once().await?;
    let code = hdr_code(&reply)?;
    s.finish_if_open(code).await?;
    check(code == 401, || format!("replayed credential answered {code}"))
}

async fn auth_09(ctx: Ctx) -> CaseResult {
    let (mut s, chal) = fresh_chal(&ctx).await?;
    s.take_chal(&chal);
    s.restart();
    let wrong = s.credential(&format!("{}-wrong", ctx.password));
    s.cred_override = Some(Some(wrong));
    let reply = s.login_once().await?;
    let code = hdr_code(&reply)?;
    check(code == 401, || format!("SyncHdr status {code}"))
}

async fn auth_10(ctx: Ctx) -> CaseResult {
    let user = format!("{}-nobody-{}", ctx.user, ctx.prefix);
    let (_, reply) = first_with(&ctx, |m| {
        m.header.source.loc_name = Some(user.clone());
        m.header.cred = Some(Box::new(basic_cred(&user, &ctx.password)));
    })
    .await?;
    let code = hdr_code(&reply)?;
    check(code == 401, || format!("SyncHdr status {code}"))
}

async fn auth_11(ctx: Ctx) -> CaseResult {
    let cred = Cred {
        meta: Some(Meta {
            type_: Some("syncml:auth-x-unknown".into()),
            format: Some("b64".into()),
            ..Default::default()
        }),
        data: b"c2VjcmV0".to_vec(),
    };
    let (_, reply) = first_with(&ctx, |m| m.header.cred = Some(Box::new(cred))).await?;
    let code = hdr_code(&reply)?;
    check(code == 406, || format!("SyncHdr status {code}"))
}

async fn auth_12(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    let first = s.received.first().and_then(hdr_status).map(|st| st.data.code());
    if first != Some(212) {
        return Err(CaseError::NotApplicable(format!("login answered {first:?}, not 212")));
    }
    for m in &s.received[1..] {
        let code = hdr_status(m).map(|st| st.data.code());
        check(matches!(code, Some(200 | 212)), || {
            format!("message {} without Cred answered {code:?}", m.header.msg_id)
        })?;
    }
    check(run.completed, || "the session did not complete".into())
}

async fn auth_13(ctx: Ctx) -> CaseResult {
    let wrong = basic_cred(&ctx.user, &format!("{}-wrong", ctx.password));
    let (mut s, reply) = first_with(&ctx, |m| m.header.cred = Some(Box::new(wrong))).await?;
    let code = hdr_code(&reply)?;
    check(code == 401 || code == 407, || format!("wrong password answered {code}"))?;
    if let Some(chal) = hdr_status(&reply).and_then(|st| st.chal.clone()) {
        s.take_chal(&chal);
    }
    s.restart();
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    check(run.completed, || "the fresh session did not complete".into())
}

impl Session {
    /// Sends the first message (Alert two-way) once, no retry.
    pub async fn login_once(&mut self) -> Result<Message, CaseError> {
        let (alert, next) = self.sync_alert(AlertCode::TwoWay);
        self.next_anchor = Some(next);
        self.send(vec![alert], true).await
    }

    /// After a successful login by hand, completes the session (servers that serve one session
    /// at a time are then free); does nothing when the login failed.
    pub async fn finish_if_open(&mut self, hdr_code: u16) -> CaseResult {
        if hdr_code == 200 || hdr_code == 212 {
            let last = self.received.last().cloned().unwrap_or_default();
            self.until_final(last, 20).await?;
            self.finish().await.map_err(|e| CaseError::Protocol(format!("completing the session: {e}")))?;
        }
        Ok(())
    }
}
