//! DS 1.2 filters sent by the client (PROTOCOL.md §9): the Filter of a sync Alert's Target read
//! into the sync set the server keeps for the session, and what the server's DevInf advertises.
//!
//! A record filter in the `syncml:filtertype-cgi` grammar is applied to the server's side:
//! EXCLUSIVE (the default) makes it the device's whole sync set — items that stop matching are
//! removed from the device (Delete with SftDel: gone from the device, kept on the server) and come
//! back as Adds when they match again; INCLUSIVE adds matching items to what the device has and
//! removes nothing. A field filter (DevInf `Property` elements, PROTOCOL.md §9.1) shapes what
//! travels (`cpm::shape`): `emailitem` without parameters = headers only, with `texttype` =
//! text without attachments, with `attachtype` too = both; `MaxSize` cuts message text and sends
//! larger files as details plus link; `body` with `MaxSize` limits file bodies; for vCard and
//! iCalendar items the named properties are the ones that travel, each cut to its `MaxSize`
//! (`cpm::vfields`). Statuses: 415 for another grammar or field type, 422 for a query that does
//! not parse or an unknown FilterType, 406 for other properties of messages and files and for
//! filters before DS 1.2.
//! A device that sends no Filter gets the standing one of its preferences
//! (`notify::prefs::SyncPrefs::filters`), with relative dates resolved at the session's time.

use crate::cpm::shape::Shape;
use crate::filter::{self, props, RecordFilter};
use crate::notify::prefs::SyncPrefs;
use crate::proto::{CtInfo, Data, DataStore, Filter, FilterCap, FilterType, Property, StatusCode, Version};
use crate::store::{Store, StoreError, UserId};

/// The Meta Type of a field filter's item (DevInf properties).
const FIELD_TYPE: &str = "application/vnd.syncml-devinf+xml";

/// The filter a session applies to a datastore.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ActiveFilter {
    /// Which items belong to the device's set; `None`: all.
    pub(crate) record: Option<RecordFilter>,
    /// The record query as given (relative dates unresolved): what identifies the filter.
    pub(crate) source: String,
    /// The query has relative dates (resolved by [`ActiveFilter::at`]): its set changes with time.
    pub(crate) relative: bool,
    pub(crate) inclusive: bool,
    /// How items travel (field filter).
    pub(crate) shape: Shape,
}

impl ActiveFilter {
    /// Whether an item belongs to the device's sync set.
    pub(crate) fn admits(&self, content_type: &str, data: &[u8], luid: Option<&str>) -> bool {
        self.record.as_ref().is_none_or(|r| r.matches(&props::props(content_type, data), luid))
    }

    /// Relative dates resolved against the session's time (Unix seconds).
    pub(crate) fn at(self, now: i64) -> ActiveFilter {
        let relative = self.relative || self.record.as_ref().is_some_and(RecordFilter::is_relative);
        ActiveFilter { record: self.record.map(|r| r.at(now)), relative, ..self }
    }
}

/// What a device's set was built with, kept with its anchor (`SyncAnchor::filter`, JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct FilterState {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    record: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    inclusive: bool,
    #[serde(default, skip_serializing_if = "Shape::is_whole")]
    shape: Shape,
    /// When the device last got fresh links for all it holds reduced (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    links_at: Option<i64>,
}

/// What a session does beyond the change set because the device's filter changed, or time
/// passed (PROTOCOL.md §9.3: a changed filter changes the sync set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resync {
    /// Check every stored item against the record filter: items entering the set go as Adds,
    /// items leaving it as soft Deletes. Needed when the query changed, has relative dates
    /// (items age out) or the sync is slow; otherwise the change set says all.
    pub(crate) sweep: bool,
    /// Send every item the device holds again, in this session's shape: the shape changed, or
    /// the links it holds are past half their life.
    pub(crate) resend: bool,
    /// The state to keep with the anchor when the session completes.
    pub(crate) state: Option<String>,
}

impl Resync {
    /// Compares the state kept from the last successful session (`kept`) with this one's.
    pub(crate) fn decide(
        kept: Option<&str>,
        filter: Option<&ActiveFilter>,
        shape: &Shape,
        slow: bool,
        now: i64,
        link_ttl_secs: i64,
    ) -> Resync {
        let prev: Option<FilterState> = kept.and_then(|k| serde_json::from_str(k).ok());
        let mut cur = FilterState {
            record: filter.map(|f| f.source.clone()).unwrap_or_default(),
            inclusive: filter.is_some_and(|f| f.inclusive),
            shape: shape.clone(),
            links_at: None,
        };
        let record = filter.and_then(|f| f.record.as_ref());
        let relative = filter.is_some_and(|f| f.relative) || record.is_some_and(|r| r.is_relative());
        let query_changed = match &prev {
            Some(p) => p.record != cur.record || p.inclusive != cur.inclusive,
            None => !cur.record.is_empty(),
        };
        let sweep = slow || relative || query_changed;
        let sweep = sweep && (record.is_some() || prev.as_ref().is_some_and(|p| !p.record.is_empty()));
        let shape_changed = match &prev {
            Some(p) => p.shape != cur.shape,
            None => !shape.is_whole(),
        };
        let links_due = !shape.is_whole()
            && prev.as_ref().and_then(|p| p.links_at).is_none_or(|t| now.saturating_sub(t) > link_ttl_secs / 2);
        let resend = !slow && (shape_changed || links_due);
        if !shape.is_whole() {
            cur.links_at = if resend || slow { Some(now) } else { prev.and_then(|p| p.links_at) };
        }
        let state = (cur != FilterState::default()).then(|| serde_json::to_string(&cur).unwrap_or_default());
        Resync { sweep, resend, state }
    }
}

/// Makes the signed links of one session's user (`cpm::link`).
#[derive(Clone, Debug)]
pub(crate) struct Links {
    base: String,
    key: crate::cpm::link::LinkKey,
    user: String,
    exp: i64,
}

impl Links {
    /// Links for `user` valid `ttl_days` from `now`, at `base_url` or else at the scheme and
    /// host of the URI the device is answered at.
    pub(crate) fn new(
        cfg: &crate::engine::config::LinkConfig,
        user: &crate::store::User,
        resp_uri: &str,
        now: i64,
    ) -> Links {
        let base = if cfg.base_url.trim().is_empty() { origin(resp_uri) } else { cfg.base_url.trim().to_string() };
        let ttl = i64::try_from(cfg.ttl_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
        Links {
            base,
            key: crate::cpm::link::LinkKey::for_user(&cfg.secret, &user.secret),
            user: user.name.clone(),
            exp: now.saturating_add(ttl),
        }
    }

    pub(crate) fn url(&self, datastore: &str, guid: &str) -> String {
        let t =
            crate::cpm::link::LinkTarget { user: self.user.clone(), datastore: datastore.into(), guid: guid.into() };
        crate::cpm::link::url(&self.base, &self.key, &t, self.exp)
    }
}

/// `scheme://host[:port]` of a URL (the URL itself when it has no path).
fn origin(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find(['/', '?']) {
        Some(i) => url[..after_scheme + i].to_string(),
        None => url.to_string(),
    }
}

/// The standing filter of a device's preferences for a datastore (`None` without one, or when
/// the stored preferences cannot be read: logged, the device syncs unfiltered).
pub(crate) fn standing(
    store: &dyn Store,
    user: UserId,
    device: &str,
    datastore: &str,
) -> Result<Option<ActiveFilter>, StoreError> {
    let Some(rec) = store.device_prefs(user, device)? else { return Ok(None) };
    let prefs = match SyncPrefs::parse(&rec.prefs) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(device, error = %e, "stored preferences unreadable: no standing filter");
            return Ok(None);
        }
    };
    let Some(f) = prefs.filters.get(datastore) else { return Ok(None) };
    let record = if f.record.trim().is_empty() {
        None
    } else {
        match RecordFilter::parse(&f.record) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!(device, datastore, error = %e, "standing filter unreadable: not applied");
                return Ok(None);
            }
        }
    };
    Ok(Some(ActiveFilter {
        record,
        source: f.record.trim().to_string(),
        relative: false,
        inclusive: f.inclusive,
        shape: f.shape.clone(),
    }))
}

/// Reads a field filter for items of `content_type` (the Filter's Meta Type, when given): the
/// shape it asks for, or the status and reason.
fn read_field(item: &crate::proto::Item, content_type: Option<&str>) -> Result<Shape, (StatusCode, String)> {
    let mime = content_type.is_some_and(|t| {
        let t = t.split(';').next().unwrap_or("").trim();
        t.eq_ignore_ascii_case(crate::cpm::objects::EMAIL_TYPE)
            || t.eq_ignore_ascii_case(crate::cpm::objects::FILE_TYPE)
    });
    if let Some(t) = item.meta.as_ref().and_then(|m| m.type_.as_deref()) {
        if !t.eq_ignore_ascii_case(FIELD_TYPE) {
            return Err((
                StatusCode::UnsupportedMediaType,
                format!("field filter type {t:?}; only {FIELD_TYPE} is read"),
            ));
        }
    }
    let props: &[Property] = match &item.data {
        Some(Data::Properties(p)) => p,
        None => &[],
        Some(_) => {
            return Err((StatusCode::BadCgiScript, "field filter Data holds no DevInf Property elements".into()));
        }
    };
    let mut shape = Shape::default();
    for p in props {
        let has = |n: &str| p.prop_params.iter().any(|pp| pp.param_name.eq_ignore_ascii_case(n));
        match p.prop_name.to_ascii_lowercase().as_str() {
            "emailitem" => {
                if !has("texttype") && !has("attachtype") {
                    shape.headers_only = true;
                }
                shape.attachments = has("attachtype");
                shape.max_size = p.max_size.or(shape.max_size);
            }
            "body" => shape.max_size = p.max_size.or(shape.max_size),
            other if mime => {
                return Err((
                    StatusCode::OptionalFeatureNotSupported,
                    format!(
                        "field filter on property {other:?}: messages and files are filtered by emailitem and body"
                    ),
                ))
            }
            _ if p.prop_name.trim().is_empty() => {
                return Err((StatusCode::BadCgiScript, "field filter Property without PropName".into()));
            }
            _ => shape
                .fields
                .push(crate::cpm::vfields::FieldLimit { name: p.prop_name.trim().into(), max_size: p.max_size }),
        }
    }
    Ok(shape)
}

/// Reads a client's Filter; `Err` is the Alert's status and the reason.
pub(crate) fn read(f: &Filter, version: Version) -> Result<Option<ActiveFilter>, (StatusCode, String)> {
    if version != Version::V1_2 {
        return Err((StatusCode::OptionalFeatureNotSupported, "filters exist in DS 1.2 only".into()));
    }
    let inclusive = match &f.filter_type {
        None | Some(FilterType::Exclusive) => false,
        Some(FilterType::Inclusive) => true,
        Some(FilterType::Other(t)) => {
            return Err((StatusCode::BadCgiScript, format!("FilterType {t:?} is neither INCLUSIVE nor EXCLUSIVE")))
        }
    };
    let shape = match &f.field {
        Some(item) => read_field(item, f.meta.type_.as_deref())?,
        None => Shape::default(),
    };
    let Some(record) = &f.record else {
        return Ok((f.field.is_some()).then(|| ActiveFilter {
            record: None,
            source: String::new(),
            relative: false,
            inclusive,
            shape,
        }));
    };
    let grammar = record.meta.as_ref().and_then(|m| m.type_.as_deref()).unwrap_or(filter::CGI_TYPE);
    if !grammar.eq_ignore_ascii_case(filter::CGI_TYPE) {
        return Err((
            StatusCode::UnsupportedMediaType,
            format!("record filter grammar {grammar:?}; only {} is read", filter::CGI_TYPE),
        ));
    }
    let text = match &record.data {
        Some(Data::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    let record = if text.trim().is_empty() {
        None
    } else {
        Some(RecordFilter::parse(&text).map_err(|e| (StatusCode::BadCgiScript, e.to_string()))?)
    };
    Ok(Some(ActiveFilter { record, source: text.trim().to_string(), relative: false, inclusive, shape }))
}

/// The property names FilterCap advertises for a content type.
fn prop_names(content_type: &str) -> &'static [&'static str] {
    let base = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match base.as_str() {
        crate::cpm::objects::EMAIL_TYPE => &[
            "FROM",
            "TO",
            "CC",
            "BCC",
            "SUBJECT",
            "DATE",
            "RECEIVED",
            "MODIFIED",
            "SIZE",
            "READ",
            "FLAGGED",
            "REPLIED",
            "FORWARDED",
            "DELETED",
        ],
        crate::cpm::objects::FILE_TYPE => &["NAME", "CTTYPE", "SIZE", "CREATED", "MODIFIED", "DATE"],
        crate::cpm::objects::FOLDER_TYPE => &["NAME", "ROLE"],
        "text/vcard" | "text/x-vcard" => &["N", "FN", "EMAIL", "TEL", "ORG", "CATEGORIES", "MODIFIED"],
        "text/calendar" | "text/x-vcalendar" => {
            &["SUMMARY", "DTSTART", "DTEND", "LOCATION", "CATEGORIES", "DATE", "MODIFIED"]
        }
        _ => &["MODIFIED"],
    }
}

/// Filter-Rx and FilterCap of a datastore with these content types.
pub(crate) fn advertise(ds: &mut DataStore, content_types: &[String]) {
    ds.filter_rx = vec![CtInfo { ct_type: filter::CGI_TYPE.into(), ver_ct: "1.0".into() }];
    ds.filter_caps = content_types
        .iter()
        .map(|ct| {
            let (t, v) = ct.split_once(';').unwrap_or((ct, ""));
            FilterCap {
                ct_type: t.trim().into(),
                ver_ct: v.trim().into(),
                filter_keywords: filter::KEYWORDS.iter().map(|k| (*k).to_string()).collect(),
                prop_names: prop_names(t).iter().map(|p| (*p).to_string()).collect(),
            }
        })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Item, Meta};

    fn record(text: &str, grammar: Option<&str>) -> Option<Item> {
        Some(Item {
            meta: Some(Meta { type_: grammar.map(str::to_string), ..Default::default() }),
            data: Some(Data::from(text)),
            ..Default::default()
        })
    }

    #[test]
    fn filters_are_read_or_refused_with_the_right_status() {
        let f = |text: &str, ft: Option<FilterType>| Filter {
            record: record(text, Some(filter::CGI_TYPE)),
            filter_type: ft,
            ..Default::default()
        };
        let ok = read(&f("READ&EQ;false", None), Version::V1_2).unwrap().unwrap();
        assert!(!ok.inclusive);
        assert!(read(&f("READ&EQ;false", Some(FilterType::Inclusive)), Version::V1_2).unwrap().unwrap().inclusive);
        let code = |r: Result<Option<ActiveFilter>, (StatusCode, String)>| r.unwrap_err().0;
        assert_eq!(code(read(&f("READ&&EQ;", None), Version::V1_2)), StatusCode::BadCgiScript);
        assert_eq!(
            code(read(&f("A&EQ;1", Some(FilterType::Other("SOME".into()))), Version::V1_2)),
            StatusCode::BadCgiScript
        );
        assert_eq!(code(read(&f("A&EQ;1", None), Version::V1_1)), StatusCode::OptionalFeatureNotSupported);
        let xml = Filter { record: record("/x", Some("syncml:filtertype-xpath")), ..Default::default() };
        assert_eq!(code(read(&xml, Version::V1_2)), StatusCode::UnsupportedMediaType);
        let field = |name: &str, params: &[&str], max: Option<u64>| Filter {
            field: Some(Item {
                meta: Some(Meta::with_type(FIELD_TYPE)),
                data: Some(Data::Properties(vec![Property {
                    prop_name: name.into(),
                    max_size: max,
                    prop_params: params
                        .iter()
                        .map(|n| crate::proto::PropParam { param_name: (*n).into(), ..Default::default() })
                        .collect(),
                    ..Default::default()
                }])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let shape = |f: Filter| read(&f, Version::V1_2).unwrap().unwrap().shape;
        assert!(shape(field("emailitem", &[], None)).headers_only);
        let text = shape(field("emailitem", &["texttype"], Some(1000)));
        assert_eq!((text.headers_only, text.attachments, text.max_size), (false, false, Some(1000)));
        let both = shape(field("EMAILITEM", &["texttype", "attachtype"], Some(5000)));
        assert_eq!((both.headers_only, both.attachments, both.max_size), (false, true, Some(5000)));
        assert_eq!(shape(field("body", &[], Some(10))).max_size, Some(10));
        let mut on_mail = field("N", &[], None);
        on_mail.meta = Meta::with_type(crate::cpm::objects::EMAIL_TYPE);
        assert_eq!(code(read(&on_mail, Version::V1_2)), StatusCode::OptionalFeatureNotSupported);
        let mut on_cards = field("FN", &[], Some(3));
        on_cards.meta = Meta::with_type("text/vcard");
        let fields = shape(on_cards).fields;
        assert_eq!((fields[0].name.as_str(), fields[0].max_size), ("FN", Some(3)));
        let mut other_type = field("body", &[], None);
        other_type.field.as_mut().unwrap().meta = Some(Meta::with_type("text/plain"));
        assert_eq!(code(read(&other_type, Version::V1_2)), StatusCode::UnsupportedMediaType);
        assert_eq!(read(&Filter::default(), Version::V1_2).unwrap(), None, "a Filter with nothing in it");
    }
}

#[cfg(test)]
mod resync_tests {
    use super::*;

    fn query(text: &str) -> ActiveFilter {
        ActiveFilter { record: Some(RecordFilter::parse(text).unwrap()), source: text.into(), ..Default::default() }
    }

    #[test]
    fn the_set_is_swept_and_items_resent_only_when_something_changed() {
        const TTL: i64 = 30 * 86_400;
        let whole = Shape::default();
        let unread = query("READ&EQ;false");
        let first = Resync::decide(None, Some(&unread), &whole, true, 1_000, TTL);
        assert!(first.sweep && !first.resend);
        let kept = first.state.clone();
        let again = Resync::decide(kept.as_deref(), Some(&unread), &whole, false, 2_000, TTL);
        assert_eq!((again.sweep, again.resend, &again.state), (false, false, &kept), "nothing changed");
        let other = Resync::decide(kept.as_deref(), Some(&query("READ&EQ;true")), &whole, false, 2_000, TTL);
        assert!(other.sweep && !other.resend);
        let dropped = Resync::decide(kept.as_deref(), None, &whole, false, 2_000, TTL);
        assert!(dropped.sweep && dropped.state.is_none(), "items held back come once the filter goes");
        let aging = query("SINCE&EQ;-30d");
        let aging_state = Resync::decide(None, Some(&aging), &whole, true, 0, TTL).state;
        assert!(
            Resync::decide(aging_state.as_deref(), Some(&aging), &whole, false, 9, TTL).sweep,
            "relative dates age"
        );
        let resolved = aging.clone().at(1_000_000);
        assert!(
            Resync::decide(aging_state.as_deref(), Some(&resolved), &whole, false, 9, TTL).sweep,
            "also once resolved"
        );
        assert!(!Resync::decide(None, None, &whole, false, 0, TTL).sweep, "no filter, never one");

        // Shapes: a new one sends everything again; links are renewed at half their life.
        let link = Shape { link: true, ..Default::default() };
        let switched = Resync::decide(None, None, &link, false, 1_000, TTL);
        assert!(switched.resend && !switched.sweep);
        let later = Resync::decide(switched.state.as_deref(), None, &link, false, 1_000 + TTL / 2 - 1, TTL);
        assert!(!later.resend);
        assert_eq!(later.state, switched.state, "links_at stays");
        let due = Resync::decide(switched.state.as_deref(), None, &link, false, 1_001 + TTL / 2, TTL);
        assert!(due.resend && due.state != switched.state);
        let back = Resync::decide(switched.state.as_deref(), None, &whole, false, 2_000, TTL);
        assert!(back.resend && back.state.is_none());
        assert!(!Resync::decide(None, None, &link, true, 0, TTL).resend, "a slow sync sends everything anyway");
        assert!(Resync::decide(Some("not json"), None, &link, false, 0, TTL).resend, "unreadable: as if none");
    }
}

#[cfg(test)]
mod session_tests {
    use crate::cpm::objects::{Email, EMAIL_TYPE};
    use crate::engine::tests::{
        alert, ctx, engine, first_contact, header, md5_cred, session, session_with_alert, statuses, Device,
    };
    use crate::proto::*;
    use crate::store::{Mutation, Origin};

    fn mail(subject: &str, read: bool) -> Vec<u8> {
        Email { read, emailitem: format!("Subject: {subject}\r\n\r\nx").into_bytes(), ..Default::default() }.to_xml()
    }

    fn filtered(dev: &Device, query: &str, inclusive: bool) -> Command {
        let Command::Alert(mut a) = alert(dev, AlertCode::TwoWay) else { unreachable!() };
        let target = a.items[0].target.as_mut().unwrap();
        target.filter = Some(Box::new(Filter {
            meta: Meta::with_type(EMAIL_TYPE),
            record: Some(Item {
                meta: Some(Meta::with_type(crate::filter::CGI_TYPE)),
                data: Some(Data::from(query)),
                ..Default::default()
            }),
            filter_type: inclusive.then_some(FilterType::Inclusive),
            ..Default::default()
        }));
        Command::Alert(a)
    }

    fn subjects(out: &[Command]) -> Vec<String> {
        out.iter()
            .filter_map(|c| match c {
                Command::Add(a) => {
                    a.items[0].data.as_ref().and_then(Data::bytes).map(|b| String::from_utf8_lossy(b).into_owned())
                }
                _ => None,
            })
            .map(|x| x[x.find("Subject: ").unwrap() + 9..].split('&').next().unwrap().to_string())
            .collect()
    }

    #[test]
    fn an_exclusive_filter_is_the_sync_set_and_items_leave_and_come_back() {
        let (e, store) = engine();
        let user = store.user_by_name("alice").unwrap().unwrap().id;
        let add = |s: &str, read| Mutation::Add { parent: None, content_type: EMAIL_TYPE.into(), data: mail(s, read) };
        let applied = store
            .apply(user, "contacts", &Origin::Service, &[add("first", false), add("second", true), add("third", false)])
            .unwrap();
        let guids: Vec<String> = applied.iter().map(|a| a.guid().unwrap().to_string()).collect();
        let mut a = first_contact(&e, "dev-a");
        let unread = "READ&EQ;false";
        let f = filtered(&a, unread, false);
        let (out, _, _) = session_with_alert(&e, &mut a, f, vec![], 100);
        let mut got = subjects(&out);
        got.sort();
        assert_eq!(got, ["first", "third"], "only unread messages");

        // "first" is read elsewhere: it leaves the device (soft delete), its mapping goes.
        let read = Mutation::Replace {
            guid: guids[0].clone(),
            parent: None,
            content_type: EMAIL_TYPE.into(),
            data: mail("first", true),
            fields_only: true,
        };
        store.apply(user, "contacts", &Origin::Service, &[read]).unwrap();
        let f = filtered(&a, unread, false);
        let (out, _, _) = session_with_alert(&e, &mut a, f, vec![], 200);
        let [Command::Delete(d)] = &out[..] else { panic!("{out:?}") };
        assert!(d.sft_del, "soft: the server keeps it");
        let mapped: Vec<String> =
            store.id_map(user, "dev-a", "contacts").unwrap().into_iter().map(|(_, g)| g).collect();
        assert!(!mapped.contains(&guids[0]) && mapped.len() == 1, "{mapped:?}");
        assert_eq!(store.items(user, "contacts").unwrap().len(), 3, "nothing deleted on the server");

        // Unread again: it comes back, once.
        let unread_again = Mutation::Replace {
            guid: guids[0].clone(),
            parent: None,
            content_type: EMAIL_TYPE.into(),
            data: mail("first", false),
            fields_only: true,
        };
        store.apply(user, "contacts", &Origin::Service, &[unread_again]).unwrap();
        let f = filtered(&a, unread, false);
        let (out, _, _) = session_with_alert(&e, &mut a, f, vec![], 300);
        assert_eq!(subjects(&out), ["first"]);
        let f = filtered(&a, unread, false);
        let (out, _, _) = session_with_alert(&e, &mut a, f, vec![], 400);
        assert!(out.is_empty(), "nothing twice: {out:?}");

        // INCLUSIVE adds what matches and removes nothing.
        let f = filtered(&a, "SUBJECT&iCON;SECOND", true);
        let (out, _, _) = session_with_alert(&e, &mut a, f, vec![], 500);
        assert_eq!(subjects(&out), ["second"]);
        assert_eq!(store.id_map(user, "dev-a", "contacts").unwrap().len(), 3);
    }

    #[test]
    fn a_standing_filter_from_the_preferences_applies_with_relative_dates() {
        let (e, store) = engine();
        let user = store.user_by_name("alice").unwrap().unwrap().id;
        let now = crate::engine::tests::ctx().now;
        let dated = |subject: &str, days_ago: i64, read: bool| {
            let ts = jiff::Timestamp::from_second(now - days_ago * 86_400).unwrap();
            let date = ts.strftime("%a, %d %b %Y %H:%M:%S +0000");
            let item = format!("Date: {date}\r\nSubject: {subject}\r\n\r\nx");
            let data = Email { read, emailitem: item.into_bytes(), ..Default::default() }.to_xml();
            Mutation::Add { parent: None, content_type: EMAIL_TYPE.into(), data }
        };
        let adds = [dated("fresh", 1, false), dated("old", 40, false), dated("seen", 2, true)];
        store.apply(user, "contacts", &Origin::Service, &adds).unwrap();
        let mut a = first_contact(&e, "dev-a");
        let prefs = r#"{"mode":"manual","filters":{"contacts":{"record":"READ&EQ;false&AND;SINCE&EQ;-30d"}}}"#;
        store.set_device_prefs(user, "dev-a", Some(prefs), None).unwrap();
        let plain = alert(&a, AlertCode::TwoWay);
        let (out, _, _) = session_with_alert(&e, &mut a, plain, vec![], 100);
        assert_eq!(subjects(&out), ["fresh"], "unread messages of the last 30 days");
        // The device's own Filter wins over the standing one.
        let f = filtered(&a, "SUBJECT&EQ;old", true);
        let (out, _, _) = session_with_alert(&e, &mut a, f, vec![], 200);
        assert_eq!(subjects(&out), ["old"]);
    }

    fn field_filtered(dev: &Device, params: &[&str], max: Option<u64>) -> Command {
        let Command::Alert(mut a) = alert(dev, AlertCode::TwoWay) else { unreachable!() };
        let target = a.items[0].target.as_mut().unwrap();
        target.filter = Some(Box::new(Filter {
            meta: Meta::with_type(EMAIL_TYPE),
            field: Some(Item {
                meta: Some(Meta::with_type(super::FIELD_TYPE)),
                data: Some(Data::Properties(vec![Property {
                    prop_name: "emailitem".into(),
                    max_size: max,
                    prop_params: params
                        .iter()
                        .map(|n| PropParam { param_name: (*n).into(), ..Default::default() })
                        .collect(),
                    ..Default::default()
                }])),
                ..Default::default()
            }),
            ..Default::default()
        }));
        Command::Alert(a)
    }

    fn email_of(cmd: &Command) -> Email {
        let items = match cmd {
            Command::Add(a) => &a.items,
            Command::Replace(r) => &r.items,
            other => panic!("{other:?}"),
        };
        Email::parse(items[0].data.as_ref().and_then(Data::bytes).unwrap()).unwrap()
    }

    #[test]
    fn a_field_filter_cuts_messages_and_their_reduced_copy_never_overwrites_the_stored_one() {
        use crate::cpm::objects::ext_value;
        use crate::cpm::shape::BODY_EXT;
        let (e, store) = engine();
        let user = store.user_by_name("alice").unwrap().unwrap().id;
        let long = format!("Subject: long\r\n\r\n{}", "a line of text\r\n".repeat(100));
        let full = Email { emailitem: long.clone().into_bytes(), ..Default::default() }.to_xml();
        let add = Mutation::Add { parent: None, content_type: EMAIL_TYPE.into(), data: full.clone() };
        let guid = store.apply(user, "contacts", &Origin::Service, &[add]).unwrap()[0].guid().unwrap().to_string();
        let mut a = first_contact(&e, "dev-a");
        let f = field_filtered(&a, &["texttype"], Some(64));
        let (out, _, _) = session_with_alert(&e, &mut a, f, vec![], 100);
        let [add @ Command::Add(_)] = &out[..] else { panic!("{out:?}") };
        let sent = email_of(add);
        assert!(sent.emailitem.len() < 100, "{}", String::from_utf8_lossy(&sent.emailitem));
        assert_eq!(ext_value(&sent.ext, BODY_EXT), Some("1536"), "64 of 1600 bytes of text, at a line end");
        let link = ext_value(&sent.ext, crate::cpm::link::LINK_EXT).unwrap();
        assert!(link.starts_with(&format!("http://127.0.0.1/link/alice/contacts/{guid}?exp=")), "{link}");

        // The device marks its short copy read and sends it back whole: the text stays.
        let mut seen = sent.clone();
        seen.read = true;
        let replace = Command::Replace(Replace {
            cmd_id: 1,
            meta: Some(Meta::with_type(EMAIL_TYPE)),
            items: vec![Item {
                source: Some(Source::uri("100")),
                data: Some(Data::Bytes(seen.to_xml())),
                ..Default::default()
            }],
            ..Default::default()
        });
        let plain = alert(&a, AlertCode::TwoWay);
        let (_, status, _) = session_with_alert(&e, &mut a, plain, vec![replace], 200);
        assert_eq!(status, 200);
        let stored = Email::parse(&store.item(user, "contacts", &guid).unwrap().unwrap().data).unwrap();
        assert!(stored.read);
        assert_eq!(String::from_utf8(stored.emailitem).unwrap(), long, "the whole text is kept");
        assert!(stored.ext.is_empty(), "no marks stored");

        // Headers only: nothing of the text.
        let mut b = first_contact(&e, "dev-b");
        let f = field_filtered(&b, &[], None);
        let (out, _, _) = session_with_alert(&e, &mut b, f, vec![], 100);
        let sent = email_of(&out[0]);
        assert_eq!(sent.emailitem, b"Subject: long\r\n\r\n");
        assert!(sent.read, "states travel");
    }

    #[test]
    fn an_operator_limit_by_device_class_sends_details_and_links() {
        use crate::cpm::objects::{ext_value, File, FILE_TYPE};
        use crate::engine::config::DeviceLimit;
        let store: std::sync::Arc<dyn crate::store::Store> =
            std::sync::Arc::new(crate::store::memory::MemoryStore::new());
        store.create_user("alice", &crate::auth::md5_secret("alice", "secret")).unwrap();
        let limit = DeviceLimit {
            dev_typ: Some("phone".into()),
            datastore: None,
            max_size: Some(1000),
            link: false,
            headers_only: false,
            no_attachments: false,
        };
        let cfg = crate::engine::EngineConfig { limits: vec![limit], ..Default::default() };
        let e = crate::engine::Engine::new(store.clone(), cfg);
        let user = store.user_by_name("alice").unwrap().unwrap().id;
        let file = |name: &str, n: usize| Mutation::Add {
            parent: None,
            content_type: FILE_TYPE.into(),
            data: File { name: name.into(), body: Some(vec![b'x'; n]), ..Default::default() }.to_xml(),
        };
        store.apply(user, "contacts", &Origin::Service, &[file("small.txt", 10), file("big.bin", 5000)]).unwrap();
        // The phone's stored DevInf gives its class.
        let mut a = first_contact(&e, "dev-a");
        let mut record = store.device(user, "dev-a").unwrap().unwrap();
        let di =
            DevInf { ver_dtd: "1.2".into(), dev_id: "dev-a".into(), dev_typ: "phone".into(), ..Default::default() };
        record.devinf = Some(
            crate::codec::encode(&crate::codec::Document::DevInf(di), crate::codec::Encoding::Xml, false).unwrap(),
        );
        store.put_device(user, &record).unwrap();
        let plain = alert(&a, AlertCode::TwoWay);
        let (out, _, _) = session_with_alert(&e, &mut a, plain, vec![], 100);
        let files: Vec<File> = out
            .iter()
            .map(|c| match c {
                Command::Add(x) => File::parse(x.items[0].data.as_ref().and_then(Data::bytes).unwrap()).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        let big = files.iter().find(|f| f.name == "big.bin").unwrap();
        assert_eq!((big.body.as_ref(), big.size), (None, Some(5000)));
        assert!(ext_value(&big.ext, crate::cpm::link::LINK_EXT).is_some_and(|l| l.contains("/link/alice/contacts/")));
        let small = files.iter().find(|f| f.name == "small.txt").unwrap();
        assert_eq!(small.body.as_deref(), Some(&b"xxxxxxxxxx"[..]));
        // A workstation is not limited.
        let mut pc = first_contact(&e, "dev-pc");
        let plain = alert(&pc, AlertCode::TwoWay);
        let (out, _, _) = session_with_alert(&e, &mut pc, plain, vec![], 100);
        assert!(out.iter().all(|c| matches!(c, Command::Add(x) if !String::from_utf8_lossy(x.items[0].data.as_ref().and_then(Data::bytes).unwrap()).contains("X-CPM-LINK"))));
    }

    #[test]
    fn a_changed_filter_or_shape_brings_the_device_in_line_once() {
        let (e, store) = engine();
        let user = store.user_by_name("alice").unwrap().unwrap().id;
        let add = |s: &str, read| Mutation::Add { parent: None, content_type: EMAIL_TYPE.into(), data: mail(s, read) };
        store
            .apply(user, "contacts", &Origin::Service, &[add("one", false), add("two", true), add("three", false)])
            .unwrap();
        let mut a = first_contact(&e, "dev-a");
        let f = filtered(&a, "READ&EQ;false", false);
        let (out, _, _) = session_with_alert(&e, &mut a, f, vec![], 100);
        assert_eq!(out.len(), 2);
        // The same filter again, nothing changed: nothing to do.
        let f = filtered(&a, "READ&EQ;false", false);
        let (out, _, _) = session_with_alert(&e, &mut a, f, vec![], 200);
        assert!(out.is_empty(), "{out:?}");
        // The filter is dropped: what it held back comes now.
        let (out, _, _) = session(&e, &mut a, AlertCode::TwoWay, vec![], 300);
        assert_eq!(subjects(&out), ["two"]);
        // The device's shape becomes headers only: everything it holds goes again, reduced, once.
        let prefs = r#"{"mode":"manual","filters":{"contacts":{"shape":{"headers_only":true}}}}"#;
        store.set_device_prefs(user, "dev-a", Some(prefs), None).unwrap();
        let (out, _, _) = session(&e, &mut a, AlertCode::TwoWay, vec![], 400);
        assert_eq!(out.len(), 3, "{out:?}");
        for cmd in &out {
            let Command::Replace(r) = cmd else { panic!("{cmd:?}") };
            let text = String::from_utf8_lossy(r.items[0].data.as_ref().and_then(Data::bytes).unwrap()).into_owned();
            assert!(text.contains("x-funambol-body") && text.contains("X-CPM-LINK"), "{text}");
        }
        let (out, _, _) = session(&e, &mut a, AlertCode::TwoWay, vec![], 500);
        assert!(out.is_empty(), "only once: {out:?}");
        // Back to whole: the full messages go again.
        store.set_device_prefs(user, "dev-a", Some(r#"{"mode":"manual"}"#), None).unwrap();
        let (out, _, _) = session(&e, &mut a, AlertCode::TwoWay, vec![], 600);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|c| matches!(c, Command::Replace(r) if !String::from_utf8_lossy(r.items[0].data.as_ref().and_then(Data::bytes).unwrap()).contains("x-funambol"))));
    }

    #[test]
    fn a_bad_query_is_422_with_the_reason() {
        let (e, _) = engine();
        let a = first_contact(&e, "dev-a");
        let mut s = e.new_session();
        let msg = Message {
            version: Version::V1_2,
            header: header(&a, "1", 1, Some(md5_cred(&a.nonce, "secret"))),
            body: vec![filtered(&a, "READ&EQUALS;false", false)],
            final_: true,
        };
        let r = e.handle(&mut s, msg, &ctx());
        assert_eq!(statuses(&r)[1], (CmdName::Alert, 422));
        let reason = r.message.body.iter().find_map(|c| match c {
            Command::Status(st) if st.cmd == CmdName::Alert => st
                .items
                .first()
                .and_then(|i| i.data.as_ref())
                .and_then(Data::bytes)
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            _ => None,
        });
        assert!(reason.is_some_and(|t| t.contains("unknown operator")));
    }
}
