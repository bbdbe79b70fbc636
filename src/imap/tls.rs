//! The IMAP connection's transport: plain TCP, or TLS (rustls, *ring*) either from the first
//! byte (IMAPS, port 993) or after STARTTLS. The server's certificate is verified against a
//! PEM bundle of trusted CAs (the system's by default) for the configured server name.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::imap::ImapError;

/// Where the system's trusted CAs are on Debian (package ca-certificates).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How a connection is secured.
#[derive(Clone, Debug, Default)]
pub enum Security {
    /// Plain IMAP (loopback or a trusted network).
    #[default]
    Plain,
    /// TLS from the first byte.
    Imaps(TlsClient),
    /// Plain greeting, then STARTTLS before anything else (refused when not offered).
    StartTls(TlsClient),
}

/// A TLS client set up once: trusted CAs and the name the certificate must carry.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient").field("name", &self.name).finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Trusts the CA certificates in `ca_file` (PEM) for a server called `server_name` (a
    /// host name or an IP address).
    pub fn new(ca_file: &Path, server_name: &str) -> Result<TlsClient, String> {
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca_file)
            .map_err(|e| format!("CA file {}: {e}", ca_file.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("CA file {}: {e}", ca_file.display()))?;
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!("CA file {}: no usable CA certificate in it", ca_file.display()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name =
            ServerName::try_from(server_name.to_string()).map_err(|e| format!("server name {server_name:?}: {e}"))?;
        Ok(TlsClient { config: Arc::new(config), name })
    }

    /// Does the handshake on `tcp` (with the socket's timeouts), verifying the certificate.
    pub(crate) fn wrap(&self, tcp: TcpStream) -> Result<Stream, ImapError> {
        let conn = ClientConnection::new(self.config.clone(), self.name.clone())
            .map_err(|e| ImapError::Io(format!("TLS: {e}")))?;
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).map_err(|e| ImapError::Io(format!("TLS handshake: {e}")))?;
        }
        Ok(Stream::Tls(Box::new(tls)))
    }
}

/// The bytes of a connection, plain or TLS.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The socket underneath (timeouts).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock,
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}
