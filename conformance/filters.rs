//! DS 1.2 filters sent by the client (PROTOCOL.md §9): Filter-Rx and FilterCap in the server's
//! DevInf, every record-filter operator of the `syncml:filtertype-cgi` grammar with its
//! case-insensitive form, `&NULL;`, `&OR;` with parentheses, INCLUSIVE and EXCLUSIVE filters,
//! the statuses for a bad query (422), another grammar (415) and a bad FilterType (422), and
//! field filters (22–23): only the named properties travel, cut to their MaxSize, and the
//! device's Replace of such a reduced item does not cost the server what it never sent.
//!
//! Cases 02–23 are not applicable to a server whose DevInf offers no record filter (no
//! Filter-Rx `syncml:filtertype-cgi` for the datastore). Each case seeds three vCards of its own through a second device — FN alpha (X-RANK 1),
//! Beta (X-RANK 2, X-EXTRA y), gamma (X-RANK 3), all with NOTE = a marker of the case — and a
//! fresh device slow-syncs with `NOTE&EQ;<marker>&AND;(<query>)`.

use crate::conformance::messages::add;
use crate::conformance::session::{contains, synced_device, Device, Session};
use crate::conformance::{case, check, Area, Case, CaseError, CaseResult, Ctx};
use crate::proto::{AlertCode, CmdName, Data, Filter, FilterType, Item, Meta, Property};

const CGI: &str = "syncml:filtertype-cgi";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "filter-01",
            Area::Filters,
            "the server DevInf has Filter-Rx syncml:filtertype-cgi and a FilterCap (§9.1)",
            filter_01
        ),
        case!("filter-02", Area::Filters, "&EQ; selects the equal items (§9.2)", filter_02, 2),
        case!("filter-03", Area::Filters, "&iEQ; compares case-insensitively (§9.2)", filter_03, 2),
        case!("filter-04", Area::Filters, "&NE; selects the others (§9.2)", filter_04, 2),
        case!("filter-05", Area::Filters, "&iNE; (§9.2)", filter_05, 2),
        case!("filter-06", Area::Filters, "&CON; selects items containing the value (§9.2)", filter_06, 2),
        case!("filter-07", Area::Filters, "&iCON; (§9.2)", filter_07, 2),
        case!("filter-08", Area::Filters, "&NCON; selects items not containing the value (§9.2)", filter_08, 2),
        case!("filter-09", Area::Filters, "&iNCON; (§9.2)", filter_09, 2),
        case!("filter-10", Area::Filters, "&GT; on a number (§9.2)", filter_10, 2),
        case!("filter-11", Area::Filters, "&GE; (§9.2)", filter_11, 2),
        case!("filter-12", Area::Filters, "&LT; (§9.2)", filter_12, 2),
        case!("filter-13", Area::Filters, "&LE; (§9.2)", filter_13, 2),
        case!("filter-14", Area::Filters, "PROP&EQ;&NULL; selects items without the property (§9.2)", filter_14, 2),
        case!("filter-15", Area::Filters, "PROP&NE;&NULL; selects items with it (§9.2)", filter_15, 2),
        case!("filter-16", Area::Filters, "&OR; with parentheses, then &AND; (§9.2)", filter_16, 2),
        case!(
            "filter-17",
            Area::Filters,
            "an INCLUSIVE filter adds the matching items and removes none (§9.3)",
            filter_17,
            2
        ),
        case!(
            "filter-18",
            Area::Filters,
            "EXCLUSIVE: an item changed so that it leaves the filter is deleted from the device (§9.3)",
            filter_18,
            2
        ),
        case!("filter-19", Area::Filters, "a query that does not parse is answered 422 (§9.3)", filter_19),
        case!("filter-20", Area::Filters, "a record filter in another grammar is answered 415 (§9.3)", filter_20),
        case!("filter-21", Area::Filters, "an unknown FilterType is answered 422 (§9.3)", filter_21),
        case!(
            "filter-22",
            Area::Filters,
            "a field filter sends only the named properties, each cut to its MaxSize (§9.1)",
            filter_22,
            2
        ),
        case!(
            "filter-23",
            Area::Filters,
            "a Replace of a field-filtered item keeps the properties and lengths the device never got (§9.1)",
            filter_23,
            2
        ),
    ]
}

/// A Filter with a record query (`inclusive`: FilterType INCLUSIVE, else none = EXCLUSIVE).
pub fn record(query: &str, grammar: &str, filter_type: Option<FilterType>) -> Box<Filter> {
    Box::new(Filter {
        meta: Meta::with_type("text/vcard"),
        field: None,
        record: Some(Item {
            meta: Some(Meta::with_type(grammar)),
            data: Some(Data::from(query)),
            ..Default::default()
        }),
        filter_type,
    })
}

fn person(marker: &str, name: &str, rank: u8, extra: bool) -> Vec<u8> {
    let extra = if extra { "X-EXTRA:y\r\n" } else { "" };
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:{name};;;;\r\nFN:{name}\r\nNOTE:{marker}\r\nX-RANK:{rank}\r\n{extra}END:VCARD\r\n"
    )
    .into_bytes()
}

/// Seeds the three items through device 1; returns the marker, device 1 and the LUIDs it used.
async fn seed(ctx: &Ctx) -> Result<(String, Device), CaseError> {
    let mut dev = synced_device(ctx, 1).await?;
    let marker = format!("{}-{}", ctx.case_id, dev.unique());
    let adds = [("alpha", 1, false), ("Beta", 2, true), ("gamma", 3, false)]
        .iter()
        .map(|(n, r, x)| add(&format!("{n}-{marker}"), person(&marker, n, *r, *x)))
        .collect();
    let mut s = Session::new(ctx, dev);
    let run = s.sync(AlertCode::TwoWay, adds).await?;
    let added = run.item_statuses.iter().filter(|st| st.data.code() == 201).count();
    check(added == 3, || format!("seeding: {added} of 3 Adds answered 201"))?;
    Ok((marker, s.into_device()))
}

/// The FN of every server Add of this session carrying the marker, sorted.
fn names(s: &Session, marker: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .server_adds
        .iter()
        .filter(|(_, d)| contains(d, marker.as_bytes()))
        .filter_map(|(_, d)| {
            let text = String::from_utf8_lossy(d);
            text.lines().find_map(|l| l.trim_end().strip_prefix("FN:").map(str::to_string))
        })
        .collect();
    v.sort();
    v
}

/// A fresh device's slow sync with `query` (restricted to the case's items).
async fn filtered(ctx: &Ctx, marker: &str, query: &str, expected: &[&str]) -> CaseResult {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    s.filter = Some(record(&format!("NOTE&EQ;{marker}&AND;({query})"), CGI, None));
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    check(run.completed, || "the filtered sync did not complete".into())?;
    let got = names(&s, marker);
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    check(got == want, || format!("{query}: received {got:?}, expected {want:?}"))
}

/// The filter cases apply to servers that offer record filters (Filter-Rx in their DevInf).
async fn offers_filters(ctx: &Ctx) -> CaseResult {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    let get = s.devinf_get();
    s.init(AlertCode::SlowSync, vec![get]).await?;
    let devinf = s.server_devinf();
    s.finish().await?;
    let offers = devinf.iter().flat_map(|d| d.data_stores.iter()).any(|d| {
        d.source_ref.trim_start_matches("./") == ctx.datastore
            && d.filter_rx.iter().any(|f| f.ct_type.eq_ignore_ascii_case(CGI))
    });
    if offers {
        Ok(())
    } else {
        Err(CaseError::NotApplicable(format!("the server's DevInf has no Filter-Rx {CGI} for {}", ctx.datastore)))
    }
}

async fn op(ctx: Ctx, query: &str, expected: &[&str]) -> CaseResult {
    offers_filters(&ctx).await?;
    let (marker, _) = seed(&ctx).await?;
    filtered(&ctx, &marker, query, expected).await
}

async fn filter_01(ctx: Ctx) -> CaseResult {
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    let get = s.devinf_get();
    s.init(AlertCode::SlowSync, vec![get]).await?;
    let devinf = s.server_devinf().ok_or_else(|| CaseError::Protocol("no DevInf in the Results".into()))?;
    s.finish().await?;
    let ds = devinf
        .data_stores
        .iter()
        .find(|d| d.source_ref.trim_start_matches("./") == ctx.datastore)
        .ok_or_else(|| CaseError::Protocol(format!("DevInf lists no datastore {}", ctx.datastore)))?;
    check(ds.filter_rx.iter().any(|f| f.ct_type.eq_ignore_ascii_case(CGI)), || {
        format!("Filter-Rx {:?}", ds.filter_rx)
    })?;
    check(!ds.filter_caps.is_empty(), || "no FilterCap".into())
}

async fn filter_02(ctx: Ctx) -> CaseResult {
    op(ctx, "FN&EQ;Beta", &["Beta"]).await
}

async fn filter_03(ctx: Ctx) -> CaseResult {
    op(ctx, "FN&iEQ;BETA", &["Beta"]).await
}

async fn filter_04(ctx: Ctx) -> CaseResult {
    op(ctx, "FN&NE;Beta", &["alpha", "gamma"]).await
}

async fn filter_05(ctx: Ctx) -> CaseResult {
    op(ctx, "FN&iNE;beta", &["alpha", "gamma"]).await
}

async fn filter_06(ctx: Ctx) -> CaseResult {
    op(ctx, "FN&CON;mm", &["gamma"]).await
}

async fn filter_07(ctx: Ctx) -> CaseResult {
    op(ctx, "FN&iCON;ET", &["Beta"]).await
}

async fn filter_08(ctx: Ctx) -> CaseResult {
    op(ctx, "FN&NCON;mm", &["alpha", "Beta"]).await
}

async fn filter_09(ctx: Ctx) -> CaseResult {
    op(ctx, "FN&iNCON;BET", &["alpha", "gamma"]).await
}

async fn filter_10(ctx: Ctx) -> CaseResult {
    op(ctx, "X-RANK&GT;1", &["Beta", "gamma"]).await
}

async fn filter_11(ctx: Ctx) -> CaseResult {
    op(ctx, "X-RANK&GE;2", &["Beta", "gamma"]).await
}

async fn filter_12(ctx: Ctx) -> CaseResult {
    op(ctx, "X-RANK&LT;2", &["alpha"]).await
}

async fn filter_13(ctx: Ctx) -> CaseResult {
    op(ctx, "X-RANK&LE;2", &["alpha", "Beta"]).await
}

async fn filter_14(ctx: Ctx) -> CaseResult {
    op(ctx, "X-EXTRA&EQ;&NULL;", &["alpha", "gamma"]).await
}

async fn filter_15(ctx: Ctx) -> CaseResult {
    op(ctx, "X-EXTRA&NE;&NULL;", &["Beta"]).await
}

async fn filter_16(ctx: Ctx) -> CaseResult {
    op(ctx, "(FN&EQ;alpha&OR;FN&EQ;gamma)&AND;X-RANK&GE;3", &["gamma"]).await
}

async fn filter_17(ctx: Ctx) -> CaseResult {
    offers_filters(&ctx).await?;
    let (marker, _) = seed(&ctx).await?;
    // The device keeps alpha (EXCLUSIVE), then asks to add gamma (INCLUSIVE).
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.filter = Some(record(&format!("NOTE&EQ;{marker}&AND;FN&EQ;alpha"), CGI, None));
    s.sync(AlertCode::SlowSync, vec![]).await?;
    check(names(&s, &marker) == ["alpha"], || format!("the EXCLUSIVE sync got {:?}", names(&s, &marker)))?;
    let mut s = Session::new(&ctx, s.into_device());
    s.filter = Some(record(&format!("NOTE&EQ;{marker}&AND;FN&EQ;gamma"), CGI, Some(FilterType::Inclusive)));
    s.sync(AlertCode::TwoWay, vec![]).await?;
    check(names(&s, &marker) == ["gamma"], || format!("the INCLUSIVE sync got {:?}", names(&s, &marker)))?;
    check(s.server_deletes.is_empty(), || format!("INCLUSIVE removed {:?}", s.server_deletes))
}

async fn filter_18(ctx: Ctx) -> CaseResult {
    offers_filters(&ctx).await?;
    let (marker, seeder) = seed(&ctx).await?;
    let query = format!("NOTE&EQ;{marker}&AND;X-RANK&LE;2");
    let mut s = Session::new(&ctx, Device::new(&ctx, 0));
    s.filter = Some(record(&query, CGI, None));
    s.sync(AlertCode::SlowSync, vec![]).await?;
    check(names(&s, &marker) == ["Beta", "alpha"], || format!("the first sync got {:?}", names(&s, &marker)))?;
    let phone = s.into_device();
    let beta_luid = crate::conformance::session::luid_of(&phone, "FN:Beta")
        .ok_or_else(|| CaseError::Protocol("the device does not hold Beta".into()))?;
    // Device 1 raises Beta's rank: it leaves the filter.
    let mut s = Session::new(&ctx, seeder);
    let beta = format!("Beta-{marker}");
    let replace = crate::conformance::messages::replace(&beta, person(&marker, "Beta", 5, true));
    s.sync(AlertCode::TwoWay, vec![replace]).await?;
    let mut s = Session::new(&ctx, phone);
    s.filter = Some(record(&query, CGI, None));
    s.sync(AlertCode::TwoWay, vec![]).await?;
    check(s.server_deletes == [beta_luid.clone()], || format!("deletes {:?}, expected [{beta_luid}]", s.server_deletes))
}

/// The status of a sync Alert carrying `filter`.
async fn alert_status_with(ctx: &Ctx, filter: Box<Filter>) -> Result<u16, CaseError> {
    offers_filters(ctx).await?;
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    s.filter = Some(filter);
    let (alert, next) = s.sync_alert(AlertCode::SlowSync);
    s.next_anchor = Some(next);
    let reply = s.login(vec![alert], true).await?;
    crate::conformance::session::require_auth(&reply)?;
    s.until_final(reply, 20).await?;
    let st = s.status_in_reply_to(1, CmdName::Alert).into_iter().find(|st| st.cmd_ref == 1);
    let code = st.map(|st| st.data.code()).ok_or_else(|| CaseError::Protocol("no Status for the Alert".into()))?;
    if s.server_sync_alert().is_some() {
        s.finish().await?;
    }
    Ok(code)
}

async fn filter_19(ctx: Ctx) -> CaseResult {
    let code = alert_status_with(&ctx, record("FN&EQUALS;x", CGI, None)).await?;
    check(code == 422, || format!("Alert status {code}"))
}

async fn filter_20(ctx: Ctx) -> CaseResult {
    let code = alert_status_with(&ctx, record("/vcard[FN='x']", "syncml:filtertype-xpath", None)).await?;
    check(code == 415, || format!("Alert status {code}"))
}

async fn filter_21(ctx: Ctx) -> CaseResult {
    let code = alert_status_with(&ctx, record("FN&EQ;x", CGI, Some(FilterType::Other("SOMETIMES".into())))).await?;
    check(code == 422, || format!("Alert status {code}"))
}

/// A Field part naming `props` (name, MaxSize).
fn field(props: &[(&str, Option<u64>)]) -> Item {
    Item {
        meta: Some(Meta::with_type("application/vnd.syncml-devinf+xml")),
        data: Some(Data::Properties(
            props
                .iter()
                .map(|(n, max)| Property { prop_name: (*n).into(), max_size: *max, ..Default::default() })
                .collect(),
        )),
        ..Default::default()
    }
}

/// A fresh device's slow sync of the case's items with FN cut to 3 bytes, NOTE and X-RANK.
async fn field_filtered(ctx: &Ctx, marker: &str) -> Result<Session, CaseError> {
    let mut s = Session::new(ctx, Device::new(ctx, 0));
    let mut f = record(&format!("NOTE&EQ;{marker}"), CGI, None);
    f.field = Some(field(&[("FN", Some(3)), ("NOTE", None), ("X-RANK", None)]));
    s.filter = Some(f);
    let run = s.sync(AlertCode::SlowSync, vec![]).await?;
    check(run.completed, || "the sync with a field filter did not complete".into())?;
    Ok(s)
}

async fn filter_22(ctx: Ctx) -> CaseResult {
    offers_filters(&ctx).await?;
    let (marker, _) = seed(&ctx).await?;
    let s = field_filtered(&ctx, &marker).await?;
    check(names(&s, &marker) == ["Bet", "alp", "gam"], || format!("FN values {:?}", names(&s, &marker)))?;
    for (_, data) in s.server_adds.iter().filter(|(_, d)| contains(d, marker.as_bytes())) {
        let text = String::from_utf8_lossy(data);
        let unnamed = text.lines().any(|l| l.starts_with("N:") || l.starts_with("X-EXTRA"));
        check(!unnamed && text.contains("X-RANK:"), || format!("properties not asked for, or missing: {text}"))?;
    }
    Ok(())
}

async fn filter_23(ctx: Ctx) -> CaseResult {
    offers_filters(&ctx).await?;
    let (marker, seeder) = seed(&ctx).await?;
    let s = field_filtered(&ctx, &marker).await?;
    let phone = s.into_device();
    let luid = crate::conformance::session::luid_of(&phone, "FN:alp")
        .ok_or_else(|| CaseError::Protocol("the device does not hold alpha".into()))?;
    // The device changes alpha's rank and sends back its reduced copy.
    let held = phone.items.get(&luid).cloned().unwrap_or_default();
    let edited = String::from_utf8_lossy(&held).replace("X-RANK:1", "X-RANK:9");
    let mut s = Session::new(&ctx, phone);
    let mut f = record(&format!("NOTE&EQ;{marker}"), CGI, None);
    f.field = Some(field(&[("FN", Some(3)), ("NOTE", None), ("X-RANK", None)]));
    s.filter = Some(f);
    let replace = crate::conformance::messages::replace(&luid, edited.into_bytes());
    s.sync(AlertCode::TwoWay, vec![replace]).await?;
    // The device that keeps everything gets the new rank with the whole name and the N it had.
    let mut s = Session::new(&ctx, seeder);
    s.sync(AlertCode::TwoWay, vec![]).await?;
    let got = s.server_replaces.iter().find(|(_, d)| contains(d, b"X-RANK:9"));
    let text = got.map(|(_, d)| String::from_utf8_lossy(d).into_owned()).unwrap_or_default();
    check(!text.is_empty(), || format!("the full device got no Replace with the new rank: {:?}", s.server_replaces))?;
    check(text.contains("FN:alpha") && text.contains("\nN:alpha"), || {
        format!("the Replace lost what the filtered device never had: {text}")
    })
}
