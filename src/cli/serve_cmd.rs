//! `syncgate serve`: load the configuration, open the store, start logging and the HTTP server,
//! run until SIGTERM/SIGINT. Also the `--config`/`--data-dir` options shared with `user`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::server::{self, Server};
use crate::store::sqlite::SqliteStore;

/// Options of `syncgate serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (overrides `listen` of the config file).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// `text` or `json` log lines (overrides `log_format` of the config file).
    #[arg(long, value_enum)]
    pub log_format: Option<crate::config::LogFormat>,
    #[command(flatten)]
    pub common: ConfigArgs,
}

/// Where the configuration and the data are.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML); without it every setting has its default.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory holding syncgate.db (overrides `data_dir` of the config file).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    /// The configuration file (or the defaults) with the command-line overrides applied.
    pub fn load(&self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }

    /// The configuration and the store in its data directory (created when missing).
    pub fn open_store(&self) -> Result<(Config, SqliteStore), String> {
        let config = self.load()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
        let path = config.database_path();
        let store = SqliteStore::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((config, store))
    }
}

/// Runs the server until a signal stops it.
pub fn run(args: ServeArgs) -> Result<(), String> {
    let (mut config, store) = args.common.open_store()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(f) = args.log_format {
        config.log_format = f;
    }
    init_logging(&config.log, config.log_format)?;
    tracing::info!("starting: {config}");
    let store: Arc<dyn crate::store::Store> = Arc::new(store);
    // The messages datastore in an IMAP server ([imap]); everything else stays local.
    let store: Arc<dyn crate::store::Store> = if config.imap.enabled {
        tracing::info!(address = %config.imap.address, datastore = %config.imap.datastore, "datastore kept in IMAP");
        let mailer = Arc::new(crate::store::imap::pool::ImapMailer::new(config.imap.clone()));
        Arc::new(crate::store::imap::ImapStore::new(store, mailer, &config.imap.datastore))
    } else {
        store
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let listen = config.listen;
    let result = runtime.block_on(async move {
        // Watch the signals before announcing the address, so that a signal right after the
        // announcement already stops the server gracefully.
        let shutdown = server::shutdown_signal().map_err(|e| format!("cannot watch signals: {e}"))?;
        let clock = Arc::new(server::notifier::SystemClock);
        let server = Server::bind_notifying(config, store, clock)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        server.run(shutdown).await.map_err(|e| format!("server failed: {e}"))
    });
    // Blocking tasks left over (an engine call that outlived the grace period) are not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Human-readable logs on stderr; `RUST_LOG` when set, else the configured filter.
fn init_logging(configured: &str, format: crate::config::LogFormat) -> Result<(), String> {
    use std::io::IsTerminal as _;
    let directives = match std::env::var("RUST_LOG") {
        Ok(env) if !env.trim().is_empty() => env,
        _ => configured.to_string(),
    };
    let filter = EnvFilter::try_new(&directives).map_err(|e| format!("invalid log filter {directives:?}: {e}"))?;
    // A second initialisation (the library used twice in one process) keeps the first one.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        // One JSON object per line with the span fields (user, device, session) flattened in.
        crate::config::LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
    Ok(())
}

/// `syncgate check-config`: reads and checks the configuration without starting anything.
pub fn check(common: &ConfigArgs) -> Result<(), String> {
    let config = common.load()?;
    println!("ok: {config}");
    let dir = &config.data_dir;
    if dir.exists() {
        let probe = dir.join(".syncgate-write-probe");
        std::fs::write(&probe, b"").map_err(|e| format!("data_dir {} is not writable: {e}", dir.display()))?;
        let _ = std::fs::remove_file(probe);
        println!("data_dir {}: writable; database {}", dir.display(), config.database_path().display());
    } else {
        println!("data_dir {}: will be created at the first start", dir.display());
    }
    if config.tls.enabled() {
        let (listen, cert, key) = config.tls.parts().map_err(|e| e.to_string())?;
        let loaded = crate::server::tls::load(cert, key).map_err(|e| e.to_string())?;
        println!(
            "tls: https on {listen}, certificate chain of {} from {} with its key",
            loaded.cert.len(),
            cert.display()
        );
    }
    for w in config.warnings() {
        println!("warning: {w}");
    }
    Ok(())
}
