//! The command line: argument parsing and the `codec`, `san`, `serve`, `check-config`, `user`,
//! `client`, `load`, `conformance` and `bench` subcommands.
//!
//! Thin glue over the library: reads files or stdin, calls `codec`/`notify`, prints results.
//! Every failure becomes one line on stderr and exit status 1.

mod bench_cmd;
mod bench_filter;
mod bench_imap;
mod client_cmd;
mod codec_cmd;
mod conformance_cmd;
mod load_cmd;
mod san_cmd;
mod serve_cmd;
mod user_cmd;

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// syncgate: a SyncML / OMA DS 1.2 gateway.
#[derive(Debug, Parser)]
#[command(name = "syncgate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode and encode SyncML messages and DevInf documents (XML and WBXML).
    #[command(subcommand)]
    Codec(codec_cmd::CodecCommand),
    /// Build and inspect Server Alerted Notifications (package #0).
    #[command(subcommand)]
    San(san_cmd::SanCommand),
    /// Run the SyncML HTTP server until SIGTERM/SIGINT.
    Serve(serve_cmd::ServeArgs),
    /// Read and check the configuration (and the data directory) without starting anything;
    /// prints a summary and warnings, exits 1 with the reason when it is unusable.
    CheckConfig(serve_cmd::ConfigArgs),
    /// Manage user accounts (add, list, passwd, del).
    User(user_cmd::UserArgs),
    /// A simulated SyncML device: sync a folder of items with any SyncML server.
    Client(client_cmd::ClientArgs),
    /// Many simulated devices against a server: throughput, latency, server CPU and memory.
    Load(load_cmd::LoadArgs),
    /// Run the conformance suite against any SyncML server URL.
    Conformance(conformance_cmd::ConformanceArgs),
    /// Benchmarks that print numbers (server-initiated sync: `bench notify`; partial sync: `bench filter`).
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
}

/// Runs a parsed command line; the error is the one-line reason to print.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Codec(c) => codec_cmd::run(c),
        Command::San(c) => san_cmd::run(c),
        Command::Serve(c) => serve_cmd::run(c),
        Command::CheckConfig(c) => serve_cmd::check(&c),
        Command::User(c) => user_cmd::run(c),
        Command::Conformance(c) => conformance_cmd::run(c),
        Command::Client(c) => client_cmd::run(c),
        Command::Load(c) => load_cmd::run(c),
        Command::Bench(c) => bench_cmd::run(c),
    }
}

/// Reads a whole file, or stdin for `-` or no path.
pub(crate) fn read_input(path: Option<&PathBuf>) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    match path {
        None => std::io::stdin().read_to_end(&mut buf).map(|_| buf).map_err(|e| format!("stdin: {e}")),
        Some(p) if p.as_os_str() == "-" => {
            std::io::stdin().read_to_end(&mut buf).map(|_| buf).map_err(|e| format!("stdin: {e}"))
        }
        Some(p) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())),
    }
}

/// Writes bytes to stdout.
pub(crate) fn write_output(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|_| out.flush()).map_err(|e| format!("stdout: {e}"))
}
