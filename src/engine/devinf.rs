//! DevInf exchange: the server's own DevInf (answer to Get), storing the client's (Put/Results),
//! and reading the client's back (device quirks are keyed by its Man/Mod).

use crate::codec::Encoding;
use crate::engine::config::EngineConfig;
use crate::engine::fields;
use crate::engine::filters;
use crate::proto::{CtInfo, Data, DataStore, DevInf, Item, Meta, Results, Source, Version};

/// The server's DevInf for a session of `version`; `source_ref` gives, per configured
/// datastore, the string the client used in its Alert (newer Nokias require it echoed).
/// `field_level`: the device announced field-level Replace itself, so it gets our CTCaps with
/// FieldLevel (a client that does not know the element may reject the whole DevInf).
pub(crate) fn server_devinf(
    cfg: &EngineConfig,
    version: Version,
    dev_id: &str,
    field_level: bool,
    source_ref: impl Fn(&str) -> String,
) -> DevInf {
    let split = |ct: &str| {
        let (t, v) = ct.split_once(';').unwrap_or((ct, ""));
        CtInfo { ct_type: t.to_string(), ver_ct: v.to_string() }
    };
    DevInf {
        ver_dtd: version.ver_dtd().into(),
        man: Some("syncgate".into()),
        mod_: Some("syncgate".into()),
        oem: Some(String::new()),
        fw_v: Some(String::new()),
        sw_v: Some(env!("CARGO_PKG_VERSION").into()),
        hw_v: Some(String::new()),
        dev_id: dev_id.into(),
        dev_typ: "server".into(),
        utc: version != Version::V1_0,
        support_large_objs: version != Version::V1_0,
        support_number_of_changes: version != Version::V1_0,
        data_stores: cfg
            .datastores
            .iter()
            .map(|ds| {
                let types: Vec<CtInfo> = ds.content_types.iter().map(|c| split(c)).collect();
                let mut out = DataStore {
                    source_ref: source_ref(&ds.name),
                    display_name: Some(ds.name.clone()),
                    max_guid_size: Some(32),
                    rx_pref: types.first().cloned(),
                    rx: types.iter().skip(1).cloned().collect(),
                    tx_pref: types.first().cloned(),
                    tx: types.iter().skip(1).cloned().collect(),
                    sync_cap: (1..=7).map(|n: u8| n.to_string()).collect(),
                    support_hierarchical_sync: ds.hierarchical,
                    // Field-level Replace of messages (fields.rs); DS 1.2 only.
                    ct_caps: match version {
                        Version::V1_2 if field_level => fields::server_ctcaps(&ds.content_types),
                        _ => Vec::new(),
                    },
                    ..Default::default()
                };
                if version == Version::V1_2 {
                    filters::advertise(&mut out, &ds.content_types);
                }
                out
            })
            .collect(),
        ct_caps: Vec::new(),
        exts: Vec::new(),
    }
}

/// The Results command answering a Get of the server's DevInf.
pub(crate) fn results(
    get_cmd_id: u32,
    msg_ref: u32,
    target_uri: &str,
    devinf: DevInf,
    version: Version,
    encoding: Encoding,
) -> Results {
    Results {
        cmd_id: 0,
        msg_ref: Some(msg_ref),
        cmd_ref: get_cmd_id,
        meta: Some(Meta::with_type(encoding.devinf_type())),
        target_ref: None,
        source_ref: Some(if target_uri.is_empty() { version.devinf_uri().to_string() } else { target_uri.to_string() }),
        items: vec![Item {
            source: Some(Source::uri(version.devinf_uri())),
            data: Some(Data::DevInf(Box::new(devinf))),
            ..Default::default()
        }],
    }
}

/// The client's DevInf from Put/Results items, encoded as XML for storage.
pub(crate) fn client_devinf_bytes(items: &[Item]) -> Option<Vec<u8>> {
    items.iter().find_map(|it| match &it.data {
        Some(Data::DevInf(d)) => {
            crate::codec::encode(&crate::codec::Document::DevInf((**d).clone()), Encoding::Xml, false).ok()
        }
        Some(Data::Bytes(b)) if !b.is_empty() => Some(b.clone()),
        _ => None,
    })
}

/// The client's DevInf from Put/Results items, when it came decoded (for quirk matching).
pub(crate) fn client_devinf(items: &[Item]) -> Option<DevInf> {
    items.iter().find_map(|it| match &it.data {
        Some(Data::DevInf(d)) => Some((**d).clone()),
        Some(Data::Bytes(b)) if !b.is_empty() => decode_stored(b),
        _ => None,
    })
}

/// A stored client DevInf ([`client_devinf_bytes`]) decoded again; `None` when unreadable.
pub(crate) fn decode_stored(bytes: &[u8]) -> Option<DevInf> {
    match crate::codec::decode(bytes, &crate::codec::Limits::default()) {
        Ok((_, crate::codec::Document::DevInf(d))) => Some(d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_level_ctcaps_only_for_devices_that_announce_it() {
        let cfg = EngineConfig::default();
        let caps = |field_level| -> Vec<String> {
            server_devinf(&cfg, Version::V1_2, "dev", field_level, |n| n.to_string())
                .data_stores
                .iter()
                .flat_map(|d| {
                    d.ct_caps.iter().filter(|c| c.field_level).map(move |c| format!("{}:{}", d.source_ref, c.ct_type))
                })
                .collect()
        };
        assert!(caps(false).is_empty(), "libsynthesis rejects a CTCap with FieldLevel");
        assert_eq!(caps(true), ["messages:application/vnd.omads-email+xml"]);
        let v11 = server_devinf(&cfg, Version::V1_1, "dev", true, |n| n.to_string());
        assert!(v11.data_stores.iter().all(|d| d.ct_caps.is_empty()), "DS 1.2 only");
    }
}
