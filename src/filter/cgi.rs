//! The `syncml:filtertype-cgi` record-filter grammar (PROTOCOL.md §9.2), as libsynthesis accepts
//! it and Funambol writes it:
//!
//! ```text
//! query := or
//! or    := and { ("&OR;" | "|") and }
//! and   := unit { ("&AND;" | "&amp;" | "&") unit }
//! unit  := "(" query ")" | term
//! term  := ident op value
//! ident := "&LUID;" | "&LUID" (Funambol's form) | name (letters, digits, - _ . [ ])
//! op    := "&" ["i"] ("EQ" | "NE" | "GT" | "GE" | "LT" | "LE" | "CON" | "NCON") ";"
//! value := "&NULL;" | text up to "&", "|" or ")", with %XX escapes
//! ```
//!
//! Operators, `&AND;`/`&OR;` and `&NULL;`/`&LUID;` are matched case-insensitively; the `i` prefix
//! makes the comparison case-insensitive. Errors name the byte offset (the engine answers 422).

use std::fmt;

/// A parsed record filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    And(Box<Query>, Box<Query>),
    Or(Box<Query>, Box<Query>),
    Term(Term),
}

/// `PROPERTY OP VALUE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub prop: Prop,
    pub op: Op,
    /// The `i` prefix: compare case-insensitively.
    pub case_insensitive: bool,
    pub value: Value,
}

/// What a term tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prop {
    /// A property (or keyword such as `SINCE`), upper-cased.
    Named(String),
    /// `&LUID;`: the item's id on the device.
    Luid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Con,
    NCon,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    /// `&NULL;`: empty or absent.
    Null,
}

/// A query that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("record filter: {reason} at byte {offset}")]
pub struct QueryError {
    pub offset: usize,
    pub reason: String,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "EQ",
            Op::Ne => "NE",
            Op::Gt => "GT",
            Op::Ge => "GE",
            Op::Lt => "LT",
            Op::Le => "LE",
            Op::Con => "CON",
            Op::NCon => "NCON",
        })
    }
}

/// Parses a query (the text of the Record item's Data, XML-unescaped already).
pub fn parse(text: &str) -> Result<Query, QueryError> {
    let mut p = Parser { s: text.as_bytes(), pos: 0, depth: 0 };
    p.skip_spaces();
    if p.pos >= p.s.len() {
        return Err(p.err("empty query"));
    }
    let q = p.or()?;
    p.skip_spaces();
    if p.pos < p.s.len() {
        return Err(p.err("unexpected text after the query"));
    }
    Ok(q)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

const OPS: &[(&str, Op)] = &[
    ("NCON", Op::NCon),
    ("CON", Op::Con),
    ("EQ", Op::Eq),
    ("NE", Op::Ne),
    ("GE", Op::Ge),
    ("GT", Op::Gt),
    ("LE", Op::Le),
    ("LT", Op::Lt),
];

impl Parser<'_> {
    fn err(&self, reason: &str) -> QueryError {
        QueryError { offset: self.pos, reason: reason.to_string() }
    }

    fn skip_spaces(&mut self) {
        while self.s.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes `word` (case-insensitive) when it is next.
    fn eat(&mut self, word: &str) -> bool {
        let end = self.pos + word.len();
        if end <= self.s.len() && self.s[self.pos..end].eq_ignore_ascii_case(word.as_bytes()) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Query, QueryError> {
        let mut left = self.and()?;
        loop {
            self.skip_spaces();
            if self.eat("&OR;") || self.eat("|") {
                let right = self.and()?;
                left = Query::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and(&mut self) -> Result<Query, QueryError> {
        let mut left = self.unit()?;
        loop {
            self.skip_spaces();
            // A bare `&` between terms is AND too.
            let bare = self.s.get(self.pos) == Some(&b'&') && !self.next_is_or();
            if !(self.eat("&AND;") || self.eat("&amp;")) {
                if !bare {
                    return Ok(left);
                }
                self.pos += 1;
            }
            let right = self.unit()?;
            left = Query::And(Box::new(left), Box::new(right));
        }
    }

    fn next_is_or(&self) -> bool {
        let rest = &self.s[self.pos..];
        rest.len() >= 4 && rest[..4].eq_ignore_ascii_case(b"&OR;")
    }

    fn unit(&mut self) -> Result<Query, QueryError> {
        self.skip_spaces();
        if self.s.get(self.pos) == Some(&b'(') {
            self.pos += 1;
            self.depth += 1;
            if self.depth > 64 {
                return Err(self.err("parentheses nested too deep"));
            }
            let q = self.or()?;
            self.skip_spaces();
            if self.s.get(self.pos) != Some(&b')') {
                return Err(self.err("missing ')'"));
            }
            self.pos += 1;
            self.depth -= 1;
            return Ok(q);
        }
        self.term().map(Query::Term)
    }

    fn term(&mut self) -> Result<Term, QueryError> {
        let prop = if self.eat("&LUID;") || self.eat("&LUID") {
            Prop::Luid
        } else {
            let start = self.pos;
            while self.s.get(self.pos).is_some_and(|b| b.is_ascii_alphanumeric() || b"-_.[]".contains(b)) {
                self.pos += 1;
            }
            if self.pos == start {
                return Err(self.err("expected a property name"));
            }
            Prop::Named(String::from_utf8_lossy(&self.s[start..self.pos]).to_ascii_uppercase())
        };
        self.skip_spaces();
        if !self.eat("&") {
            return Err(self.err("expected an operator such as &EQ;"));
        }
        let case_insensitive =
            matches!(self.s.get(self.pos), Some(b'i' | b'I')) && !OPS.iter().any(|(name, _)| self.peek_op(name));
        if case_insensitive {
            self.pos += 1;
        }
        let Some(op) = OPS.iter().find(|(name, _)| self.peek_op(name)).map(|(name, op)| {
            self.pos += name.len() + 1;
            *op
        }) else {
            return Err(self.err("unknown operator (EQ NE GT GE LT LE CON NCON, optionally with i)"));
        };
        let value = if self.eat("&NULL;") { Value::Null } else { Value::Text(self.value()?) };
        Ok(Term { prop, op, case_insensitive, value })
    }

    /// Whether `name;` follows (case-insensitive).
    fn peek_op(&self, name: &str) -> bool {
        let rest = &self.s[self.pos..];
        rest.len() > name.len() && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes()) && rest[name.len()] == b';'
    }

    fn value(&mut self) -> Result<String, QueryError> {
        let mut out = Vec::new();
        while let Some(&b) = self.s.get(self.pos) {
            match b {
                b'&' | b'|' | b')' => break,
                b'%' => {
                    let hex = self.s.get(self.pos + 1..self.pos + 3).and_then(|h| std::str::from_utf8(h).ok());
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(v) => {
                            out.push(v);
                            self.pos += 3;
                        }
                        None => return Err(self.err("bad %XX escape")),
                    }
                }
                _ => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        let text = String::from_utf8(out).map_err(|_| self.err("value is not UTF-8"))?;
        Ok(text.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(prop: &str, op: Op, ci: bool, value: &str) -> Query {
        Query::Term(Term { prop: Prop::Named(prop.into()), op, case_insensitive: ci, value: Value::Text(value.into()) })
    }

    #[test]
    fn operators_and_their_case_insensitive_forms() {
        for (text, op, ci) in [
            ("A&EQ;x", Op::Eq, false),
            ("A&iEQ;x", Op::Eq, true),
            ("A&ieq;x", Op::Eq, true),
            ("A&NE;x", Op::Ne, false),
            ("A&GT;x", Op::Gt, false),
            ("A&iGE;x", Op::Ge, true),
            ("A&LT;x", Op::Lt, false),
            ("A&le;x", Op::Le, false),
            ("A&CON;x", Op::Con, false),
            ("A&iCON;x", Op::Con, true),
            ("A&NCON;x", Op::NCon, false),
            ("A&iNCON;x", Op::NCon, true),
        ] {
            assert_eq!(parse(text), Ok(term("A", op, ci, "x")), "{text}");
        }
    }

    #[test]
    fn connectives_groups_and_special_values() {
        let q = parse("(FROM&iCON;bob&OR;FROM&iCON;eve)&AND;READ&EQ;false").unwrap();
        let or = Query::Or(Box::new(term("FROM", Op::Con, true, "bob")), Box::new(term("FROM", Op::Con, true, "eve")));
        assert_eq!(q, Query::And(Box::new(or), Box::new(term("READ", Op::Eq, false, "false"))));
        assert_eq!(parse("a&EQ;1&b&EQ;2"), parse("A&EQ;1&AND;B&EQ;2"), "a bare & is AND");
        assert_eq!(parse("a&EQ;1&amp;b&EQ;2"), parse("A&EQ;1&AND;B&EQ;2"));
        assert_eq!(parse("a&EQ;1|b&EQ;2"), parse("A&EQ;1&OR;B&EQ;2"));
        let null = parse("NOTE&EQ;&NULL;").unwrap();
        assert!(matches!(null, Query::Term(Term { value: Value::Null, .. })));
        for luid in ["&LUID;&iEQ;17", "&LUID&iEQ;17", "&luid;&EQ;17"] {
            assert!(matches!(parse(luid).unwrap(), Query::Term(Term { prop: Prop::Luid, .. })), "{luid}");
        }
        assert_eq!(parse("SUBJECT&CON;50%25%20off"), Ok(term("SUBJECT", Op::Con, false, "50% off")));
        assert_eq!(parse("modified&iGE;20240101T000000Z"), Ok(term("MODIFIED", Op::Ge, true, "20240101T000000Z")));
        assert_eq!(parse("EMAIL[WORK]&EQ;x"), Ok(term("EMAIL[WORK]", Op::Eq, false, "x")));
    }

    #[test]
    fn bad_queries_name_the_place() {
        for (text, reason) in [
            ("", "empty"),
            ("A&XX;1", "unknown operator"),
            ("A=1", "operator"),
            ("(A&EQ;1", "missing ')'"),
            ("A&EQ;1)", "after the query"),
            ("&EQ;1", "property name"),
            ("A&EQ;%G1", "escape"),
            ("A&EQ;1&OR;", "property name"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.reason.contains(reason), "{text}: {e}");
        }
        assert!(parse(&"(".repeat(100)).is_err(), "deep nesting is refused, not a stack overflow");
    }
}
