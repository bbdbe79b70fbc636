//! `syncgate conformance`: runs the conformance suite (`conformance/`) against a server URL.
