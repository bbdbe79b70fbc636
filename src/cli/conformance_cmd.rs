//! `syncgate conformance`: runs the conformance suite (`conformance/`) against a server URL.

use clap::Args;

/// Arguments of `syncgate conformance`.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// The server's sync URL, e.g. http://127.0.0.1:8080/sync.
    #[arg(long)]
    pub url: String,
    /// An existing account on the server.
    #[arg(long)]
    pub user: String,
    #[arg(long)]
    pub password: String,
}

pub fn run(_args: ConformanceArgs) -> Result<(), String> {
    Err("not written yet".into())
}
