//! Runs the cases one after the other (some servers serve one session at a time), applies the
//! expected-failures file, prints one line per case and the summary line.
//!
//! Pure bookkeeping plus the loop; the command line is `crate::cli` (`syncgate conformance`).

use std::time::Duration;

use serde::Deserialize;

use crate::conformance::{Case, CaseError, Ctx, Outcome};

/// The expected-failures file (TOML): `[[expected]] id = "auth-03" reason = "why"`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFile {
    #[serde(default)]
    pub expected: Vec<ExpectedFailure>,
}

/// One known gap of the server under test.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFailure {
    pub id: String,
    pub reason: String,
}

/// Why an expected-failures file is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExpectedError {
    #[error("not valid TOML of the expected form: {0}")]
    Syntax(String),
    #[error("entry {0:?} has an empty reason")]
    NoReason(String),
    #[error("entry {0:?} names no case of the suite")]
    UnknownCase(String),
    #[error("entry {0:?} is listed twice")]
    Duplicate(String),
}

impl ExpectedFile {
    /// Parses and checks the file against the suite's case ids.
    pub fn parse(text: &str, known_ids: &[&str]) -> Result<ExpectedFile, ExpectedError> {
        let file: ExpectedFile = toml::from_str(text).map_err(|e| ExpectedError::Syntax(one_line(&e.to_string())))?;
        let mut seen = Vec::new();
        for e in &file.expected {
            if e.reason.trim().is_empty() {
                return Err(ExpectedError::NoReason(e.id.clone()));
            }
            if !known_ids.contains(&e.id.as_str()) {
                return Err(ExpectedError::UnknownCase(e.id.clone()));
            }
            if seen.contains(&e.id) {
                return Err(ExpectedError::Duplicate(e.id.clone()));
            }
            seen.push(e.id.clone());
        }
        Ok(file)
    }

    /// The reason a case is expected to fail, if it is.
    pub fn reason(&self, id: &str) -> Option<&str> {
        self.expected.iter().find(|e| e.id == id).map(|e| e.reason.as_str())
    }
}

/// The verdict of one case after the expected-failures file was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Passed although listed as an expected failure (the entry should go).
    UnexpectedPass {
        expected: String,
    },
    Fail(String),
    ExpectedFail {
        reason: String,
        expected: String,
    },
    NotApplicable(String),
}

impl Verdict {
    /// Combines a case outcome with its expected-failure entry.
    pub fn of(outcome: Outcome, expected: Option<&str>) -> Verdict {
        match (outcome, expected) {
            (Outcome::Pass, None) => Verdict::Pass,
            (Outcome::Pass, Some(why)) => Verdict::UnexpectedPass { expected: why.to_string() },
            (Outcome::Fail(reason), None) => Verdict::Fail(reason),
            (Outcome::Fail(reason), Some(why)) => Verdict::ExpectedFail { reason, expected: why.to_string() },
            (Outcome::NotApplicable(reason), _) => Verdict::NotApplicable(reason),
        }
    }

    /// The line printed for the case.
    pub fn line(&self, id: &str, title: &str) -> String {
        match self {
            Verdict::Pass => format!("PASS  {id}  {title}"),
            Verdict::UnexpectedPass { expected } => {
                format!("PASS  {id}  {title} (listed as expected failure, remove the entry: {expected})")
            }
            Verdict::Fail(reason) => format!("FAIL  {id}  {title}: {reason}"),
            Verdict::ExpectedFail { reason, expected } => {
                format!("XFAIL {id}  {title}: {reason} (expected: {expected})")
            }
            Verdict::NotApplicable(reason) => format!("N/A   {id}  {title}: {reason}"),
        }
    }
}

/// The counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub expected_failures: usize,
    pub not_applicable: usize,
}

impl Summary {
    pub fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Pass | Verdict::UnexpectedPass { .. } => self.passed += 1,
            Verdict::Fail(_) => self.failed += 1,
            Verdict::ExpectedFail { .. } => self.expected_failures += 1,
            Verdict::NotApplicable(_) => self.not_applicable += 1,
        }
    }

    /// `N passed, N failed, N expected failures, N not applicable`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} expected failures, {} not applicable",
            self.passed, self.failed, self.expected_failures, self.not_applicable
        )
    }

    /// True when every failure was an expected one.
    pub fn ok(&self) -> bool {
        self.failed == 0
    }
}

/// Runs one case with a time limit and turns its result into an [`Outcome`].
pub async fn run_case(case: &Case, ctx: &Ctx, limit: Duration) -> Outcome {
    let ctx = Ctx { case_id: case.id.to_string(), ..ctx.clone() };
    match tokio::time::timeout(limit, (case.run)(ctx)).await {
        Err(_) => Outcome::Fail(format!("no verdict within {} s", limit.as_secs())),
        Ok(Ok(())) => Outcome::Pass,
        Ok(Err(CaseError::NotApplicable(why))) => Outcome::NotApplicable(why),
        Ok(Err(e)) => Outcome::Fail(one_line(&e.to_string())),
    }
}

/// Runs `cases` in order, calling `report` with each line as soon as the case ends.
pub async fn run_all(
    cases: &[Case],
    ctx: &Ctx,
    expected: &ExpectedFile,
    limit: Duration,
    mut report: impl FnMut(&str),
) -> Summary {
    let mut summary = Summary::default();
    for case in cases {
        let outcome = run_case(case, ctx, limit).await;
        let verdict = Verdict::of(outcome, expected.reason(case.id));
        summary.add(&verdict);
        report(&verdict.line(case.id, case.title));
    }
    summary
}

/// Keeps a reason on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &[&str] = &["auth-01", "hdr-02"];

    #[test]
    fn expected_file_parses_and_checks_entries() {
        let text = "[[expected]]\nid = \"auth-01\"\nreason = \"no 407 yet\"\n\n[[expected]]\nid = \"hdr-02\"\nreason = \"x\"\n";
        let file = ExpectedFile::parse(text, IDS).unwrap();
        assert_eq!(file.expected.len(), 2);
        assert_eq!(file.reason("auth-01"), Some("no 407 yet"));
        assert_eq!(file.reason("hdr-03"), None);
        assert_eq!(ExpectedFile::parse("", IDS).unwrap(), ExpectedFile::default());
        assert_eq!(ExpectedFile::parse("# nothing expected\n", IDS).unwrap().expected, vec![]);
    }

    #[test]
    fn expected_file_refuses_bad_entries() {
        let no_reason = "[[expected]]\nid = \"auth-01\"\nreason = \" \"\n";
        assert_eq!(ExpectedFile::parse(no_reason, IDS), Err(ExpectedError::NoReason("auth-01".into())));
        let unknown = "[[expected]]\nid = \"auth-99\"\nreason = \"r\"\n";
        assert_eq!(ExpectedFile::parse(unknown, IDS), Err(ExpectedError::UnknownCase("auth-99".into())));
        let twice = "[[expected]]\nid = \"auth-01\"\nreason = \"r\"\n[[expected]]\nid = \"auth-01\"\nreason = \"s\"\n";
        assert_eq!(ExpectedFile::parse(twice, IDS), Err(ExpectedError::Duplicate("auth-01".into())));
        let missing = "[[expected]]\nid = \"auth-01\"\n";
        assert!(matches!(ExpectedFile::parse(missing, IDS), Err(ExpectedError::Syntax(_))));
        let extra = "[[expected]]\nid = \"auth-01\"\nreason = \"r\"\nseverity = 1\n";
        assert!(matches!(ExpectedFile::parse(extra, IDS), Err(ExpectedError::Syntax(_))));
    }

    #[test]
    fn lines_and_summary() {
        let v = Verdict::of(Outcome::Pass, None);
        assert_eq!(v.line("hdr-01", "t (§1)"), "PASS  hdr-01  t (§1)");
        let v = Verdict::of(Outcome::Fail("got 500".into()), None);
        assert_eq!(v.line("hdr-01", "t"), "FAIL  hdr-01  t: got 500");
        let x = Verdict::of(Outcome::Fail("got 500".into()), Some("known"));
        assert_eq!(x.line("hdr-01", "t"), "XFAIL hdr-01  t: got 500 (expected: known)");
        let n = Verdict::of(Outcome::NotApplicable("no 1.2".into()), Some("ignored"));
        assert_eq!(n.line("s-1", "t"), "N/A   s-1  t: no 1.2");
        let u = Verdict::of(Outcome::Pass, Some("known"));
        assert!(u.line("a", "t").starts_with("PASS  a  t (listed as expected failure"));

        let mut s = Summary::default();
        for verdict in [&v, &x, &n, &u, &Verdict::Pass] {
            s.add(verdict);
        }
        assert_eq!(s.line(), "2 passed, 1 failed, 1 expected failures, 1 not applicable");
        assert!(!s.ok());
        let mut clean = Summary::default();
        clean.add(&x);
        assert!(clean.ok());
        assert_eq!(one_line("a\n  b\tc"), "a b c");
    }
}
