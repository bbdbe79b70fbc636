//! DS 1.2 filters (PROTOCOL.md §9): which items belong to a device's sync set (record filter,
//! `syncml:filtertype-cgi`, [`cgi`]) over the properties of each item ([`props`]), and the
//! keywords `SINCE`/`BEFORE` on an item's date.
//!
//! Pure: parsing and evaluation over data the caller gives. The engine reads the Filter of a
//! sync Alert and decides the sync set with [`RecordFilter::matches`].

pub mod cgi;
pub mod props;

use crate::filter::cgi::{Op, Prop, Query, Term, Value};
use crate::filter::props::{normalise_date, Props};

/// The grammar type of record filters this gateway reads.
pub const CGI_TYPE: &str = "syncml:filtertype-cgi";

/// The properties every datastore's FilterCap names (besides the keywords).
pub const KEYWORDS: &[&str] = &["SINCE", "BEFORE"];

/// A parsed record filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordFilter {
    query: Query,
}

impl RecordFilter {
    /// Parses the query text.
    pub fn parse(text: &str) -> Result<RecordFilter, cgi::QueryError> {
        Ok(RecordFilter { query: cgi::parse(text)? })
    }

    /// Whether an item (its properties, and its id on the device if it has one) matches.
    pub fn matches(&self, props: &Props, luid: Option<&str>) -> bool {
        eval(&self.query, props, luid)
    }

    /// Whether the query has relative dates (its set changes with time alone).
    pub fn is_relative(&self) -> bool {
        self.at(0) != *self
    }

    /// The filter with relative dates (`-30d`, `-12h`, `-15m`: that long before `now`, Unix
    /// seconds — a gateway extension for standing filters) made absolute.
    pub fn at(&self, now: i64) -> RecordFilter {
        RecordFilter { query: resolve(&self.query, now) }
    }
}

fn resolve(q: &Query, now: i64) -> Query {
    match q {
        Query::And(a, b) => Query::And(Box::new(resolve(a, now)), Box::new(resolve(b, now))),
        Query::Or(a, b) => Query::Or(Box::new(resolve(a, now)), Box::new(resolve(b, now))),
        Query::Term(t) => {
            let mut t = t.clone();
            if let Value::Text(v) = &t.value {
                if let Some(abs) = relative(v, now) {
                    t.value = Value::Text(abs);
                }
            }
            Query::Term(t)
        }
    }
}

/// `-30d` / `-12h` / `-15m` before `now` as a date, if `text` is one.
fn relative(text: &str, now: i64) -> Option<String> {
    let t = text.trim().strip_prefix('-')?;
    let (n, unit) = t.split_at(t.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    let secs = match unit {
        "d" | "D" => n.checked_mul(86_400)?,
        "h" | "H" => n.checked_mul(3_600)?,
        "m" | "M" => n.checked_mul(60)?,
        _ => return None,
    };
    let ts = jiff::Timestamp::from_second(now.checked_sub(secs)?).ok()?;
    Some(ts.strftime("%Y%m%dT%H%M%SZ").to_string())
}

fn eval(q: &Query, props: &Props, luid: Option<&str>) -> bool {
    match q {
        Query::And(a, b) => eval(a, props, luid) && eval(b, props, luid),
        Query::Or(a, b) => eval(a, props, luid) || eval(b, props, luid),
        Query::Term(t) => term(t, props, luid),
    }
}

fn term(t: &Term, props: &Props, luid: Option<&str>) -> bool {
    let values: Vec<String> = match &t.prop {
        Prop::Luid => luid.map(|l| vec![l.to_string()]).unwrap_or_default(),
        // SINCE/BEFORE: the item's date against the value (the operator is written EQ).
        Prop::Named(k) if k == "SINCE" || k == "BEFORE" => {
            let Value::Text(v) = &t.value else { return false };
            let bound = normalise_date(v);
            let Some(date) = props.get("DATE").and_then(|d| d.first()) else { return false };
            return if k == "SINCE" { *date >= bound } else { *date < bound };
        }
        Prop::Named(k) => props.get(k).cloned().unwrap_or_default(),
    };
    let present: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
    let wanted = match &t.value {
        Value::Null => {
            return match t.op {
                Op::Ne | Op::NCon => !present.is_empty(),
                _ => present.is_empty(),
            }
        }
        Value::Text(v) => v,
    };
    let one = |v: &String| compare(v, wanted, t.op, t.case_insensitive);
    match t.op {
        // Negations hold when no value is equal / contains.
        Op::Ne => !present.iter().any(|v| compare(v, wanted, Op::Eq, t.case_insensitive)),
        Op::NCon => !present.iter().any(|v| compare(v, wanted, Op::Con, t.case_insensitive)),
        _ => present.iter().any(|v| one(v)),
    }
}

/// One value against the wanted one: numbers as numbers, dates in their normal form, text
/// (case-folded with the `i` operators) otherwise.
fn compare(have: &str, want: &str, op: Op, ci: bool) -> bool {
    let (h, w) = if ci { (have.to_lowercase(), want.to_lowercase()) } else { (have.to_string(), want.to_string()) };
    if matches!(op, Op::Con | Op::NCon) {
        return h.contains(&w);
    }
    let order = match (have.trim().parse::<f64>(), want.trim().parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b),
        _ => {
            let (a, b) = (normalise_date(&h), normalise_date(&w));
            let dates = a.len() == 16 && b.len() == 16 && a.ends_with(['Z', 'z']) && b.ends_with(['Z', 'z']);
            if dates {
                Some(a.to_ascii_uppercase().cmp(&b.to_ascii_uppercase()))
            } else {
                Some(h.cmp(&w))
            }
        }
    };
    let Some(o) = order else { return false };
    match op {
        Op::Eq => o.is_eq(),
        Op::Ne => o.is_ne(),
        Op::Gt => o.is_gt(),
        Op::Ge => o.is_ge(),
        Op::Lt => o.is_lt(),
        Op::Le => o.is_le(),
        Op::Con | Op::NCon => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Props {
        let mut p = Props::new();
        for (k, v) in pairs {
            p.entry((*k).to_string()).or_default().push((*v).to_string());
        }
        p
    }

    fn m(q: &str, p: &Props) -> bool {
        RecordFilter::parse(q).unwrap().matches(p, Some("17"))
    }

    #[test]
    fn every_operator_on_text_numbers_and_dates() {
        let p = props(&[
            ("SUBJECT", "Lunch at Noon"),
            ("SIZE", "1500"),
            ("DATE", "20261122T090000Z"),
            ("EMAIL", "a@x"),
            ("EMAIL", "b@y"),
        ]);
        assert!(
            m("SUBJECT&EQ;Lunch at Noon", &p)
                && !m("SUBJECT&EQ;lunch at noon", &p)
                && m("SUBJECT&iEQ;lunch at noon", &p)
        );
        assert!(m("SUBJECT&NE;x", &p) && !m("SUBJECT&iNE;LUNCH AT NOON", &p));
        assert!(m("SUBJECT&CON;Noon", &p) && !m("SUBJECT&CON;noon", &p) && m("SUBJECT&iCON;noon", &p));
        assert!(m("SUBJECT&NCON;dinner", &p) && !m("SUBJECT&iNCON;LUNCH", &p));
        assert!(m("SIZE&GT;999", &p) && !m("SIZE&GT;1500", &p) && m("SIZE&GE;1500", &p), "numbers, not text");
        assert!(m("SIZE&LT;10000", &p) && m("SIZE&LE;1500", &p) && !m("SIZE&LT;1500", &p));
        assert!(m("DATE&GE;2026-11-22", &p) && !m("DATE&GE;2026-11-23", &p), "dates in either ISO form");
        assert!(m("SINCE&EQ;20261101T000000Z", &p) && !m("BEFORE&EQ;20261101T000000Z", &p));
        assert!(m("EMAIL&EQ;b@y", &p) && !m("EMAIL&NE;b@y", &p), "any of several values");
        assert!(m("NOTE&EQ;&NULL;", &p) && !m("SUBJECT&EQ;&NULL;", &p) && m("SUBJECT&NE;&NULL;", &p));
        assert!(m("&LUID;&EQ;17", &p) && !m("&LUID&EQ;18", &p));
        assert!(m("(SIZE&GT;2000&OR;SUBJECT&iCON;lunch)&AND;DATE&GE;20260101", &p));
        assert!(!m("SIZE&GT;2000&OR;SUBJECT&iCON;dinner", &p));
        assert!(!RecordFilter::parse("SIZE&GT;1").unwrap().matches(&p, None) || m("SIZE&GT;1", &p));
    }

    #[test]
    fn relative_dates_are_resolved_against_the_sync_time() {
        let p = props(&[("DATE", "20261122T090000Z")]);
        let now = jiff::Timestamp::from_second(0).unwrap().as_second() + 1_795_000_000; // 2026-11-18
        let f = RecordFilter::parse("SINCE&EQ;-30d").unwrap();
        assert!(f.at(now).matches(&p, None));
        let later = now + 40 * 86_400;
        assert!(!f.at(later).matches(&p, None), "older than 30 days by then");
        assert!(RecordFilter::parse("DATE&GE;-1h")
            .unwrap()
            .at(later)
            .matches(&props(&[("DATE", "29991231T000000Z")]), None));
        assert_eq!(relative("-2x", 0), None);
        assert_eq!(relative("30d", 0), None, "only times before now");
    }
}
