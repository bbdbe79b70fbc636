//! Command-line front end (placeholder).
