//! Built-in TLS (rustls with the *ring* provider): `[tls] listen`, `cert` (a PEM chain, the
//! server's certificate first) and `key` (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC). The HTTPS
//! listener serves the same routes as the plain one, which stays for a TLS-terminating proxy.
//!
//! The certificate is reloaded from its files on SIGHUP (`systemctl reload`): new connections
//! get the new one, open ones keep theirs. Files that do not load, or a key that does not
//! belong to the certificate, keep the old certificate in service, with an error in the log.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

/// How long a client may take for the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// `[tls]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Where HTTPS is served (`0.0.0.0:8443`); required with `cert`.
    pub listen: Option<std::net::SocketAddr>,
    /// The certificate chain, PEM; unset: no TLS listener.
    pub cert: Option<PathBuf>,
    /// The private key, PEM.
    pub key: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether a TLS listener is configured.
    pub fn enabled(&self) -> bool {
        self.cert.is_some()
    }

    /// The listener address and both files, or why the section is incomplete.
    pub fn parts(&self) -> Result<(std::net::SocketAddr, &Path, &Path), TlsError> {
        match (self.listen, self.cert.as_deref(), self.key.as_deref()) {
            (Some(listen), Some(cert), Some(key)) => Ok((listen, cert, key)),
            _ => Err(TlsError::Incomplete),
        }
    }
}

/// Why a certificate was not (re)loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[tls] needs listen, cert and key together")]
    Incomplete,
    #[error("certificate file {path}: {reason}")]
    Cert { path: String, reason: String },
    #[error("key file {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the key in {key} does not belong to the certificate in {cert}: {reason}")]
    Mismatch { cert: String, key: String, reason: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks a certificate chain and its key.
pub fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let shown = |p: &Path| p.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Cert { path: shown(cert), reason: e.to_string() })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Cert { path: shown(cert), reason: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::Cert { path: shown(cert), reason: "no CERTIFICATE block in it".into() });
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: shown(key),
        reason: format!("{e} (expected a PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)"),
    })?;
    CertifiedKey::from_der(chain, der, &provider()).map_err(|e| TlsError::Mismatch {
        cert: shown(cert),
        key: shown(key),
        reason: e.to_string(),
    })
}

/// The certificate in service, replaced by [`Tls::reload`].
struct Current(RwLock<Arc<CertifiedKey>>);

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Current(..)")
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }
}

/// The TLS side of the server: the acceptor and what reloads its certificate.
pub struct Tls {
    acceptor: TlsAcceptor,
    current: Arc<Current>,
    cert: PathBuf,
    key: PathBuf,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("cert", &self.cert).field("key", &self.key).finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the certificate and builds the acceptor (TLS 1.2 and 1.3, HTTP/1.1).
    pub fn new(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let current = Arc::new(Current(RwLock::new(Arc::new(load(cert, key)?))));
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            current,
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        })
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reads the files again; on success new connections get the new certificate, on failure
    /// the old one stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load(&self.cert, &self.key)?;
        *self.current.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_reported_with_their_path() {
        let dir = std::env::temp_dir().join(format!("syncgate-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let Err(e) = load(&dir.join("missing.pem"), &empty) else { panic!("a missing file must fail") };
        assert!(e.to_string().contains("missing.pem"), "{e}");
        let Err(e) = load(&empty, &empty) else { panic!("no certificate must fail") };
        assert!(e.to_string().contains("no CERTIFICATE block"), "{e}");
        assert!(matches!(
            TlsConfig { cert: Some(empty.clone()), ..Default::default() }.parts(),
            Err(TlsError::Incomplete)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
