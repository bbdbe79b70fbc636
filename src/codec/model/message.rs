//! The message frame (SyncHdr, SyncBody, Final) and every command.

use crate::codec::tag::{Namespace, Tag};
use crate::codec::token::TokenSource;
use crate::codec::{DecodeError, DecodeErrorKind};
use crate::proto::{
    Add, Alert, AlertCode, Atomic, CmdName, Command, Copy, Cred, Delete, Exec, Get, Header, Item, Map, MapItem,
    Message, Meta, Move, Put, Replace, Results, Search, Sequence, Source, Status, StatusCode, Sync, Target, Version,
};

use super::item::{
    decode_chal, decode_cred, decode_item, decode_meta, decode_source, decode_target, encode_chal, encode_cred,
    encode_item, encode_meta, encode_opt_meta, encode_source, encode_target,
};
use super::read::Decoder;
use super::write::Encoder;

pub(crate) fn decode_message<'a, S: TokenSource<'a>>(
    d: &mut Decoder<'a, S>,
    version: Version,
) -> Result<Message, DecodeError> {
    let mut msg = Message { version, ..Default::default() };
    let mut seen_header = false;
    d.children(|d, tag| {
        match tag {
            Tag::SyncHdr => {
                msg.header = decode_header(d)?;
                seen_header = true;
            }
            Tag::SyncBody => d.children(|d, tag| {
                match tag {
                    Tag::Final => msg.final_ = d.flag()?,
                    _ => match decode_command(d, tag)? {
                        Some(c) => msg.body.push(c),
                        None => d.skip()?,
                    },
                }
                Ok(())
            })?,
            _ => d.skip()?,
        }
        Ok(())
    })?;
    if !seen_header {
        return Err(d.error(DecodeErrorKind::Missing("SyncHdr")));
    }
    Ok(msg)
}

fn decode_header<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Header, DecodeError> {
    let mut h = Header::default();
    d.children(|d, tag| {
        match tag {
            Tag::VerDTD => h.ver_dtd = d.string()?,
            Tag::VerProto => h.ver_proto = d.string()?,
            Tag::SessionID => h.session_id = d.string()?,
            Tag::MsgID => h.msg_id = d.number("MsgID")?,
            Tag::Target => h.target = decode_target(d)?,
            Tag::Source => h.source = decode_source(d)?,
            Tag::RespURI => h.resp_uri = Some(d.string()?),
            Tag::NoResp => h.no_resp = d.flag()?,
            Tag::Cred => h.cred = Some(Box::new(decode_cred(d)?)),
            Tag::Meta => h.meta = Some(decode_meta(d)?),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(h)
}

/// The fields any command may carry; each command takes the ones its content model has.
#[derive(Default)]
struct Fields {
    cmd_id: u32,
    no_resp: bool,
    no_results: bool,
    cred: Option<Box<Cred>>,
    meta: Option<Meta>,
    lang: Option<String>,
    correlator: Option<String>,
    data: Option<Vec<u8>>,
    target: Option<Target>,
    sources: Vec<Source>,
    items: Vec<Item>,
    map_items: Vec<MapItem>,
    commands: Vec<Command>,
    msg_ref: Option<u32>,
    cmd_ref: u32,
    cmd: Option<String>,
    target_refs: Vec<String>,
    source_refs: Vec<String>,
    chal: Option<crate::proto::Chal>,
    number_of_changes: Option<u32>,
}

/// Decodes the command whose start tag was just read; `None` if `tag` is not a command.
fn decode_command<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>, tag: Tag) -> Result<Option<Command>, DecodeError> {
    if !is_command(tag) {
        return Ok(None);
    }
    if matches!(tag, Tag::Add | Tag::Replace | Tag::Copy | Tag::Move | Tag::Delete) {
        return decode_item_command(d, tag).map(Some);
    }
    let mut f = Fields::default();
    d.children(|d, child| {
        match child {
            Tag::CmdID => f.cmd_id = d.number("CmdID")?,
            Tag::NoResp => f.no_resp = d.flag()?,
            Tag::NoResults => f.no_results = d.flag()?,
            Tag::Cred => f.cred = Some(Box::new(decode_cred(d)?)),
            Tag::Meta => f.meta = Some(decode_meta(d)?),
            Tag::Lang => f.lang = Some(d.string()?),
            Tag::Correlator => f.correlator = Some(d.string()?),
            Tag::Data => f.data = Some(d.raw_text()?.into_owned()),
            Tag::Target => f.target = Some(decode_target(d)?),
            Tag::Source => f.sources.push(decode_source(d)?),
            Tag::Item => f.items.push(decode_item(d)?),
            Tag::MapItem => f.map_items.push(decode_map_item(d)?),
            Tag::MsgRef => f.msg_ref = Some(d.number("MsgRef")?),
            Tag::CmdRef => f.cmd_ref = d.number("CmdRef")?,
            Tag::Cmd => f.cmd = Some(d.string()?),
            Tag::TargetRef => f.target_refs.push(d.string()?),
            Tag::SourceRef => f.source_refs.push(d.string()?),
            Tag::Chal => f.chal = Some(decode_chal(d)?),
            Tag::NumberOfChanges => {
                let n: u32 = d.number("NumberOfChanges")?;
                // A hint only: reserve room for the announced changes, within reason.
                f.commands.reserve((n as usize).min(4096));
                f.number_of_changes = Some(n);
            }
            nested if is_command(nested) => match decode_command(d, nested)? {
                Some(c) => f.commands.push(c),
                None => d.skip()?,
            },
            _ => d.skip()?,
        }
        Ok(())
    })?;
    let code =
        |d: &Decoder<'a, S>, data: &Option<Vec<u8>>, element: &'static str| -> Result<Option<u16>, DecodeError> {
            match data {
                None => Ok(None),
                Some(bytes) => {
                    let s = String::from_utf8_lossy(bytes.trim_ascii()).into_owned();
                    s.parse::<u16>().map(Some).map_err(|_| d.error(DecodeErrorKind::Invalid { element, value: s }))
                }
            }
        };
    let cmd = match tag {
        Tag::Alert => Command::Alert(Alert {
            cmd_id: f.cmd_id,
            no_resp: f.no_resp,
            cred: f.cred,
            data: code(d, &f.data, "Alert/Data")?.map(AlertCode::from),
            correlator: f.correlator,
            items: f.items,
        }),
        Tag::Atomic => {
            Command::Atomic(Atomic { cmd_id: f.cmd_id, no_resp: f.no_resp, meta: f.meta, commands: f.commands })
        }
        Tag::Sequence => {
            Command::Sequence(Sequence { cmd_id: f.cmd_id, no_resp: f.no_resp, meta: f.meta, commands: f.commands })
        }
        Tag::Exec => Command::Exec(Box::new(Exec {
            cmd_id: f.cmd_id,
            no_resp: f.no_resp,
            cred: f.cred,
            meta: f.meta,
            correlator: f.correlator,
            item: f.items.into_iter().next().unwrap_or_default(),
        })),
        Tag::Get => Command::Get(Get {
            cmd_id: f.cmd_id,
            no_resp: f.no_resp,
            lang: f.lang,
            cred: f.cred,
            meta: f.meta,
            items: f.items,
        }),
        Tag::Put => Command::Put(Put {
            cmd_id: f.cmd_id,
            no_resp: f.no_resp,
            lang: f.lang,
            cred: f.cred,
            meta: f.meta,
            items: f.items,
        }),
        Tag::Map => Command::Map(Map {
            cmd_id: f.cmd_id,
            target: f.target.unwrap_or_default(),
            source: f.sources.into_iter().next().unwrap_or_default(),
            cred: f.cred,
            meta: f.meta,
            items: f.map_items,
        }),
        Tag::Results => Command::Results(Results {
            cmd_id: f.cmd_id,
            msg_ref: f.msg_ref,
            cmd_ref: f.cmd_ref,
            meta: f.meta,
            // Symbian writes its SourceRef as a second TargetRef: the second one is the source.
            target_ref: f.target_refs.first().cloned(),
            source_ref: f.source_refs.into_iter().next().or_else(|| f.target_refs.get(1).cloned()),
            items: f.items,
        }),
        Tag::Search => Command::Search(Box::new(Search {
            cmd_id: f.cmd_id,
            no_resp: f.no_resp,
            no_results: f.no_results,
            cred: f.cred,
            target: f.target,
            sources: f.sources,
            lang: f.lang,
            meta: f.meta.unwrap_or_default(),
            data: f.data.unwrap_or_default(),
        })),
        Tag::Status => Command::Status(Status {
            cmd_id: f.cmd_id,
            msg_ref: f.msg_ref,
            cmd_ref: f.cmd_ref,
            cmd: CmdName::parse(f.cmd.as_deref().unwrap_or("")),
            target_refs: f.target_refs,
            source_refs: f.source_refs,
            cred: f.cred,
            chal: f.chal,
            data: match code(d, &f.data, "Status/Data")? {
                Some(c) => StatusCode::from(c),
                None => return Err(d.error(DecodeErrorKind::Missing("Status/Data"))),
            },
            items: f.items,
        }),
        Tag::Sync => Command::Sync(Sync {
            cmd_id: f.cmd_id,
            no_resp: f.no_resp,
            cred: f.cred,
            target: f.target,
            source: f.sources.into_iter().next(),
            meta: f.meta,
            number_of_changes: f.number_of_changes,
            commands: f.commands,
        }),
        _ => return Ok(None),
    };
    Ok(Some(cmd))
}

/// The data commands (Add, Replace, Copy, Move, Delete): the bulk of every sync package, read
/// straight into their own shape.
fn decode_item_command<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>, tag: Tag) -> Result<Command, DecodeError> {
    let (mut cmd_id, mut no_resp, mut archive, mut sft_del) = (0u32, false, false, false);
    let mut cred = None;
    let mut meta = None;
    let mut items = Vec::with_capacity(1);
    d.children(|d, child| {
        match child {
            Tag::CmdID => cmd_id = d.number("CmdID")?,
            Tag::NoResp => no_resp = d.flag()?,
            Tag::Archive => archive = d.flag()?,
            Tag::SftDel => sft_del = d.flag()?,
            Tag::Cred => cred = Some(Box::new(decode_cred(d)?)),
            Tag::Meta => meta = Some(decode_meta(d)?),
            Tag::Item => items.push(decode_item(d)?),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(match tag {
        Tag::Add => Command::Add(Add { cmd_id, no_resp, cred, meta, items }),
        Tag::Replace => Command::Replace(Replace { cmd_id, no_resp, cred, meta, items }),
        Tag::Copy => Command::Copy(Copy { cmd_id, no_resp, cred, meta, items }),
        Tag::Move => Command::Move(Move { cmd_id, no_resp, cred, meta, items }),
        _ => Command::Delete(Delete { cmd_id, no_resp, archive, sft_del, cred, meta, items }),
    })
}

fn is_command(tag: Tag) -> bool {
    matches!(
        tag,
        Tag::Add
            | Tag::Alert
            | Tag::Atomic
            | Tag::Copy
            | Tag::Delete
            | Tag::Exec
            | Tag::Get
            | Tag::Map
            | Tag::Move
            | Tag::Put
            | Tag::Replace
            | Tag::Results
            | Tag::Search
            | Tag::Sequence
            | Tag::Status
            | Tag::Sync
    )
}

fn decode_map_item<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<MapItem, DecodeError> {
    let mut mi = MapItem::default();
    d.children(|d, tag| {
        match tag {
            Tag::Target => mi.target = decode_target(d)?,
            Tag::Source => mi.source = decode_source(d)?,
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(mi)
}

pub(crate) fn encode_message(e: &mut Encoder<'_>, m: &Message) {
    e.begin_document(Namespace::SyncMl, m.version.minor());
    e.start(Tag::SyncML);
    encode_header(e, &m.header);
    e.start(Tag::SyncBody);
    for c in &m.body {
        encode_command(e, c);
    }
    e.flag(Tag::Final, m.final_);
    e.end();
    e.end();
    e.end_document();
}

fn encode_header(e: &mut Encoder<'_>, h: &Header) {
    e.start(Tag::SyncHdr);
    e.leaf(Tag::VerDTD, &h.ver_dtd);
    e.leaf(Tag::VerProto, &h.ver_proto);
    e.leaf(Tag::SessionID, &h.session_id);
    e.num(Tag::MsgID, h.msg_id.into());
    encode_target(e, Tag::Target, &h.target);
    encode_source(e, Tag::Source, &h.source);
    e.opt_leaf(Tag::RespURI, h.resp_uri.as_ref());
    e.flag(Tag::NoResp, h.no_resp);
    if let Some(c) = &h.cred {
        encode_cred(e, c);
    }
    encode_opt_meta(e, h.meta.as_ref());
    e.end();
}

/// CmdID, NoResp?, [Archive?, SftDel?,] Cred?, Meta?, Item+ (the shape of Add, Replace, Copy,
/// Move, Delete).
fn encode_item_command(
    e: &mut Encoder<'_>,
    tag: Tag,
    head: (u32, bool, bool, bool),
    cred: &Option<Box<Cred>>,
    meta: &Option<Meta>,
    items: &[Item],
) {
    let (cmd_id, no_resp, archive, sft_del) = head;
    e.start(tag);
    e.num(Tag::CmdID, cmd_id.into());
    e.flag(Tag::NoResp, no_resp);
    e.flag(Tag::Archive, archive);
    e.flag(Tag::SftDel, sft_del);
    if let Some(c) = cred {
        encode_cred(e, c);
    }
    encode_opt_meta(e, meta.as_ref());
    for it in items {
        encode_item(e, it);
    }
    e.end();
}

fn encode_command(e: &mut Encoder<'_>, c: &Command) {
    match c {
        Command::Add(a) => {
            encode_item_command(e, Tag::Add, (a.cmd_id, a.no_resp, false, false), &a.cred, &a.meta, &a.items)
        }
        Command::Replace(a) => {
            encode_item_command(e, Tag::Replace, (a.cmd_id, a.no_resp, false, false), &a.cred, &a.meta, &a.items)
        }
        Command::Copy(a) => {
            encode_item_command(e, Tag::Copy, (a.cmd_id, a.no_resp, false, false), &a.cred, &a.meta, &a.items)
        }
        Command::Move(a) => {
            encode_item_command(e, Tag::Move, (a.cmd_id, a.no_resp, false, false), &a.cred, &a.meta, &a.items)
        }
        Command::Delete(a) => {
            encode_item_command(e, Tag::Delete, (a.cmd_id, a.no_resp, a.archive, a.sft_del), &a.cred, &a.meta, &a.items)
        }
        Command::Alert(a) => {
            e.start(Tag::Alert);
            e.num(Tag::CmdID, a.cmd_id.into());
            e.flag(Tag::NoResp, a.no_resp);
            if let Some(c) = &a.cred {
                encode_cred(e, c);
            }
            if let Some(code) = a.data {
                e.num(Tag::Data, code.code().into());
            }
            e.opt_leaf(Tag::Correlator, a.correlator.as_ref());
            for it in &a.items {
                encode_item(e, it);
            }
            e.end();
        }
        Command::Atomic(a) => encode_container(e, Tag::Atomic, a.cmd_id, a.no_resp, &a.meta, &a.commands),
        Command::Sequence(a) => encode_container(e, Tag::Sequence, a.cmd_id, a.no_resp, &a.meta, &a.commands),
        Command::Exec(x) => {
            e.start(Tag::Exec);
            e.num(Tag::CmdID, x.cmd_id.into());
            e.flag(Tag::NoResp, x.no_resp);
            if let Some(c) = &x.cred {
                encode_cred(e, c);
            }
            encode_opt_meta(e, x.meta.as_ref());
            e.opt_leaf(Tag::Correlator, x.correlator.as_ref());
            encode_item(e, &x.item);
            e.end();
        }
        Command::Get(g) => encode_get_put(e, Tag::Get, g.cmd_id, g.no_resp, &g.lang, &g.cred, &g.meta, &g.items),
        Command::Put(p) => encode_get_put(e, Tag::Put, p.cmd_id, p.no_resp, &p.lang, &p.cred, &p.meta, &p.items),
        Command::Map(m) => {
            e.start(Tag::Map);
            e.num(Tag::CmdID, m.cmd_id.into());
            encode_target(e, Tag::Target, &m.target);
            encode_source(e, Tag::Source, &m.source);
            if let Some(c) = &m.cred {
                encode_cred(e, c);
            }
            encode_opt_meta(e, m.meta.as_ref());
            for mi in &m.items {
                e.start(Tag::MapItem);
                encode_target(e, Tag::Target, &mi.target);
                encode_source(e, Tag::Source, &mi.source);
                e.end();
            }
            e.end();
        }
        Command::Results(r) => {
            e.start(Tag::Results);
            e.num(Tag::CmdID, r.cmd_id.into());
            if let Some(m) = r.msg_ref {
                e.num(Tag::MsgRef, m.into());
            }
            e.num(Tag::CmdRef, r.cmd_ref.into());
            encode_opt_meta(e, r.meta.as_ref());
            e.opt_leaf(Tag::TargetRef, r.target_ref.as_ref());
            e.opt_leaf(Tag::SourceRef, r.source_ref.as_ref());
            for it in &r.items {
                encode_item(e, it);
            }
            e.end();
        }
        Command::Search(s) => {
            e.start(Tag::Search);
            e.num(Tag::CmdID, s.cmd_id.into());
            e.flag(Tag::NoResp, s.no_resp);
            e.flag(Tag::NoResults, s.no_results);
            if let Some(c) = &s.cred {
                encode_cred(e, c);
            }
            if let Some(t) = &s.target {
                encode_target(e, Tag::Target, t);
            }
            for src in &s.sources {
                encode_source(e, Tag::Source, src);
            }
            e.opt_leaf(Tag::Lang, s.lang.as_ref());
            encode_meta(e, &s.meta);
            e.leaf_bytes(Tag::Data, &s.data);
            e.end();
        }
        Command::Status(s) => {
            e.start(Tag::Status);
            e.num(Tag::CmdID, s.cmd_id.into());
            if let Some(m) = s.msg_ref {
                e.num(Tag::MsgRef, m.into());
            }
            e.num(Tag::CmdRef, s.cmd_ref.into());
            e.leaf(Tag::Cmd, s.cmd.as_str());
            e.leaves(Tag::TargetRef, &s.target_refs);
            e.leaves(Tag::SourceRef, &s.source_refs);
            if let Some(c) = &s.cred {
                encode_cred(e, c);
            }
            if let Some(c) = &s.chal {
                encode_chal(e, c);
            }
            e.num(Tag::Data, s.data.code().into());
            for it in &s.items {
                encode_item(e, it);
            }
            e.end();
        }
        Command::Sync(s) => {
            e.start(Tag::Sync);
            e.num(Tag::CmdID, s.cmd_id.into());
            e.flag(Tag::NoResp, s.no_resp);
            if let Some(c) = &s.cred {
                encode_cred(e, c);
            }
            if let Some(t) = &s.target {
                encode_target(e, Tag::Target, t);
            }
            if let Some(src) = &s.source {
                encode_source(e, Tag::Source, src);
            }
            encode_opt_meta(e, s.meta.as_ref());
            if let Some(n) = s.number_of_changes {
                e.num(Tag::NumberOfChanges, n.into());
            }
            for c in &s.commands {
                encode_command(e, c);
            }
            e.end();
        }
    }
}

fn encode_container(
    e: &mut Encoder<'_>,
    tag: Tag,
    cmd_id: u32,
    no_resp: bool,
    meta: &Option<Meta>,
    commands: &[Command],
) {
    e.start(tag);
    e.num(Tag::CmdID, cmd_id.into());
    e.flag(Tag::NoResp, no_resp);
    encode_opt_meta(e, meta.as_ref());
    for c in commands {
        encode_command(e, c);
    }
    e.end();
}

#[allow(clippy::too_many_arguments)]
fn encode_get_put(
    e: &mut Encoder<'_>,
    tag: Tag,
    cmd_id: u32,
    no_resp: bool,
    lang: &Option<String>,
    cred: &Option<Box<Cred>>,
    meta: &Option<Meta>,
    items: &[Item],
) {
    e.start(tag);
    e.num(Tag::CmdID, cmd_id.into());
    e.flag(Tag::NoResp, no_resp);
    e.opt_leaf(Tag::Lang, lang.as_ref());
    if let Some(c) = cred {
        encode_cred(e, c);
    }
    encode_opt_meta(e, meta.as_ref());
    for it in items {
        encode_item(e, it);
    }
    e.end();
}
