//! Field-level changes of data objects (OMA DS 1.2: a Replace whose Meta carries
//! `<FieldLevel/>` holds only the fields that changed, and a device announces that it takes them
//! with `<FieldLevel/>` in its DevInf CTCap for the content type; PROTOCOL.md §1.3, §7).
//!
//! Only e-mail objects (`application/vnd.omads-email+xml`, §10.4) have such fields here: the
//! states `read`, `forwarded`, `replied`, `flagged`, `deleted`. A field-level Replace of a message
//! is an `<Email>` with some of those elements and no `emailitem`, so marking a message seen
//! does not send its body again. This module knows that format; the engine and the client
//! decide when to use it.

use md5::{Digest, Md5};

use crate::cpm::objects::{Email, ObjectError, EMAIL_TYPE};

/// The fields a field-level Replace of an e-mail may carry (DevInf CTCap property names).
pub const EMAIL_FIELDS: &[&str] = &["read", "forwarded", "replied", "flagged", "deleted"];

/// Whether objects of `content_type` have fields a Replace may carry alone.
pub fn supports(content_type: &str) -> bool {
    let base = content_type.split(';').next().unwrap_or("").trim();
    base.eq_ignore_ascii_case(EMAIL_TYPE)
}

/// The object with the fields of the field-level `partial` applied (fields it does not name keep
/// their value; a `partial` that does carry the message replaces it too).
pub fn merge(content_type: &str, stored: &[u8], partial: &[u8]) -> Result<Vec<u8>, ObjectError> {
    if !supports(content_type) {
        return Err(ObjectError { kind: "field-level", reason: format!("{content_type} has no fields") });
    }
    let mut email = Email::parse(stored)?;
    let given = Email::given_states(partial)?;
    for (name, value) in given.states {
        email.set_state(name, value);
    }
    if let Some(message) = given.emailitem {
        email.emailitem = message;
    }
    Ok(email.to_xml())
}

/// Whether `old` and `new` differ in nothing but fields (false when either cannot be read).
pub fn only_fields_differ(content_type: &str, old: &[u8], new: &[u8]) -> bool {
    if !supports(content_type) {
        return false;
    }
    match (Email::parse(old), Email::parse(new)) {
        (Ok(a), Ok(b)) => a.emailitem == b.emailitem && a.received == b.received,
        _ => false,
    }
}

/// The field-level form of an object: its fields without the rest (`None` for types without
/// fields, or when it cannot be read).
pub fn fields_only(content_type: &str, data: &[u8]) -> Option<Vec<u8>> {
    if !supports(content_type) {
        return None;
    }
    let email = Email::parse(data).ok()?;
    let mut x = String::from("<Email>");
    for name in EMAIL_FIELDS {
        let on = email.state(name);
        x.push_str(&format!("<{name}>{on}</{name}>"));
    }
    x.push_str("</Email>");
    Some(x.into_bytes())
}

/// A digest of what is not a field (the message of an e-mail): a device that still has this
/// can take the fields alone. `None` for types without fields.
pub fn body_digest(content_type: &str, data: &[u8]) -> Option<String> {
    if !supports(content_type) {
        return None;
    }
    let email = Email::parse(data).ok()?;
    let mut h = Md5::new();
    h.update(&email.emailitem);
    h.update([0]);
    h.update(email.received.unwrap_or_default().as_bytes());
    Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(read: bool, body: &str) -> Vec<u8> {
        Email { read, emailitem: format!("Subject: x\r\n\r\n{body}").into_bytes(), ..Default::default() }.to_xml()
    }

    #[test]
    fn merge_applies_named_fields_only() {
        let stored = Email { flagged: true, ..Email::parse(&mail(false, "hello")).unwrap() }.to_xml();
        let merged = merge(EMAIL_TYPE, &stored, b"<Email><read>true</read></Email>").unwrap();
        let e = Email::parse(&merged).unwrap();
        assert!(e.read && e.flagged && !e.replied, "{e:?}");
        assert!(String::from_utf8_lossy(&e.emailitem).ends_with("hello"));
        assert!(merge("text/x-vcard", &stored, b"<Email/>").is_err());
        assert!(merge(EMAIL_TYPE, &stored, b"<File/>").is_err());
    }

    #[test]
    fn differences_and_forms() {
        assert!(only_fields_differ(EMAIL_TYPE, &mail(false, "a"), &mail(true, "a")));
        assert!(!only_fields_differ(EMAIL_TYPE, &mail(false, "a"), &mail(false, "b")));
        assert!(!only_fields_differ("text/plain", b"a", b"a"));
        let form = fields_only(EMAIL_TYPE, &mail(true, "secret body")).unwrap();
        let text = String::from_utf8(form).unwrap();
        assert!(text.contains("<read>true</read>") && !text.contains("secret"), "{text}");
        assert_eq!(body_digest(EMAIL_TYPE, &mail(false, "a")), body_digest(EMAIL_TYPE, &mail(true, "a")));
        assert_ne!(body_digest(EMAIL_TYPE, &mail(false, "a")), body_digest(EMAIL_TYPE, &mail(false, "b")));
        assert!(supports("application/vnd.omads-email+xml; charset=utf-8") && !supports("text/x-vcard"));
    }
}
