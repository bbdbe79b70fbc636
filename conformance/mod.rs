//! The conformance suite: black-box cases that talk to a SyncML server over HTTP only
//! (`syncgate conformance --url URL --user U --password P`). Laid out by protocol area; see
//! `conformance/README.md`.
