//! The `syncgate` binary: parse the command line and run the chosen subcommand.

use clap::Parser;

fn main() {
    let cli = syncgate::cli::Cli::parse();
    if let Err(reason) = syncgate::cli::run(cli) {
        eprintln!("syncgate: {reason}");
        std::process::exit(1);
    }
}
