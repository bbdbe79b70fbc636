//! DevInf ⇄ model, all versions: 1.2 nested CTCap inside DataStore, 1.0/1.1 flat CTCap at DevInf
//! level, and the deviations of real phones (PROTOCOL.md §7.1: N900's 1.1-style CTCap in a 1.2
//! document, 2630's ParamName directly in Property, E90's empty DataType).

use crate::codec::tag::{Namespace, Tag};
use crate::codec::token::TokenSource;
use crate::codec::DecodeError;
use crate::proto::{CtCap, CtInfo, DataStore, DevInf, DsMem, Ext, FilterCap, PropParam, Property};

use super::read::Decoder;
use super::write::Encoder;

/// Decodes the DevInf element whose start was just read.
pub(crate) fn decode_devinf<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<DevInf, DecodeError> {
    let mut di = DevInf::default();
    d.children(|d, tag| {
        match tag {
            Tag::DevVerDtd => di.ver_dtd = d.string()?,
            Tag::DevMan => di.man = Some(d.string()?),
            Tag::DevMod => di.mod_ = Some(d.string()?),
            Tag::DevOem => di.oem = Some(d.string()?),
            Tag::DevFwV => di.fw_v = Some(d.string()?),
            Tag::DevSwV => di.sw_v = Some(d.string()?),
            Tag::DevHwV => di.hw_v = Some(d.string()?),
            Tag::DevDevId => di.dev_id = d.string()?,
            Tag::DevDevTyp => di.dev_typ = d.string()?,
            Tag::DevUtc => di.utc = d.flag()?,
            Tag::DevSupportLargeObjs => di.support_large_objs = d.flag()?,
            Tag::DevSupportNumberOfChanges => di.support_number_of_changes = d.flag()?,
            Tag::DevDataStore => di.data_stores.push(decode_datastore(d)?),
            Tag::DevCtCap => di.ct_caps.extend(decode_ctcap(d)?),
            Tag::DevExt => di.exts.push(decode_ext(d)?),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(di)
}

fn decode_datastore<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<DataStore, DecodeError> {
    let mut ds = DataStore::default();
    d.children(|d, tag| {
        match tag {
            Tag::DevSourceRef => ds.source_ref = d.string()?,
            Tag::DevDisplayName => ds.display_name = Some(d.string()?),
            Tag::DevMaxGuidSize => ds.max_guid_size = Some(d.number("MaxGUIDSize")?),
            Tag::DevRxPref => ds.rx_pref = Some(decode_ctinfo(d)?),
            Tag::DevRx => ds.rx.push(decode_ctinfo(d)?),
            Tag::DevTxPref => ds.tx_pref = Some(decode_ctinfo(d)?),
            Tag::DevTx => ds.tx.push(decode_ctinfo(d)?),
            Tag::DevCtCap => ds.ct_caps.extend(decode_ctcap(d)?),
            Tag::DevDsMem => {
                let mut m = DsMem::default();
                d.children(|d, tag| {
                    match tag {
                        Tag::DevSharedMem => m.shared_mem = d.flag()?,
                        Tag::DevMaxMem => m.max_mem = Some(d.number("MaxMem")?),
                        Tag::DevMaxId => m.max_id = Some(d.number("MaxID")?),
                        _ => d.skip()?,
                    }
                    Ok(())
                })?;
                ds.ds_mem = Some(m);
            }
            Tag::DevSupportHierarchicalSync => ds.support_hierarchical_sync = d.flag()?,
            Tag::DevSyncCap => d.children(|d, tag| {
                match tag {
                    Tag::DevSyncType => ds.sync_cap.push(d.string()?),
                    _ => d.skip()?,
                }
                Ok(())
            })?,
            Tag::DevFilterRx => ds.filter_rx.push(decode_ctinfo(d)?),
            Tag::DevFilterCap => {
                let mut fc = FilterCap::default();
                d.children(|d, tag| {
                    match tag {
                        Tag::DevCtType => fc.ct_type = d.string()?,
                        Tag::DevVerCt => fc.ver_ct = d.string()?,
                        Tag::DevFilterKeyword => fc.filter_keywords.push(d.string()?),
                        Tag::DevPropName => fc.prop_names.push(d.string()?),
                        _ => d.skip()?,
                    }
                    Ok(())
                })?;
                ds.filter_caps.push(fc);
            }
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(ds)
}

fn decode_ctinfo<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<CtInfo, DecodeError> {
    let mut c = CtInfo::default();
    d.children(|d, tag| {
        match tag {
            Tag::DevCtType => c.ct_type = d.string()?,
            Tag::DevVerCt => c.ver_ct = d.string()?,
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(c)
}

/// Where flat (1.0/1.1) values attach: the last property, or the last parameter of it.
#[derive(PartialEq)]
enum Attach {
    CtCap,
    Property,
    Param,
}

/// One `CTCap` element, nested (1.2) or flat (1.0/1.1, possibly listing several content types).
fn decode_ctcap<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Vec<CtCap>, DecodeError> {
    let mut caps: Vec<CtCap> = Vec::new();
    let mut attach = Attach::CtCap;
    // Whether the last CTCap got its CTType yet (an empty CTType is still a CTType).
    let mut typed = false;
    d.children(|d, tag| {
        if caps.is_empty() && tag != Tag::DevCtType {
            caps.push(CtCap::default());
        }
        match tag {
            Tag::DevCtType => {
                let ct = d.string()?;
                match caps.last_mut() {
                    Some(c) if !typed => c.ct_type = ct,
                    _ => caps.push(CtCap { ct_type: ct, ..Default::default() }),
                }
                typed = true;
                attach = Attach::CtCap;
            }
            Tag::DevVerCt => last(&mut caps).ver_ct = Some(d.string()?),
            Tag::DevFieldLevel => last(&mut caps).field_level = d.flag()?,
            Tag::DevProperty => {
                last(&mut caps).properties.push(decode_property(d)?);
                attach = Attach::CtCap;
            }
            Tag::DevPropName => {
                let name = d.string()?;
                last(&mut caps).properties.push(Property { prop_name: name, ..Default::default() });
                attach = Attach::Property;
            }
            Tag::DevParamName => {
                let name = d.string()?;
                let props = &mut last(&mut caps).properties;
                if props.is_empty() {
                    props.push(Property::default());
                }
                if let Some(p) = props.last_mut() {
                    p.prop_params.push(PropParam { param_name: name, ..Default::default() });
                }
                attach = Attach::Param;
            }
            Tag::DevValEnum | Tag::DevDataType | Tag::DevSize | Tag::DevMaxSize | Tag::DevDisplayName
                if attach != Attach::CtCap =>
            {
                let prop = last(&mut caps).properties.last_mut();
                match (prop, &attach) {
                    (Some(p), Attach::Param) => match p.prop_params.last_mut() {
                        Some(param) => flat_param_value(d, tag, param)?,
                        None => flat_prop_value(d, tag, p)?,
                    },
                    (Some(p), _) => flat_prop_value(d, tag, p)?,
                    (None, _) => d.skip()?,
                }
            }
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(caps)
}

fn last(caps: &mut Vec<CtCap>) -> &mut CtCap {
    if caps.is_empty() {
        caps.push(CtCap::default());
    }
    let n = caps.len() - 1;
    &mut caps[n]
}

fn flat_prop_value<'a, S: TokenSource<'a>>(
    d: &mut Decoder<'a, S>,
    tag: Tag,
    p: &mut Property,
) -> Result<(), DecodeError> {
    match tag {
        Tag::DevValEnum => p.val_enums.push(d.string()?),
        Tag::DevDataType => p.data_type = non_empty(d.string()?),
        Tag::DevSize | Tag::DevMaxSize => p.max_size = Some(d.number("Size")?),
        Tag::DevDisplayName => p.display_name = Some(d.string()?),
        _ => d.skip()?,
    }
    Ok(())
}

fn flat_param_value<'a, S: TokenSource<'a>>(
    d: &mut Decoder<'a, S>,
    tag: Tag,
    p: &mut PropParam,
) -> Result<(), DecodeError> {
    match tag {
        Tag::DevValEnum => p.val_enums.push(d.string()?),
        Tag::DevDataType => p.data_type = non_empty(d.string()?),
        Tag::DevDisplayName => p.display_name = Some(d.string()?),
        _ => d.skip()?,
    }
    Ok(())
}

/// Nokia E90 sends an empty DataType: treat it as absent.
fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Decodes the `Property` element whose start was just read (1.2; tolerates a bare ParamName).
pub(crate) fn decode_property<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Property, DecodeError> {
    let mut p = Property::default();
    let mut in_bare_param = false;
    d.children(|d, tag| {
        if in_bare_param && matches!(tag, Tag::DevValEnum | Tag::DevDataType | Tag::DevDisplayName) {
            if let Some(param) = p.prop_params.last_mut() {
                return flat_param_value(d, tag, param);
            }
        }
        match tag {
            Tag::DevPropName => p.prop_name = d.string()?,
            Tag::DevDataType => p.data_type = non_empty(d.string()?),
            Tag::DevMaxOccur => p.max_occur = Some(d.number("MaxOccur")?),
            Tag::DevMaxSize | Tag::DevSize => p.max_size = Some(d.number("MaxSize")?),
            Tag::DevNoTruncate => p.no_truncate = d.flag()?,
            Tag::DevValEnum => p.val_enums.push(d.string()?),
            Tag::DevDisplayName => p.display_name = Some(d.string()?),
            Tag::DevPropParam => p.prop_params.push(decode_prop_param(d)?),
            Tag::DevParamName => {
                p.prop_params.push(PropParam { param_name: d.string()?, ..Default::default() });
                in_bare_param = true;
            }
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(p)
}

fn decode_prop_param<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<PropParam, DecodeError> {
    let mut pp = PropParam::default();
    d.children(|d, tag| {
        match tag {
            Tag::DevParamName => pp.param_name = d.string()?,
            _ => flat_param_value(d, tag, &mut pp)?,
        }
        Ok(())
    })?;
    Ok(pp)
}

fn decode_ext<'a, S: TokenSource<'a>>(d: &mut Decoder<'a, S>) -> Result<Ext, DecodeError> {
    let mut x = Ext::default();
    d.children(|d, tag| {
        match tag {
            Tag::DevXNam => x.x_nam = d.string()?,
            Tag::DevXVal => x.x_vals.push(d.string()?),
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(x)
}

/// The DevInf document version from its VerDTD (unknown or absent: 1.2).
pub(crate) fn devinf_minor(di: &DevInf) -> u8 {
    match di.ver_dtd.trim() {
        "1.0" => 0,
        "1.1" => 1,
        _ => 2,
    }
}

/// A standalone DevInf document.
pub(crate) fn encode_devinf_document(e: &mut Encoder<'_>, di: &DevInf) {
    e.begin_document(Namespace::DevInf, devinf_minor(di));
    encode_devinf(e, di);
    e.end_document();
}

/// The DevInf element in canonical order (PROTOCOL.md §7.1).
pub(crate) fn encode_devinf(e: &mut Encoder<'_>, di: &DevInf) {
    let v12 = di.is_v12();
    e.start(Tag::DevDevInf);
    e.leaf(Tag::DevVerDtd, &di.ver_dtd);
    e.opt_leaf(Tag::DevMan, di.man.as_ref());
    e.opt_leaf(Tag::DevMod, di.mod_.as_ref());
    e.opt_leaf(Tag::DevOem, di.oem.as_ref());
    e.opt_leaf(Tag::DevFwV, di.fw_v.as_ref());
    e.opt_leaf(Tag::DevSwV, di.sw_v.as_ref());
    e.opt_leaf(Tag::DevHwV, di.hw_v.as_ref());
    e.leaf(Tag::DevDevId, &di.dev_id);
    e.leaf(Tag::DevDevTyp, &di.dev_typ);
    e.flag(Tag::DevUtc, di.utc);
    e.flag(Tag::DevSupportLargeObjs, di.support_large_objs);
    e.flag(Tag::DevSupportNumberOfChanges, di.support_number_of_changes);
    for ds in &di.data_stores {
        encode_datastore(e, ds, v12);
    }
    encode_ctcaps(e, &di.ct_caps, v12);
    for x in &di.exts {
        e.start(Tag::DevExt);
        e.leaf(Tag::DevXNam, &x.x_nam);
        e.leaves(Tag::DevXVal, &x.x_vals);
        e.end();
    }
    e.end();
}

fn encode_datastore(e: &mut Encoder<'_>, ds: &DataStore, v12: bool) {
    e.start(Tag::DevDataStore);
    e.leaf(Tag::DevSourceRef, &ds.source_ref);
    e.opt_leaf(Tag::DevDisplayName, ds.display_name.as_ref());
    e.opt_num(Tag::DevMaxGuidSize, ds.max_guid_size);
    let ctinfo = |e: &mut Encoder<'_>, tag: Tag, c: &CtInfo| {
        e.start(tag);
        e.leaf(Tag::DevCtType, &c.ct_type);
        e.leaf(Tag::DevVerCt, &c.ver_ct);
        e.end();
    };
    if let Some(c) = &ds.rx_pref {
        ctinfo(e, Tag::DevRxPref, c);
    }
    for c in &ds.rx {
        ctinfo(e, Tag::DevRx, c);
    }
    if let Some(c) = &ds.tx_pref {
        ctinfo(e, Tag::DevTxPref, c);
    }
    for c in &ds.tx {
        ctinfo(e, Tag::DevTx, c);
    }
    encode_ctcaps(e, &ds.ct_caps, v12);
    if let Some(m) = &ds.ds_mem {
        e.start(Tag::DevDsMem);
        e.flag(Tag::DevSharedMem, m.shared_mem);
        e.opt_num(Tag::DevMaxMem, m.max_mem);
        e.opt_num(Tag::DevMaxId, m.max_id);
        e.end();
    }
    e.flag(Tag::DevSupportHierarchicalSync, ds.support_hierarchical_sync);
    e.start(Tag::DevSyncCap);
    e.leaves(Tag::DevSyncType, &ds.sync_cap);
    e.end();
    for c in &ds.filter_rx {
        ctinfo(e, Tag::DevFilterRx, c);
    }
    for fc in &ds.filter_caps {
        e.start(Tag::DevFilterCap);
        e.leaf(Tag::DevCtType, &fc.ct_type);
        e.leaf(Tag::DevVerCt, &fc.ver_ct);
        e.leaves(Tag::DevFilterKeyword, &fc.filter_keywords);
        e.leaves(Tag::DevPropName, &fc.prop_names);
        e.end();
    }
    e.end();
}

/// 1.2: one nested CTCap per content type. 1.0/1.1: one flat CTCap listing them all — unless
/// the capabilities use what the flat form cannot carry (MaxOccur, NoTruncate, FieldLevel: a
/// 1.1 document that mixed in 1.2 elements, as some phones do); then they stay nested, which
/// our reader (and a lenient peer) accepts in any version, so nothing is silently dropped.
fn encode_ctcaps(e: &mut Encoder<'_>, caps: &[CtCap], v12: bool) {
    if caps.is_empty() {
        return;
    }
    let flat_ok = |c: &CtCap| !c.field_level && c.properties.iter().all(|p| p.max_occur.is_none() && !p.no_truncate);
    if v12 || !caps.iter().all(flat_ok) {
        for c in caps {
            e.start(Tag::DevCtCap);
            e.leaf(Tag::DevCtType, &c.ct_type);
            e.opt_leaf(Tag::DevVerCt, c.ver_ct.as_ref());
            e.flag(Tag::DevFieldLevel, c.field_level);
            for p in &c.properties {
                encode_property(e, p, true);
            }
            e.end();
        }
        return;
    }
    e.start(Tag::DevCtCap);
    for c in caps {
        e.leaf(Tag::DevCtType, &c.ct_type);
        e.opt_leaf(Tag::DevVerCt, c.ver_ct.as_ref());
        for p in &c.properties {
            encode_property(e, p, false);
        }
    }
    e.end();
}

/// A property: nested `Property` element (1.2) or its flat 1.0/1.1 sequence.
pub(crate) fn encode_property(e: &mut Encoder<'_>, p: &Property, v12: bool) {
    if v12 {
        e.start(Tag::DevProperty);
        e.leaf(Tag::DevPropName, &p.prop_name);
        e.opt_leaf(Tag::DevDataType, p.data_type.as_ref());
        e.opt_num(Tag::DevMaxOccur, p.max_occur);
        e.opt_num(Tag::DevMaxSize, p.max_size);
        e.flag(Tag::DevNoTruncate, p.no_truncate);
        e.leaves(Tag::DevValEnum, &p.val_enums);
        e.opt_leaf(Tag::DevDisplayName, p.display_name.as_ref());
        for pp in &p.prop_params {
            e.start(Tag::DevPropParam);
            e.leaf(Tag::DevParamName, &pp.param_name);
            e.opt_leaf(Tag::DevDataType, pp.data_type.as_ref());
            e.leaves(Tag::DevValEnum, &pp.val_enums);
            e.opt_leaf(Tag::DevDisplayName, pp.display_name.as_ref());
            e.end();
        }
        e.end();
        return;
    }
    e.leaf(Tag::DevPropName, &p.prop_name);
    e.leaves(Tag::DevValEnum, &p.val_enums);
    e.opt_leaf(Tag::DevDataType, p.data_type.as_ref());
    e.opt_num(Tag::DevSize, p.max_size);
    e.opt_leaf(Tag::DevDisplayName, p.display_name.as_ref());
    for pp in &p.prop_params {
        e.leaf(Tag::DevParamName, &pp.param_name);
        e.leaves(Tag::DevValEnum, &pp.val_enums);
        e.opt_leaf(Tag::DevDataType, pp.data_type.as_ref());
        e.opt_leaf(Tag::DevDisplayName, pp.display_name.as_ref());
    }
}
