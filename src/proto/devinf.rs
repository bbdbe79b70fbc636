//! Device information (DevInf 1.0–1.2, PROTOCOL.md §7).
//!
//! One model for all versions: a 1.0/1.1 document's flat CTCap (CTType, PropName, ValEnum, ...
//! in sequence at DevInf level) is read into the nested 1.2 structure and written back flat
//! when the document's VerDTD is below 1.2.

/// `DevInf`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DevInf {
    /// `1.2`, `1.1` or `1.0`; decides how CTCap is written.
    pub ver_dtd: String,
    pub man: Option<String>,
    pub mod_: Option<String>,
    pub oem: Option<String>,
    pub fw_v: Option<String>,
    pub sw_v: Option<String>,
    pub hw_v: Option<String>,
    pub dev_id: String,
    /// pager, handheld, pda, phone, smartphone, server, workstation.
    pub dev_typ: String,
    pub utc: bool,
    pub support_large_objs: bool,
    pub support_number_of_changes: bool,
    pub data_stores: Vec<DataStore>,
    /// Device-level CTCaps: the 1.0/1.1 place, and what Nokia N900 sends in 1.2 documents.
    pub ct_caps: Vec<CtCap>,
    pub exts: Vec<Ext>,
}

/// `DataStore`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DataStore {
    pub source_ref: String,
    pub display_name: Option<String>,
    pub max_guid_size: Option<u64>,
    pub rx_pref: Option<CtInfo>,
    pub rx: Vec<CtInfo>,
    pub tx_pref: Option<CtInfo>,
    pub tx: Vec<CtInfo>,
    /// DS 1.2: CTCaps inside the datastore.
    pub ct_caps: Vec<CtCap>,
    pub ds_mem: Option<DsMem>,
    pub support_hierarchical_sync: bool,
    /// SyncType values as strings (non-standard ones such as `390001` exist; only 1–7 are sent).
    pub sync_cap: Vec<String>,
    pub filter_rx: Vec<CtInfo>,
    pub filter_caps: Vec<FilterCap>,
}

/// A content type and version (`Rx`, `Tx`, `Rx-Pref`, `Tx-Pref`, `Filter-Rx`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CtInfo {
    pub ct_type: String,
    pub ver_ct: String,
}

/// `CTCap` (1.2 shape).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CtCap {
    pub ct_type: String,
    pub ver_ct: Option<String>,
    pub field_level: bool,
    pub properties: Vec<Property>,
}

/// `Property`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Property {
    pub prop_name: String,
    pub data_type: Option<String>,
    pub max_occur: Option<u64>,
    /// `MaxSize` (1.2) or `Size` (1.0/1.1).
    pub max_size: Option<u64>,
    pub no_truncate: bool,
    pub val_enums: Vec<String>,
    pub display_name: Option<String>,
    pub prop_params: Vec<PropParam>,
}

/// `PropParam`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PropParam {
    pub param_name: String,
    pub data_type: Option<String>,
    pub val_enums: Vec<String>,
    pub display_name: Option<String>,
}

/// `DSMem`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DsMem {
    pub shared_mem: bool,
    pub max_mem: Option<u64>,
    pub max_id: Option<u64>,
}

/// `FilterCap` (1.2).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FilterCap {
    pub ct_type: String,
    pub ver_ct: String,
    pub filter_keywords: Vec<String>,
    pub prop_names: Vec<String>,
}

/// `Ext`: vendor extension.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Ext {
    pub x_nam: String,
    pub x_vals: Vec<String>,
}

impl DevInf {
    /// True when the document is 1.2 or later (CTCap nested in DataStore, `MaxSize`).
    pub fn is_v12(&self) -> bool {
        !matches!(self.ver_dtd.trim(), "1.0" | "1.1")
    }
}
