//! Message builders and inspectors for the conformance cases: commands (Add, Replace, Delete,
//! Status, Alert 222), credentials (§5.2), CmdID numbering, and finding statuses in an answer.
//!
//! Pure functions over `crate::proto` types: no I/O.

use crate::conformance::{check, CaseError, Ctx};
use crate::proto::{
    Alert, AlertCode, CmdName, Command, Cred, Data, Item, Message, Meta, Source, Status, StatusCode, Target,
};

/// Gives every command, nested ones included, the next CmdID (unique within the message, §1.4).
pub fn number(cmds: &mut [Command], next: &mut u32) {
    for c in cmds {
        c.set_cmd_id(*next);
        *next += 1;
        match c {
            Command::Sync(s) => number(&mut s.commands, next),
            Command::Atomic(a) => number(&mut a.commands, next),
            Command::Sequence(q) => number(&mut q.commands, next),
            _ => {}
        }
    }
}

/// A Status with no refs and no items.
pub fn status(msg_ref: u32, cmd_ref: u32, cmd: CmdName, code: StatusCode) -> Status {
    Status {
        cmd_id: 0,
        msg_ref: Some(msg_ref),
        cmd_ref,
        cmd,
        target_refs: Vec::new(),
        source_refs: Vec::new(),
        cred: None,
        chal: None,
        data: code,
        items: Vec::new(),
    }
}

/// Alert 222 "next message" (§1.5).
pub fn next_message_alert(ctx: &Ctx, device: &str) -> Command {
    Command::Alert(Alert {
        cmd_id: 0,
        no_resp: false,
        cred: None,
        data: Some(AlertCode::NextMessage),
        correlator: None,
        items: vec![Item {
            target: Some(Target::uri(&ctx.url_text)),
            source: Some(Source::uri(device)),
            ..Default::default()
        }],
    })
}

/// The `syncml:auth-md5` Cred (DS ≥ 1.1 formula, §5.2).
pub fn md5_cred(user: &str, password: &str, nonce: &[u8]) -> Cred {
    Cred {
        meta: Some(Meta { type_: Some("syncml:auth-md5".into()), format: Some("b64".into()), ..Default::default() }),
        data: crate::auth::md5_credential(user, password, nonce).into_bytes(),
    }
}

/// The `syncml:auth-basic` Cred (§5.2).
pub fn basic_cred(user: &str, password: &str) -> Cred {
    Cred {
        meta: Some(Meta { type_: Some("syncml:auth-basic".into()), format: Some("b64".into()), ..Default::default() }),
        data: crate::auth::basic_credential(user, password).into_bytes(),
    }
}

/// The Status for the SyncHdr in a message (CmdRef 0).
pub fn hdr_status(msg: &Message) -> Option<&Status> {
    msg.body.iter().find_map(|c| match c {
        Command::Status(s) if s.cmd == CmdName::SyncHdr || (s.cmd_ref == 0 && s.cmd.as_str() == "SyncHdr") => Some(s),
        _ => None,
    })
}

/// The statuses of a message.
pub fn statuses(msg: &Message) -> impl Iterator<Item = &Status> {
    msg.body.iter().filter_map(|c| match c {
        Command::Status(s) => Some(s),
        _ => None,
    })
}

/// Fails unless the message's SyncHdr status says the login succeeded (200 or 212).
pub fn require_auth(msg: &Message) -> Result<(), CaseError> {
    let code = hdr_status(msg).map(|s| s.data.code());
    check(matches!(code, Some(200 | 212)), || format!("login refused: SyncHdr status {code:?}"))
}

/// A vCard 3.0 whose name is `marker` (unique content, so slow-sync matching keeps it apart).
pub fn vcard(marker: &str) -> Vec<u8> {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:{marker};Conformance;;;\r\nFN:Conformance {marker}\r\nTEL:+1555{}\r\nEND:VCARD\r\n",
        marker.len()
    )
    .into_bytes()
}

/// An Add of one item (client LUID `luid`, vCard data).
pub fn add(luid: &str, data: Vec<u8>) -> Command {
    Command::Add(crate::proto::Add {
        meta: Some(Meta::with_type("text/vcard")),
        items: vec![Item { source: Some(Source::uri(luid)), data: Some(Data::Bytes(data)), ..Default::default() }],
        ..Default::default()
    })
}

/// A Replace of one item.
pub fn replace(luid: &str, data: Vec<u8>) -> Command {
    Command::Replace(crate::proto::Replace {
        meta: Some(Meta::with_type("text/vcard")),
        items: vec![Item { source: Some(Source::uri(luid)), data: Some(Data::Bytes(data)), ..Default::default() }],
        ..Default::default()
    })
}

/// A Delete of one item.
pub fn delete(luid: &str) -> Command {
    Command::Delete(crate::proto::Delete {
        items: vec![Item { source: Some(Source::uri(luid)), ..Default::default() }],
        ..Default::default()
    })
}

/// Up to 200 characters of a body, for failure reasons.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).replace(['\r', '\n'], " ");
    text.trim().to_string()
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
