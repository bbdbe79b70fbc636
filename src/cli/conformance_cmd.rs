//! `syncgate conformance`: runs the conformance suite (`conformance/`) against a server URL,
//! prints one line per case and the summary line; exit status 1 when a failure is not listed in
//! the expected-failures file.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;

use crate::codec::Encoding;
use crate::conformance::runner::{self, ExpectedFile};
use crate::conformance::{all_cases, Ctx};
use crate::transport::Url;

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
    /// Device ids are PREFIX-<case id> (default: conf-<unix seconds>, unique per run).
    #[arg(long, value_name = "PREFIX")]
    pub device_prefix: Option<String>,
    /// Expected failures (TOML: [[expected]] id = "…" reason = "…").
    #[arg(long, value_name = "FILE")]
    pub expected: Option<PathBuf>,
    /// Run only the cases whose id contains this text.
    #[arg(long, value_name = "SUBSTRING")]
    pub only: Option<String>,
    /// Speak WBXML instead of XML in the ordinary cases.
    #[arg(long)]
    pub wbxml: bool,
    /// The datastore the cases sync (a vCard datastore of the server).
    #[arg(long, default_value = "contacts")]
    pub datastore: String,
    /// Seconds one HTTP exchange may take.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Print the cases and the device ids they would use, and run nothing.
    #[arg(long)]
    pub list: bool,
}

pub fn run(args: ConformanceArgs) -> Result<(), String> {
    let url = Url::parse(&args.url).map_err(|e| e.to_string())?;
    let cases: Vec<_> =
        all_cases().into_iter().filter(|c| args.only.as_deref().is_none_or(|s| c.id.contains(s))).collect();
    let ids: Vec<&str> = all_cases().iter().map(|c| c.id).collect();
    let expected = match &args.expected {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            ExpectedFile::parse(&text, &ids).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => ExpectedFile::default(),
    };
    let prefix = args.device_prefix.clone().unwrap_or_else(|| {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        format!("conf-{secs}")
    });
    if args.list {
        for c in &cases {
            println!("{}\t{}\t{}\t{}", c.id, c.area.name(), c.device_ids(&prefix).join(","), c.title);
        }
        return Ok(());
    }
    if cases.is_empty() {
        return Err(format!("no case id contains {:?}", args.only.unwrap_or_default()));
    }
    let ctx = Ctx {
        url_text: args.url.clone(),
        url,
        user: args.user,
        password: args.password,
        prefix,
        encoding: if args.wbxml { Encoding::Wbxml } else { Encoding::Xml },
        datastore: args.datastore,
        timeout: Duration::from_secs(args.timeout.max(1)),
        case_id: String::new(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    // A case may need several exchanges: allow it a few times the exchange timeout.
    let limit = ctx.timeout * 4;
    let summary = runtime.block_on(runner::run_all(&cases, &ctx, &expected, limit, |line| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }));
    println!("{}", summary.line());
    if summary.ok() {
        Ok(())
    } else {
        Err(format!("{} case(s) failed that are not listed as expected failures", summary.failed))
    }
}
