//! Placeholder: the conformance suite against a running syncgate (issue 5).
