//! `syncgate codec decode|encode`.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

use crate::codec::{self, Encoding, Limits};

#[derive(Debug, Subcommand)]
pub enum CodecCommand {
    /// Read XML or WBXML (detected from the bytes) and print indented canonical XML.
    Decode {
        /// Input file; `-` or nothing for stdin.
        file: Option<PathBuf>,
    },
    /// Read XML or WBXML and write it in the given encoding to stdout.
    Encode {
        /// Output encoding.
        #[arg(long, value_enum)]
        to: Target,
        /// Input file; `-` or nothing for stdin.
        file: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Target {
    Xml,
    Wbxml,
}

pub fn run(cmd: CodecCommand) -> Result<(), String> {
    let limits = Limits::default();
    match cmd {
        CodecCommand::Decode { file } => {
            let input = super::read_input(file.as_ref())?;
            let (_, doc) = codec::decode(&input, &limits).map_err(|e| e.to_string())?;
            let mut out = codec::encode(&doc, Encoding::Xml, true).map_err(|e| e.to_string())?;
            out.push(b'\n');
            super::write_output(&out)
        }
        CodecCommand::Encode { to, file } => {
            let input = super::read_input(file.as_ref())?;
            let (_, doc) = codec::decode(&input, &limits).map_err(|e| e.to_string())?;
            let enc = match to {
                Target::Xml => Encoding::Xml,
                Target::Wbxml => Encoding::Wbxml,
            };
            let out = codec::encode(&doc, enc, false).map_err(|e| e.to_string())?;
            super::write_output(&out)
        }
    }
}
