//! Mailbox names on the wire: IMAP's modified UTF-7 (RFC 3501 §5.1.3). Printable ASCII stands
//! for itself except `&`, written `&-`; everything else is UTF-16 in modified base64 (`,`
//! instead of `/`, no padding) between `&` and `-`.

use base64::alphabet::Alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

fn engine() -> Option<GeneralPurpose> {
    let alphabet = Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").ok()?;
    let config = GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone);
    Some(GeneralPurpose::new(&alphabet, config))
}

/// A UTF-8 name in modified UTF-7.
pub fn encode(name: &str) -> String {
    let Some(b64) = engine() else { return name.to_string() };
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&b64.encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// A modified UTF-7 name in UTF-8; `None` when it is not valid modified UTF-7.
pub fn decode(name: &str) -> Option<String> {
    let b64 = engine()?;
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find('-')?;
        if end == 0 {
            out.push('&');
        } else {
            let bytes = b64.decode(&after[..end]).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            out.push_str(&String::from_utf16(&units).ok()?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_forms() {
        // RFC 3501's example, and names seen in the field.
        assert_eq!(encode("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(), Some("~peter/mail/台北/日本語"));
        assert_eq!(encode("Einkäufe"), "Eink&AOQ-ufe");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        for name in ["INBOX", "Einkäufe", "Tom & Jerry", "😀 smile", "a&b&c", "Ünïcödé.Sub"] {
            assert_eq!(decode(&encode(name)).as_deref(), Some(name), "{name}");
        }
        for bad in ["&", "&AOQ", "&A-", "&&-"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
