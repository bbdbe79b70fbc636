//! Hostile input (PROTOCOL.md §1.1, §1.4, §6.1): malformed and truncated XML and WBXML, wrong
//! content types, wrong MsgID/CmdID sequences, unknown session tokens, oversized messages, deep
//! nesting, string-table attacks. A server passes when it answers with a SyncML message or an
//! HTTP 4xx (not a 5xx, not a dropped connection) AND then still serves a normal session.

use crate::codec::{self, Encoding};
use crate::conformance::session::{status, Device, Session};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::{AlertCode, CmdName, Command, StatusCode};
use crate::transport::{Response, TransportError};

pub fn cases() -> Vec<Case> {
    vec![
        case!("host-01", Area::Hostile, "malformed XML (mismatched tags) gets a SyncML status or 4xx, and the server keeps serving (§1.1)", host_01),
        case!("host-02", Area::Hostile, "malformed WBXML (undefined tokens) gets a SyncML status or 4xx, and the server keeps serving (§6.2)", host_02),
        case!("host-03", Area::Hostile, "a truncated XML body gets a SyncML status or 4xx, and the server keeps serving (§1.1)", host_03),
        case!("host-04", Area::Hostile, "a truncated WBXML body gets a SyncML status or 4xx, and the server keeps serving (§6.1)", host_04),
        case!("host-05", Area::Hostile, "an unknown Content-Type (text/plain) gets a SyncML status or 4xx, and the server keeps serving (§1.1)", host_05),
        case!("host-06", Area::Hostile, "XML labelled application/vnd.syncml+wbxml gets a SyncML answer or 4xx, and the server keeps serving (§1.1)", host_06),
        case!("host-07", Area::Hostile, "an empty body gets a 4xx (or SyncML status), and the server keeps serving (§1.1)", host_07),
        case!("host-08", Area::Hostile, "a MsgID going backwards within a session gets a SyncML status or 4xx, and the server keeps serving (§1.4)", host_08),
        case!("host-09", Area::Hostile, "duplicate CmdIDs in one message get a SyncML status or 4xx, and the server keeps serving (§1.4)", host_09),
        case!("host-10", Area::Hostile, "an unknown session token in the URL gets a 4xx or SyncML status, and the server keeps serving (§1.1)", host_10),
        case!("host-11", Area::Hostile, "a 20 MB message gets 413 (or a SyncML status), and the server keeps serving (§1.6)", host_11),
        case!("host-12", Area::Hostile, "XML nested 100,000 deep gets a SyncML status or 4xx, and the server keeps serving (§1.1)", host_12),
        case!("host-13", Area::Hostile, "WBXML nested 100,000 deep gets a SyncML status or 4xx, and the server keeps serving (§6.2)", host_13),
        case!("host-14", Area::Hostile, "a WBXML string table declared 2 GB long gets a SyncML status or 4xx, and the server keeps serving (§6.1)", host_14),
        case!("host-15", Area::Hostile, "a STR_T reference past the string table gets a SyncML status or 4xx, and the server keeps serving (§6.1)", host_15),
        case!("host-16", Area::Hostile, "XML that is not SyncML (<html>) gets a SyncML status or 4xx, and the server keeps serving (§1.2)", host_16),
        case!("host-17", Area::Hostile, "binary garbage gets a SyncML status or 4xx, and the server keeps serving (§1.1)", host_17),
        case!("host-18", Area::Hostile, "an XML entity-expansion bomb gets a SyncML status or 4xx, and the server keeps serving (§1.2)", host_18),
        case!("host-19", Area::Hostile, "a session starting at MsgID 5 gets a SyncML status or 4xx, and the server keeps serving (§1.4)", host_19),
        case!("host-20", Area::Hostile, "a Status for a command never sent gets a SyncML answer or 4xx, and the server keeps serving (§1.4)", host_20),
        case!("host-21", Area::Hostile, "100,000 STR_T references to a 1 kB string gets a SyncML status or 4xx, and the server keeps serving (§6.1)", host_21),
    ]
}

const XML_CT: &str = "application/vnd.syncml+xml";
const WBXML_CT: &str = "application/vnd.syncml+wbxml";
const WBXML_HEADER: [u8; 5] = [0x02, 0xA4, 0x01, 0x6A, 0x00];

/// Judges the answer to a hostile request, then checks that a fresh session still works.
async fn judge(ctx: &Ctx, answer: Result<Response, CaseError>) -> CaseResult {
    let r = match answer {
        Err(CaseError::Transport(e)) => return Err(CaseError::Protocol(format!("no HTTP answer: {e}"))),
        other => other?,
    };
    match r.status {
        400..=499 => {}
        200 => {
            let decoded = codec::decode_message(&r.body, &codec::Limits::default());
            check(decoded.is_ok(), || "HTTP 200 whose body is not a SyncML message".into())?;
        }
        other => {
            // Say whether it still serves, so the reason tells a crash from a wrong status.
            let after = match still_serves(ctx).await {
                Ok(()) => "it still serves".to_string(),
                Err(e) => e.to_string(),
            };
            return Err(CaseError::Protocol(format!("HTTP {other}; {after}")));
        }
    }
    still_serves(ctx).await
}

/// A complete slow sync of a fresh device.
async fn still_serves(ctx: &Ctx) -> CaseResult {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    let run = s.sync(AlertCode::SlowSync, vec![]).await.map_err(|e| CaseError::Protocol(format!("afterwards: {e}")))?;
    check(run.completed, || "afterwards a normal session did not complete".into())
}

/// POSTs `body` on a fresh connection to the sync URL.
async fn post(ctx: &Ctx, body: Vec<u8>, content_type: &str) -> Result<Response, CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    s.post_raw(body, content_type).await
}

/// A valid first message of the case's device in `enc`.
fn first_message(ctx: &Ctx, enc: Encoding) -> Result<Vec<u8>, CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    let (alert, _) = s.sync_alert(AlertCode::SlowSync);
    let msg = s.next_message(vec![alert, s.devinf_put()], true);
    Ok(codec::encode_message(&msg, enc)?)
}

async fn host_01(ctx: Ctx) -> CaseResult {
    let body = b"<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerProto></SyncHdr><SyncBody>".to_vec();
    judge(&ctx, post(&ctx, body, XML_CT).await).await
}

async fn host_02(ctx: Ctx) -> CaseResult {
    let body = [&WBXML_HEADER[..], &[0x6D, 0x6C, 0xC5, 0xFF, 0x04, 0x7F, 0x83, 0x99, 0x01, 0x01]].concat();
    judge(&ctx, post(&ctx, body, WBXML_CT).await).await
}

async fn host_03(ctx: Ctx) -> CaseResult {
    let mut body = first_message(&ctx, Encoding::Xml)?;
    body.truncate(body.len() / 2);
    judge(&ctx, post(&ctx, body, XML_CT).await).await
}

async fn host_04(ctx: Ctx) -> CaseResult {
    let mut body = first_message(&ctx, Encoding::Wbxml)?;
    body.truncate(body.len() / 2);
    judge(&ctx, post(&ctx, body, WBXML_CT).await).await
}

async fn host_05(ctx: Ctx) -> CaseResult {
    let body = first_message(&ctx, Encoding::Xml)?;
    judge(&ctx, post(&ctx, body, "text/plain").await).await
}

async fn host_06(ctx: Ctx) -> CaseResult {
    let body = first_message(&ctx, Encoding::Xml)?;
    judge(&ctx, post(&ctx, body, WBXML_CT).await).await
}

async fn host_07(ctx: Ctx) -> CaseResult {
    judge(&ctx, post(&ctx, Vec::new(), XML_CT).await).await
}

/// Opens a session (packages 1 and 2), sends the message `edit` makes of the next one, and
/// tries to finish the session whatever the answer was.
async fn in_session(ctx: &Ctx, edit: impl FnOnce(&mut Session, &mut crate::proto::Message)) -> CaseResult {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    s.init(AlertCode::SlowSync, vec![]).await?;
    let mut msg = s.next_message(vec![s.sync_command(vec![])], true);
    edit(&mut s, &mut msg);
    let bytes = codec::encode_message(&msg, s.device.encoding)?;
    let answer = s.post_raw(bytes, s.device.encoding.content_type()).await;
    if let Ok(r) = &answer {
        if let Ok(reply) = s.decode(r) {
            s.accept(&reply);
            if s.until_final(reply, 20).await.is_ok() {
                let _ = s.map_phase(&mut Default::default()).await;
            }
        }
    }
    judge(ctx, answer).await
}

async fn host_08(ctx: Ctx) -> CaseResult {
    in_session(&ctx, |_, m| m.header.msg_id = 1).await
}

async fn host_09(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let (alert, _) = s.sync_alert(AlertCode::SlowSync);
    let mut msg = s.next_message(vec![alert, s.devinf_put()], true);
    for c in &mut msg.body {
        c.set_cmd_id(1);
    }
    let body = codec::encode_message(&msg, Encoding::Xml)?;
    judge(&ctx, post(&ctx, body, XML_CT).await).await
}

async fn host_10(ctx: Ctx) -> CaseResult {
    let mut url = ctx.url.clone();
    let sep = if url.target.contains('?') { '&' } else { '?' };
    url.target = format!("{}{sep}sid={}&sessionid={}", url.target, "0".repeat(32), "9".repeat(12));
    let body = first_message(&ctx, Encoding::Xml)?;
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let answer = s.post_to(&url, body, XML_CT).await;
    judge(&ctx, answer).await
}

async fn host_11(ctx: Ctx) -> CaseResult {
    let head = b"<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>SyncML/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>x</LocURI></Target><Source><LocURI>y</LocURI></Source></SyncHdr><SyncBody><Put><CmdID>1</CmdID><Item><Data>";
    let mut body = head.to_vec();
    body.resize(20 << 20, b'A');
    body.extend_from_slice(b"</Data></Item></Put><Final/></SyncBody></SyncML>");
    match post(&ctx, body, XML_CT).await {
        // Refused from the Content-Length before the body was read (an early 413 and close is
        // correct HTTP; the client cannot read that answer once its upload is cut off).
        Err(CaseError::Transport(TransportError::Http(e))) if e.contains("writing") => still_serves(&ctx).await,
        answer => judge(&ctx, answer).await,
    }
}

async fn host_12(ctx: Ctx) -> CaseResult {
    let mut body = b"<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncBody>".to_vec();
    body.extend(b"<Item>".repeat(100_000));
    body.extend(b"</Item>".repeat(100_000));
    body.extend_from_slice(b"</SyncBody></SyncML>");
    judge(&ctx, post(&ctx, body, XML_CT).await).await
}

async fn host_13(ctx: Ctx) -> CaseResult {
    let mut body = [&WBXML_HEADER[..], &[0x6D, 0x6B]].concat();
    body.extend(std::iter::repeat_n(0x54, 100_000));
    body.extend(std::iter::repeat_n(0x01, 100_002));
    judge(&ctx, post(&ctx, body, WBXML_CT).await).await
}

async fn host_14(ctx: Ctx) -> CaseResult {
    let body = vec![0x02, 0xA4, 0x01, 0x6A, 0x87, 0xFF, 0xFF, 0xFF, 0x7F, b'a', b'b', 0x00, 0x6D, 0x01];
    judge(&ctx, post(&ctx, body, WBXML_CT).await).await
}

async fn host_15(ctx: Ctx) -> CaseResult {
    let body = vec![0x02, 0xA4, 0x01, 0x6A, 0x02, b'a', 0x00, 0x6D, 0x6C, 0x71, 0x83, 0xFF, 0x7F, 0x01, 0x01, 0x01];
    judge(&ctx, post(&ctx, body, WBXML_CT).await).await
}

async fn host_16(ctx: Ctx) -> CaseResult {
    judge(&ctx, post(&ctx, b"<html><body>not SyncML</body></html>".to_vec(), XML_CT).await).await
}

async fn host_17(ctx: Ctx) -> CaseResult {
    let body: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80).collect();
    judge(&ctx, post(&ctx, body, XML_CT).await).await
}

async fn host_18(ctx: Ctx) -> CaseResult {
    let mut doc = String::from("<?xml version=\"1.0\"?><!DOCTYPE SyncML [<!ENTITY a0 \"ha\">");
    for i in 1..=20 {
        let prev = format!("&a{};", i - 1);
        doc.push_str(&format!("<!ENTITY a{i} \"{}\">", prev.repeat(10)));
    }
    doc.push_str("]><SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>SyncML/1.2</VerProto>");
    doc.push_str("<SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>x</LocURI></Target><Source><LocURI>&a20;</LocURI></Source>");
    doc.push_str("</SyncHdr><SyncBody><Final/></SyncBody></SyncML>");
    judge(&ctx, post(&ctx, doc.into_bytes(), XML_CT).await).await
}

async fn host_19(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let (alert, _) = s.sync_alert(AlertCode::SlowSync);
    let mut msg = s.next_message(vec![alert], true);
    msg.header.msg_id = 5;
    let body = codec::encode_message(&msg, Encoding::Xml)?;
    judge(&ctx, post(&ctx, body, XML_CT).await).await
}

async fn host_20(ctx: Ctx) -> CaseResult {
    in_session(&ctx, |_, m| {
        let bogus = status(7, 99, CmdName::Add, StatusCode::Ok);
        m.body.insert(0, Command::Status(bogus));
        crate::conformance::session::number(&mut m.body, &mut 1);
    })
    .await
}

async fn host_21(ctx: Ctx) -> CaseResult {
    let mut body = vec![0x02, 0xA4, 0x01, 0x6A, 0x88, 0x01];
    body.extend(std::iter::repeat_n(b'a', 1024));
    body.push(0);
    body.extend_from_slice(&[0x6D, 0x6C, 0x71]);
    for _ in 0..100_000 {
        body.extend_from_slice(&[0x83, 0x00]);
    }
    body.extend_from_slice(&[0x01, 0x01, 0x01]);
    judge(&ctx, post(&ctx, body, WBXML_CT).await).await
}
