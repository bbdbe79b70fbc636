//! Large objects (PROTOCOL.md §1.6, §1.7): MoreData chunks answered 213, the last chunk 201,
//! size mismatch 424, a missing Size, Alert 223 when a chunked item is abandoned, MaxObjSize
//! 413, and the server chunking its own items for a small MaxMsgSize.

use crate::conformance::session::{contains, statuses, synced_device, vcard, Device, Session, SyncRun};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::{AlertCode, CmdName, Command, Data, Item, Meta, Source, Status};

pub fn cases() -> Vec<Case> {
    vec![
        case!("lo-01", Area::LargeObjects, "every non-final MoreData chunk of an Add is answered 213 (§1.7)", lo_01),
        case!(
            "lo-02",
            Area::LargeObjects,
            "the last chunk is answered 201 and another device gets the whole item (§1.7)",
            lo_02,
            2
        ),
        case!(
            "lo-03",
            Area::LargeObjects,
            "a reassembled item shorter than its declared Size is answered 424 (§1.7)",
            lo_03
        ),
        case!(
            "lo-04",
            Area::LargeObjects,
            "a chunked item abandoned for another command gets Alert 223 or Status 223 (§1.7)",
            lo_04
        ),
        case!(
            "lo-05",
            Area::LargeObjects,
            "for a small MaxMsgSize the server chunks its item (Size first, MoreData) within the limit (§1.6, §1.7)",
            lo_05,
            2
        ),
        case!(
            "lo-06",
            Area::LargeObjects,
            "an object declared larger than the server's MaxObjSize is answered 413 (§1.6)",
            lo_06
        ),
        case!("lo-07", Area::LargeObjects, "a first chunk without Meta Size is answered 411 or 424 (§1.7, §4)", lo_07),
    ]
}

/// A vCard of at least `len` bytes whose NOTE ends with `END-{marker}`.
fn big_vcard(marker: &str, len: usize) -> Vec<u8> {
    let note: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let text = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:{marker};Large;;;\r\nFN:Large {marker}\r\nNOTE:{note}END-{marker}\r\nEND:VCARD\r\n"
    );
    text.into_bytes()
}

/// One chunk: an Add whose single Item carries `data`, `size` in its Meta when given, and
/// MoreData when it is not the last.
fn chunk(luid: &str, data: &[u8], size: Option<u64>, more: bool) -> Command {
    Command::Add(crate::proto::Add {
        meta: Some(Meta::with_type("text/vcard")),
        items: vec![Item {
            source: Some(Source::uri(luid)),
            meta: size.map(|n| Meta { size: Some(n), ..Default::default() }),
            data: Some(Data::Bytes(data.to_vec())),
            more_data: more,
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// Sends `pieces` as consecutive package-3 messages (one Sync each, the last one Final) and
/// returns the status of each piece's Add (from the answer to that message).
async fn send_pieces(s: &mut Session, pieces: Vec<Command>) -> Result<Vec<Option<Status>>, CaseError> {
    let n = pieces.len();
    let mut result = Vec::new();
    for (i, piece) in pieces.into_iter().enumerate() {
        let last = i + 1 == n;
        let reply = s.send(vec![s.sync_command(vec![piece])], last).await?;
        let msg_id = s.msg_id;
        let st = statuses(&reply).find(|st| st.msg_ref == Some(msg_id) && st.cmd == CmdName::Add).cloned();
        result.push(st);
        if last {
            s.until_final(reply, 50).await?;
        }
    }
    let mut run = SyncRun::default();
    s.map_phase(&mut run).await?;
    Ok(result)
}

/// A slow-sync session of a fresh device opened up to package 2, with the server's DevInf
/// checked for SupportLargeObjs (not applicable without it).
async fn opened(ctx: &Ctx) -> Result<Session, CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    let get = s.devinf_get();
    s.init(AlertCode::SlowSync, vec![get]).await?;
    if let Some(d) = s.server_devinf() {
        if !d.support_large_objs {
            s.finish().await?;
            return Err(CaseError::NotApplicable("the server's DevInf has no SupportLargeObjs".into()));
        }
    }
    Ok(s)
}

fn code(st: &Option<Status>) -> Option<u16> {
    st.as_ref().map(|s| s.data.code())
}

async fn chunked_add(s: &mut Session, marker: &str) -> Result<Vec<Option<Status>>, CaseError> {
    let data = big_vcard(marker, 9000);
    let size = data.len() as u64;
    let parts: Vec<&[u8]> = data.chunks(data.len() / 3 + 1).collect();
    let luid = format!("x{marker}");
    let pieces =
        parts.iter().enumerate().map(|(i, p)| chunk(&luid, p, (i == 0).then_some(size), i + 1 < parts.len())).collect();
    send_pieces(s, pieces).await
}

async fn lo_01(ctx: Ctx) -> CaseResult {
    let mut s = opened(&ctx).await?;
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let got = chunked_add(&mut s, &marker).await?;
    for (i, st) in got.iter().take(got.len() - 1).enumerate() {
        check(code(st) == Some(213), || format!("chunk {} answered {:?}", i + 1, code(st)))?;
    }
    Ok(())
}

async fn lo_02(ctx: Ctx) -> CaseResult {
    let mut s = opened(&ctx).await?;
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let got = chunked_add(&mut s, &marker).await?;
    let last = got.last().cloned().flatten();
    check(code(&last) == Some(201), || format!("last chunk answered {:?}", code(&last)))?;
    let mut b = Session::new(&ctx, Device::new(&ctx, 1));
    b.sync(AlertCode::SlowSync, vec![]).await?;
    let end = format!("END-{marker}");
    let whole = b.server_adds.iter().find(|(_, d)| contains(d, end.as_bytes()));
    let (_, data) = whole.ok_or_else(|| CaseError::Protocol("the other device did not get the whole item".into()))?;
    check(data.len() >= 9000, || format!("the other device got {} bytes", data.len()))
}

async fn lo_03(ctx: Ctx) -> CaseResult {
    let mut s = opened(&ctx).await?;
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let data = big_vcard(&marker, 3000);
    let (a, b) = data.split_at(data.len() / 2);
    let luid = format!("x{marker}");
    let declared = data.len() as u64 + 100;
    let got = send_pieces(&mut s, vec![chunk(&luid, a, Some(declared), true), chunk(&luid, b, None, false)]).await?;
    let last = got.last().cloned().flatten();
    check(code(&last) == Some(424), || format!("size mismatch answered {:?}", code(&last)))
}

async fn lo_04(ctx: Ctx) -> CaseResult {
    let mut s = opened(&ctx).await?;
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let data = big_vcard(&marker, 3000);
    let first = chunk(&format!("x{marker}"), &data[..1000], Some(data.len() as u64), true);
    let other = chunk(&format!("y{marker}"), &vcard(&format!("{marker}-other")), None, false);
    s.send(vec![s.sync_command(vec![first])], false).await?;
    let reply = s.send(vec![s.sync_command(vec![other])], true).await?;
    s.until_final(reply, 50).await?;
    s.map_phase(&mut SyncRun::default()).await?;
    let alert_223 = s
        .received
        .iter()
        .flat_map(|m| m.body.iter())
        .any(|c| matches!(c, Command::Alert(a) if a.data.map(|d| d.code()) == Some(223)));
    let status_223 = s.all_statuses().iter().any(|st| st.data.code() == 223);
    check(alert_223 || status_223, || "neither Alert 223 nor Status 223 for the abandoned item".into())
}

async fn lo_05(ctx: Ctx) -> CaseResult {
    let a = synced_device(&ctx, 0).await?;
    let marker = format!("{}-big", ctx.case_id);
    let mut s = Session::new(&ctx, a);
    let run =
        s.sync(AlertCode::TwoWay, vec![chunk(&format!("x{marker}"), &big_vcard(&marker, 12000), None, false)]).await?;
    let st = run.item_statuses.first().map(|st| st.data.code());
    check(st == Some(201), || format!("the 12 kB Add answered {st:?}"))?;
    let mut dev = Device::new(&ctx, 1);
    dev.max_msg_size = 5000;
    let mut b = Session::new(&ctx, dev);
    b.sync(AlertCode::SlowSync, vec![]).await?;
    let end = format!("END-{marker}");
    check(b.server_adds.iter().any(|(_, d)| contains(d, end.as_bytes())), || {
        "the big item did not arrive whole".into()
    })?;
    let items: Vec<&Item> = b
        .received
        .iter()
        .flat_map(|m| m.body.iter())
        .filter_map(|c| if let Command::Sync(s) = c { Some(s) } else { None })
        .flat_map(|s| s.commands.iter())
        .filter_map(|c| if let Command::Add(a) = c { Some(a) } else { None })
        .flat_map(|a| a.items.iter())
        .collect();
    let first = items.iter().position(|i| i.more_data);
    let first = first.ok_or_else(|| CaseError::Protocol("no chunk with MoreData".into()))?;
    check(items[first].meta.as_ref().and_then(|m| m.size).is_some(), || "the first chunk has no Meta Size".into())?;
    let sizes = b.received_sizes.clone();
    check(sizes.iter().all(|&n| n <= 5000), || format!("messages of {:?} bytes for MaxMsgSize 5000", sizes))
}

async fn lo_06(ctx: Ctx) -> CaseResult {
    let mut s = opened(&ctx).await?;
    // MaxObjSize travels in the SyncHdr Meta or in the Meta of the server's Alert item (§1.6).
    let in_header = s.received.iter().find_map(|m| m.header.meta.as_ref().and_then(|m| m.max_obj_size));
    let in_alert = s.server_sync_alert().and_then(|a| a.items.first().and_then(|i| i.meta.as_ref()?.max_obj_size));
    let max = in_header.or(in_alert);
    let Some(max) = max else {
        s.finish().await?;
        return Err(CaseError::NotApplicable("the server announces no MaxObjSize".into()));
    };
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let data = big_vcard(&marker, 2000);
    let first = chunk(&format!("x{marker}"), &data[..1000], Some(max + 1), true);
    let reply = s.send(vec![s.sync_command(vec![first])], false).await?;
    let msg_id = s.msg_id;
    let st = statuses(&reply).find(|st| st.msg_ref == Some(msg_id) && st.cmd == CmdName::Add).map(|st| st.data.code());
    let reply = s.send(vec![s.sync_command(vec![])], true).await?;
    s.until_final(reply, 50).await?;
    s.map_phase(&mut SyncRun::default()).await?;
    check(st == Some(413), || format!("an object of {} bytes (MaxObjSize {max}) answered {st:?}", max + 1))
}

async fn lo_07(ctx: Ctx) -> CaseResult {
    let mut s = opened(&ctx).await?;
    let marker = format!("{}-{}", ctx.case_id, s.device.unique());
    let data = big_vcard(&marker, 3000);
    let (a, b) = data.split_at(data.len() / 2);
    let luid = format!("x{marker}");
    let got = send_pieces(&mut s, vec![chunk(&luid, a, None, true), chunk(&luid, b, None, false)]).await?;
    let codes: Vec<Option<u16>> = got.iter().map(code).collect();
    check(codes.iter().any(|c| matches!(c, Some(411 | 424))), || format!("chunks without Size answered {codes:?}"))
}
