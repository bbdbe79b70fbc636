//! Items and the small building blocks shared by all commands: Target/Source, Meta (MetInf),
//! Anchor, Mem, Cred, Chal, Filter, and the many shapes of `Data`.

use std::borrow::Cow;

use crate::codec::tag::{Namespace, Tag};
use crate::codec::token::{Token, TokenSource};
use crate::codec::{DecodeError, DecodeErrorKind};
use crate::proto::{Anchor, Chal, Cred, Data, Filter, FilterType, Item, Mem, Meta, Source, Target};

use super::devinf::{decode_devinf, decode_property, encode_devinf, encode_property};
use super::read::{append_text, Decoder};
use super::write::Encoder;

pub(crate) fn decode_target<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Target, DecodeError> {
    let mut t = Target::default();
    d.children(|d, tag| {
        match tag {
            Tag::LocURI => t.loc_uri = d.string()?,
            Tag::LocName => t.loc_name = Some(d.string()?),
            Tag::Filter => t.filter = Some(Box::new(decode_filter(d)?)),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(t)
}

pub(crate) fn decode_source<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Source, DecodeError> {
    let mut s = Source::default();
    d.children(|d, tag| {
        match tag {
            Tag::LocURI => s.loc_uri = d.string()?,
            Tag::LocName => s.loc_name = Some(d.string()?),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(s)
}

/// `SourceParent`/`TargetParent`: a LocURI wrapper.
fn decode_parent<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<String, DecodeError> {
    let mut uri = String::new();
    d.children(|d, tag| {
        match tag {
            Tag::LocURI => uri = d.string()?,
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(uri)
}

pub(crate) fn encode_target(e: &mut Encoder<'_>, tag: Tag, t: &Target) {
    e.start(tag);
    e.leaf(Tag::LocURI, &t.loc_uri);
    e.opt_leaf(Tag::LocName, t.loc_name.as_ref());
    if let Some(f) = &t.filter {
        encode_filter(e, f);
    }
    e.end();
}

pub(crate) fn encode_source(e: &mut Encoder<'_>, tag: Tag, s: &Source) {
    e.start(tag);
    e.leaf(Tag::LocURI, &s.loc_uri);
    e.opt_leaf(Tag::LocName, s.loc_name.as_ref());
    e.end();
}

fn encode_parent(e: &mut Encoder<'_>, tag: Tag, uri: &str) {
    e.start(tag);
    e.leaf(Tag::LocURI, uri);
    e.end();
}

pub(crate) fn decode_meta<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Meta, DecodeError> {
    let mut m = Meta::default();
    decode_meta_into(d, &mut m)?;
    Ok(m)
}

fn decode_meta_into<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>, m: &mut Meta) -> Result<(), DecodeError> {
    d.children(|d, tag| {
        match tag {
            Tag::MetFormat => m.format = Some(d.string()?),
            Tag::MetType => m.type_ = Some(d.string()?),
            Tag::MetMark => m.mark = Some(d.string()?),
            Tag::MetSize => m.size = Some(d.number("Size")?),
            Tag::MetAnchor => m.anchor = Some(decode_anchor(d)?),
            Tag::MetVersion => m.version = Some(d.string()?),
            Tag::MetNextNonce => m.next_nonce = Some(d.string()?),
            Tag::MetMaxMsgSize => m.max_msg_size = Some(d.number("MaxMsgSize")?),
            Tag::MetMaxObjSize => m.max_obj_size = Some(d.number("MaxObjSize")?),
            Tag::MetEmi => m.emi.push(d.string()?),
            Tag::MetMem => m.mem = Some(decode_mem(d)?),
            Tag::MetFieldLevel => m.field_level = d.flag()?,
            // The DTD's wrapper element, unused in practice: its children are Meta's.
            Tag::MetMetInf => decode_meta_into(d, m)?,
            _ => d.skip()?,
        }
        Ok(())
    })
}

fn decode_anchor<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Anchor, DecodeError> {
    let mut a = Anchor::default();
    d.children(|d, tag| {
        match tag {
            Tag::MetLast => a.last = Some(d.string()?),
            Tag::MetNext => a.next = Some(d.string()?),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(a)
}

fn decode_mem<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Mem, DecodeError> {
    let mut m = Mem::default();
    d.children(|d, tag| {
        match tag {
            Tag::MetSharedMem => m.shared_mem = d.flag()?,
            Tag::MetFreeMem => m.free_mem = Some(d.number("FreeMem")?),
            Tag::MetFreeId => m.free_id = Some(d.number("FreeID")?),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(m)
}

pub(crate) fn encode_meta(e: &mut Encoder<'_>, m: &Meta) {
    e.start(Tag::Meta);
    encode_meta_fields(e, m);
    e.end();
}

/// MetInf children in canonical order (also used for `Chal`).
fn encode_meta_fields(e: &mut Encoder<'_>, m: &Meta) {
    e.opt_leaf(Tag::MetFormat, m.format.as_ref());
    e.opt_leaf(Tag::MetType, m.type_.as_ref());
    e.opt_leaf(Tag::MetMark, m.mark.as_ref());
    e.opt_num(Tag::MetSize, m.size);
    if let Some(a) = &m.anchor {
        encode_anchor(e, a);
    }
    e.opt_leaf(Tag::MetVersion, m.version.as_ref());
    e.opt_leaf(Tag::MetNextNonce, m.next_nonce.as_ref());
    e.opt_num(Tag::MetMaxMsgSize, m.max_msg_size);
    e.opt_num(Tag::MetMaxObjSize, m.max_obj_size);
    e.leaves(Tag::MetEmi, &m.emi);
    if let Some(mem) = &m.mem {
        e.start(Tag::MetMem);
        e.flag(Tag::MetSharedMem, mem.shared_mem);
        e.opt_num(Tag::MetFreeMem, mem.free_mem);
        e.opt_num(Tag::MetFreeId, mem.free_id);
        e.end();
    }
    e.flag(Tag::MetFieldLevel, m.field_level);
}

fn encode_anchor(e: &mut Encoder<'_>, a: &Anchor) {
    e.start(Tag::MetAnchor);
    e.opt_leaf(Tag::MetLast, a.last.as_ref());
    e.opt_leaf(Tag::MetNext, a.next.as_ref());
    e.end();
}

pub(crate) fn decode_cred<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Cred, DecodeError> {
    let mut c = Cred::default();
    d.children(|d, tag| {
        match tag {
            Tag::Meta => c.meta = Some(decode_meta(d)?),
            Tag::Data => c.data = d.raw_text()?.trim_ascii().to_vec(),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(c)
}

pub(crate) fn encode_cred(e: &mut Encoder<'_>, c: &Cred) {
    e.start(Tag::Cred);
    if let Some(m) = &c.meta {
        encode_meta(e, m);
    }
    e.leaf_bytes(Tag::Data, &c.data);
    e.end();
}

pub(crate) fn decode_chal<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Chal, DecodeError> {
    let mut c = Chal::default();
    d.children(|d, tag| {
        match tag {
            Tag::Meta => c.meta = decode_meta(d)?,
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(c)
}

pub(crate) fn encode_chal(e: &mut Encoder<'_>, c: &Chal) {
    e.start(Tag::Chal);
    encode_meta(e, &c.meta);
    e.end();
}

fn decode_filter<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Filter, DecodeError> {
    let mut f = Filter::default();
    d.children(|d, tag| {
        match tag {
            Tag::Meta => f.meta = decode_meta(d)?,
            Tag::Field => f.field = decode_wrapped_item(d)?,
            Tag::Record => f.record = decode_wrapped_item(d)?,
            Tag::FilterType => f.filter_type = Some(FilterType::parse(&d.string()?)),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(f)
}

/// `Field`/`Record`: one Item inside.
fn decode_wrapped_item<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Option<Item>, DecodeError> {
    let mut item = None;
    d.children(|d, tag| {
        match tag {
            Tag::Item => item = Some(decode_item(d)?),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(item)
}

fn encode_filter(e: &mut Encoder<'_>, f: &Filter) {
    e.start(Tag::Filter);
    encode_meta(e, &f.meta);
    for (tag, item) in [(Tag::Field, &f.field), (Tag::Record, &f.record)] {
        if let Some(item) = item {
            e.start(tag);
            encode_item(e, item);
            e.end();
        }
    }
    if let Some(t) = &f.filter_type {
        e.leaf(Tag::FilterType, t.as_str());
    }
    e.end();
}

pub(crate) fn decode_item<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Item, DecodeError> {
    let mut it = Item::default();
    d.children(|d, tag| {
        match tag {
            Tag::Target => it.target = Some(decode_target(d)?),
            Tag::Source => it.source = Some(decode_source(d)?),
            Tag::SourceParent => it.source_parent = Some(decode_parent(d)?),
            Tag::TargetParent => it.target_parent = Some(decode_parent(d)?),
            Tag::Meta => it.meta = Some(decode_meta(d)?),
            Tag::Data => it.data = Some(decode_data(d)?),
            Tag::MoreData => it.more_data = d.flag()?,
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(it)
}

pub(crate) fn encode_item(e: &mut Encoder<'_>, it: &Item) {
    e.start(Tag::Item);
    if let Some(t) = &it.target {
        encode_target(e, Tag::Target, t);
    }
    if let Some(s) = &it.source {
        encode_source(e, Tag::Source, s);
    }
    if let Some(p) = &it.source_parent {
        encode_parent(e, Tag::SourceParent, p);
    }
    if let Some(p) = &it.target_parent {
        encode_parent(e, Tag::TargetParent, p);
    }
    if let Some(m) = &it.meta {
        encode_meta(e, m);
    }
    if let Some(data) = &it.data {
        encode_data(e, data);
    }
    e.flag(Tag::MoreData, it.more_data);
    e.end();
}

/// `Data` of an Item: bytes, or structured content (DevInf inline or as a nested WBXML
/// document, an Anchor, DevInf Properties). Text around structured content is white space and
/// is dropped; otherwise the bytes are kept exactly.
fn decode_data<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Data, DecodeError> {
    let mut text: Option<Cow<'a, [u8]>> = None;
    let mut structured: Option<Data> = None;
    loop {
        match d.next()? {
            Token::Text(t) => append_text(&mut text, t),
            Token::Opaque(t) if structured.is_none() && crate::codec::wbxml::looks_like_wbxml_devinf(&t) => {
                let limits = d.limits;
                let devinf = super::decode_nested_devinf(&t, &limits, d.depth()).map_err(|e| {
                    let mut outer = d.error(e.kind.clone());
                    outer.path = format!("{} (nested DevInf document at byte {})", outer.path, e.offset);
                    outer
                })?;
                structured = Some(Data::DevInf(Box::new(devinf)));
            }
            Token::Opaque(t) => append_text(&mut text, t),
            Token::Start(Tag::DevDevInf) => structured = Some(Data::DevInf(Box::new(decode_devinf(d)?))),
            Token::Start(Tag::MetAnchor) => structured = Some(Data::Anchor(decode_anchor(d)?)),
            Token::Start(Tag::DevProperty) => {
                let p = decode_property(d)?;
                match &mut structured {
                    Some(Data::Properties(ps)) => ps.push(p),
                    _ => structured = Some(Data::Properties(vec![p])),
                }
            }
            Token::Start(_) | Token::Unknown => d.skip()?,
            Token::End => break,
            Token::Eof => return Err(d.error(DecodeErrorKind::UnexpectedEof)),
        }
        if let Some(t) = &text {
            d.check_len(t.len())?;
        }
    }
    Ok(match structured {
        Some(s) => s,
        None => Data::Bytes(text.map(Cow::into_owned).unwrap_or_default()),
    })
}

fn encode_data(e: &mut Encoder<'_>, data: &Data) {
    match data {
        Data::Bytes(b) => e.leaf_bytes(Tag::Data, b),
        Data::DevInf(di) => {
            e.start(Tag::Data);
            e.begin_document(Namespace::DevInf, super::devinf::devinf_minor(di));
            encode_devinf(e, di);
            e.end_document();
            e.end();
        }
        Data::Anchor(a) => {
            e.start(Tag::Data);
            encode_anchor(e, a);
            e.end();
        }
        Data::Properties(ps) => {
            e.start(Tag::Data);
            for p in ps {
                encode_property(e, p, true);
            }
            e.end();
        }
    }
}

/// `Chal`'s Meta content and Cred's are full Meta elements; exported for the header writer.
pub(crate) fn encode_opt_meta(e: &mut Encoder<'_>, m: Option<&Meta>) {
    if let Some(m) = m {
        encode_meta(e, m);
    }
}
