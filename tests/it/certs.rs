//! Throwaway certificates for the TLS tests, made with the `openssl` command line (Debian
//! package `openssl`, installed by `scripts/test`): a self-signed test CA and server
//! certificates it signs for `localhost` and `127.0.0.1`, with an RSA key in PKCS#8 or a P-256
//! key in SEC1 form. Also `openssl s_client` as an independent TLS client.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("openssl cannot run ({e}): install the Debian package openssl (scripts/test installs every test dependency)")
    });
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// The kind of a server key.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Key {
    /// RSA 2048, `-----BEGIN PRIVATE KEY-----` (PKCS#8).
    RsaPkcs8,
    /// P-256, `-----BEGIN EC PRIVATE KEY-----` (SEC1).
    EcSec1,
}

/// A test CA in `dir`.
pub(crate) struct Ca {
    dir: PathBuf,
    pub(crate) pem: PathBuf,
}

impl Ca {
    pub(crate) fn new(dir: &Path, name: &str) -> Ca {
        let key = format!("{name}.key");
        let pem = format!("{name}.pem");
        openssl(
            &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
                .into_iter()
                .chain(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &format!("/CN={name}")])
                .collect::<Vec<_>>(),
            dir,
        );
        Ca { dir: dir.to_path_buf(), pem: dir.join(pem) }
    }

    /// Issues a server certificate for localhost/127.0.0.1: (chain file, key file).
    pub(crate) fn issue(&self, name: &str, key: Key) -> (PathBuf, PathBuf) {
        let dir = &self.dir;
        let key_file = format!("{name}.key");
        match key {
            Key::RsaPkcs8 => {
                openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &key_file], dir)
            }
            Key::EcSec1 => openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key_file], dir),
        }
        let csr = format!("{name}.csr");
        openssl(&["req", "-new", "-key", &key_file, "-out", &csr, "-subj", "/CN=localhost"], dir);
        let ext = format!("{name}.ext");
        std::fs::write(
            dir.join(&ext),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .expect("extensions file");
        let ca_key = self.pem.with_extension("key");
        let cert = format!("{name}.pem");
        openssl(
            &["x509", "-req", "-in", &csr, "-CA", self.pem.to_str().expect("utf-8"), "-CAkey"]
                .into_iter()
                .chain([
                    ca_key.to_str().expect("utf-8"),
                    "-CAcreateserial",
                    "-out",
                    &cert,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ])
                .collect::<Vec<_>>(),
            dir,
        );
        (dir.join(cert), dir.join(key_file))
    }
}

/// The base64 body of the first PEM certificate in `text` (white space removed).
pub(crate) fn first_cert(text: &str) -> Option<String> {
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    Some(text[start..end].split_whitespace().collect())
}

/// What `openssl s_client` gets from `addr` with `request` sent, verifying against `ca` for
/// the name `localhost`: (verified, the certificate served, all of stdout).
pub(crate) fn s_client(addr: &str, ca: &Path, request: &[u8]) -> (bool, Option<String>, String) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "localhost", "-verify_hostname", "localhost"])
        .args(["-verify_return_error", "-showcerts", "-ign_eof", "-CAfile"])
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client runs (Debian package openssl)");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(request);
    drop(stdin);
    let out = child.wait_with_output().expect("s_client ends");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let verified = text.contains("Verify return code: 0 (ok)");
    (verified, first_cert(&text), text)
}
