//! WBXML (PROTOCOL.md §6, §1.1, §5.2): sessions in WBXML answered in WBXML, the DevInf as a
//! nested WBXML document, and the header and string variants real encoders produce (string-table
//! FPI, unknown public id, WBXML 1.3, STR_T references, item data as inline string, raw MD5).

use crate::codec::Encoding;
use crate::conformance::session::{add, vcard, Device, Session};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::AlertCode;

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "wbxml-01",
            Area::Wbxml,
            "a whole session in WBXML is answered in WBXML (Content-Type and body) (§6, §1.1)",
            wbxml_01
        ),
        case!(
            "wbxml-02",
            Area::Wbxml,
            "in WBXML the DevInf Results have Type …devinf+wbxml and a nested WBXML DevInf (§6.3, §1.1)",
            wbxml_02
        ),
        case!(
            "wbxml-03",
            Area::Wbxml,
            "a public id given as string-table FPI (00 00 + '-//SYNCML//DTD SyncML 1.2//EN') is accepted (§6.1)",
            wbxml_03
        ),
        case!("wbxml-04", Area::Wbxml, "the unknown public id 01 is accepted (§6.1)", wbxml_04),
        case!("wbxml-05", Area::Wbxml, "WBXML version 1.3 (03) is accepted (§6.1)", wbxml_05),
        case!(
            "wbxml-06",
            Area::Wbxml,
            "a string-table reference (STR_T) for the user name is accepted (§6.1)",
            wbxml_06
        ),
        case!(
            "wbxml-07",
            Area::Wbxml,
            "item data as an inline string (STR_I) instead of OPAQUE is accepted (§6.5)",
            wbxml_07
        ),
        case!(
            "wbxml-08",
            Area::Wbxml,
            "an MD5 credential as 16 raw bytes (OPAQUE, no Format) is accepted (§5.2)",
            wbxml_08
        ),
    ]
}

/// The header our encoder writes: WBXML 1.2, SyncML 1.2 public id, UTF-8, no string table.
const HEADER: [u8; 5] = [0x02, 0xA4, 0x01, 0x6A, 0x00];
const FPI: &str = "-//SYNCML//DTD SyncML 1.2//EN";

fn wbxml_session(ctx: &Ctx) -> Session {
    let mut dev = Device::new(ctx, 0);
    dev.encoding = Encoding::Wbxml;
    Session::new(ctx, dev)
}

/// A slow sync with one Add in WBXML, every message rewritten by `transform`; checks that the
/// session completes and the Add is answered 201.
async fn variant(ctx: Ctx, transform: Option<fn(Vec<u8>) -> Vec<u8>>) -> CaseResult {
    let mut s = wbxml_session(&ctx);
    s.transform = transform;
    s.device.put_devinf = false;
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let run = s.sync(AlertCode::SlowSync, vec![add(&format!("x{marker}"), vcard(&marker))]).await?;
    let code = run.item_statuses.first().map(|st| st.data.code());
    check(code == Some(201), || format!("the Add answered {code:?}"))?;
    check(run.completed, || "the session did not complete".into())
}

/// Replaces the 5-byte header; a message not starting with [`HEADER`] is left alone (and the
/// case then fails visibly on the server's answer).
fn with_header(bytes: Vec<u8>, header: &[u8]) -> Vec<u8> {
    match bytes.strip_prefix(&HEADER[..]) {
        Some(rest) => header.iter().copied().chain(rest.iter().copied()).collect(),
        None => bytes,
    }
}

fn fpi_header(bytes: Vec<u8>) -> Vec<u8> {
    let mut h = vec![0x02, 0x00, 0x00, 0x6A, FPI.len() as u8];
    h.extend_from_slice(FPI.as_bytes());
    with_header(bytes, &h)
}

fn unknown_public_id(bytes: Vec<u8>) -> Vec<u8> {
    with_header(bytes, &[0x02, 0x01, 0x6A, 0x00])
}

fn version_13(bytes: Vec<u8>) -> Vec<u8> {
    with_header(bytes, &[0x03, 0xA4, 0x01, 0x6A, 0x00])
}

/// Moves the first inline string equal to the LocName (`56 03 name 00`) into the string table.
fn str_t_user(bytes: Vec<u8>) -> Vec<u8> {
    let Some(rest) = bytes.strip_prefix(&HEADER[..]) else { return bytes };
    // LocName with content (0x16 | 0x40), STR_I.
    let Some(at) = rest.windows(2).position(|w| w == [0x56, 0x03]) else { return bytes };
    let Some(len) = rest[at + 2..].iter().position(|&b| b == 0) else { return bytes };
    let name = &rest[at + 2..at + 2 + len];
    if name.len() > 120 {
        return bytes;
    }
    let mut out = vec![0x02, 0xA4, 0x01, 0x6A, name.len() as u8 + 1];
    out.extend_from_slice(name);
    out.push(0);
    out.extend_from_slice(&rest[..at]);
    out.extend_from_slice(&[0x56, 0x83, 0x00]);
    out.extend_from_slice(&rest[at + 2 + len + 1..]);
    out
}

/// Rewrites every `Data` OPAQUE holding NUL-free UTF-8 as an inline string (STR_I).
fn opaque_to_str_i(bytes: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x4F && bytes.get(i + 1) == Some(&0xC3) {
            if let Some((len, used)) = mb_u32(&bytes[i + 2..]) {
                let start = i + 2 + used;
                if let Some(payload) = bytes.get(start..start + len) {
                    if !payload.contains(&0) && std::str::from_utf8(payload).is_ok() {
                        out.extend_from_slice(&[0x4F, 0x03]);
                        out.extend_from_slice(payload);
                        out.push(0);
                        i = start + len;
                        continue;
                    }
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A WBXML multi-byte integer: the value and the bytes it took.
fn mb_u32(b: &[u8]) -> Option<(usize, usize)> {
    let mut v: usize = 0;
    for (i, &byte) in b.iter().enumerate().take(5) {
        v = (v << 7) | usize::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

async fn wbxml_01(ctx: Ctx) -> CaseResult {
    let mut s = wbxml_session(&ctx);
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    s.sync(AlertCode::SlowSync, vec![add(&format!("x{marker}"), vcard(&marker))]).await?;
    for (i, t) in s.received_types.iter().enumerate() {
        let base = t.as_deref().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        check(base == "application/vnd.syncml+wbxml", || format!("answer {} has Content-Type {t:?}", i + 1))?;
    }
    check(s.sent.len() == s.received.len(), || "answers and messages do not pair up".into())
}

async fn wbxml_02(ctx: Ctx) -> CaseResult {
    let mut s = wbxml_session(&ctx);
    let get = s.devinf_get();
    s.init(AlertCode::SlowSync, vec![get]).await?;
    let results = s.received.iter().flat_map(|m| m.body.iter()).find_map(|c| match c {
        crate::proto::Command::Results(r) => Some(r.clone()),
        _ => None,
    });
    let devinf = s.server_devinf();
    s.finish().await?;
    let r = results.ok_or_else(|| CaseError::Protocol("no Results for the Get".into()))?;
    let t = r.meta.as_ref().and_then(|m| m.type_.clone());
    check(t.as_deref() == Some("application/vnd.syncml-devinf+wbxml"), || format!("Results Meta Type {t:?}"))?;
    check(devinf.is_some(), || "the Results Data is not a DevInf document".into())
}

async fn wbxml_03(ctx: Ctx) -> CaseResult {
    variant(ctx, Some(fpi_header)).await
}

async fn wbxml_04(ctx: Ctx) -> CaseResult {
    variant(ctx, Some(unknown_public_id)).await
}

async fn wbxml_05(ctx: Ctx) -> CaseResult {
    variant(ctx, Some(version_13)).await
}

async fn wbxml_06(ctx: Ctx) -> CaseResult {
    variant(ctx, Some(str_t_user)).await
}

async fn wbxml_07(ctx: Ctx) -> CaseResult {
    variant(ctx, Some(opaque_to_str_i)).await
}

async fn wbxml_08(ctx: Ctx) -> CaseResult {
    let mut s = wbxml_session(&ctx);
    s.raw_md5 = true;
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    if s.device.scheme != crate::conformance::session::Scheme::Md5 {
        return Err(CaseError::NotApplicable("the server authenticates with basic".into()));
    }
    let first = s.received.first().and_then(crate::conformance::session::hdr_status).map(|st| st.data.code());
    check(matches!(first, Some(200 | 212)), || format!("raw MD5 login answered {first:?}"))?;
    check(run.completed, || "the session did not complete".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::session::contains;

    #[test]
    fn rewrites_keep_the_rest_and_change_what_they_say() {
        let msg =
            [&HEADER[..], &[0x6D, 0x56, 0x03, b'b', b'o', b'b', 0x00, 0x4F, 0xC3, 0x02, b'h', b'i', 0x01]].concat();
        let t = str_t_user(msg.clone());
        assert_eq!(
            t,
            [&[0x02, 0xA4, 0x01, 0x6A, 0x04, b'b', b'o', b'b', 0x00, 0x6D, 0x56, 0x83, 0x00][..], &msg[12..]].concat()
        );
        let s = opaque_to_str_i(msg.clone());
        assert!(contains(&s, &[0x4F, 0x03, b'h', b'i', 0x00, 0x01]));
        assert_eq!(fpi_header(msg.clone())[..5], [0x02, 0x00, 0x00, 0x6A, 29]);
        assert_eq!(unknown_public_id(msg.clone())[..4], [0x02, 0x01, 0x6A, 0x00]);
        assert_eq!(version_13(msg)[0], 0x03);
        assert_eq!(mb_u32(&[0x81, 0x20]), Some((0xA0, 2)));
    }
}
