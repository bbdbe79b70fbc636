//! The real SyncEvolution client over HTTPS (issue 10): the gateway's `[tls]` listener with a
//! certificate of a throwaway CA the devices trust (`SSLServerCertificates`, with server and
//! host verification on). Two devices exchange contacts both ways; every session has several
//! messages, and the client sends all but the first to the RespURI, so the sessions also show
//! that the RespURI says https (http on the TLS port would fail the handshake). A device that
//! trusts another CA refuses the certificate.

use super::harness::{Device, DeviceOpts, Gateway, SyncMode, TempDir};
use super::items::Store;
use crate::certs::{Ca, Key};
use crate::server::free_port;

const USER: &str = "alice";
const PASSWORD: &str = "secret";

#[test]
fn syncevolution_syncs_over_https_with_a_certificate_it_trusts() {
    let dir = TempDir::new("https");
    let ca = Ca::new(dir.path(), "device-trusted-ca");
    let (cert, key) = ca.issue("gateway", Key::RsaPkcs8);
    let port = free_port();
    let gw = Gateway::start(Some(&format!(
        "log = \"info\"\n[tls]\nlisten = \"127.0.0.1:{port}\"\ncert = {:?}\nkey = {:?}\n",
        cert.display(),
        key.display()
    )));
    gw.add_user(USER, PASSWORD);
    let url = format!("https://127.0.0.1:{port}/sync");
    let ca_file = ca.pem.display().to_string();
    let trust = [("SSLServerCertificates", ca_file.as_str()), ("SSLVerifyServer", "1"), ("SSLVerifyHost", "1")];
    let opts = || DeviceOpts::default().stores(&[Store::Contacts]);

    let a = Device::new("tls-a", &url, USER, PASSWORD, opts());
    a.add_contact("1", "Tls Alice", "+1 555 0101");
    a.add_contact("2", "Tls Bob", "+1 555 0102");
    let first = a.sync_with(SyncMode::Slow, &trust);
    first.assert_ok();
    assert_eq!(first.store(Store::Contacts).remote_added(), 2, "{}", first.failure_report("two contacts up"));

    let b = Device::new("tls-b", &url, USER, PASSWORD, opts().wbxml(false));
    b.sync_with(SyncMode::Slow, &trust).assert_ok();
    assert_eq!(b.count(Store::Contacts), 2, "the second device got both over HTTPS");
    b.add_contact("3", "Tls Carol", "+1 555 0103");
    b.sync_with(SyncMode::TwoWay, &trust).assert_ok();
    a.sync_with(SyncMode::TwoWay, &trust).assert_ok();
    assert_eq!(a.count(Store::Contacts), 3, "and back");
    assert!(!gw.log().contains("TLS handshake failed"), "no refused handshake so far:\n{}", gw.log());

    // A device that trusts another CA does not sync, and the gateway says why it dropped it.
    let other = Ca::new(dir.path(), "other-ca");
    let other_file = other.pem.display().to_string();
    let c = Device::new("tls-c", &url, USER, PASSWORD, opts());
    c.add_contact("1", "Tls Mallory", "+1 555 0666");
    let refused = c.sync_with(
        SyncMode::Slow,
        &[
            ("SSLServerCertificates", other_file.as_str()),
            ("SSLVerifyServer", "1"),
            ("SSLVerifyHost", "1"),
            ("RetryInterval", "1"),
            ("RetryDuration", "2"),
        ],
    );
    assert_ne!(refused.run.exit_code, Some(0), "{}", refused.failure_report("an untrusted certificate must fail"));
    // The client (libcurl with GnuTLS) checks the certificate after the handshake and hangs up:
    // its log says why; the gateway sees a connection closed without a request.
    let client_log = refused
        .log_dir
        .as_ref()
        .map(|d| std::fs::read_to_string(d.join("syncevolution-log.html")).unwrap_or_default())
        .unwrap_or_default();
    assert!(
        client_log.contains("certificate verification failed")
            || refused.run.output().contains("certificate verification failed"),
        "{}",
        refused.failure_report("the client must refuse the certificate")
    );
    assert_eq!(c.count(Store::Contacts), 1, "nothing reached the untrusted device");
    assert_eq!(a.count(Store::Contacts), 3);
}
