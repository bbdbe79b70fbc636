//! Meta information (`syncml:metinf`): content type and format, sizes, anchors, nonces, memory.

/// `Meta` with every MetInf element (all optional; `EMI` repeatable).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Meta {
    pub format: Option<String>,
    pub type_: Option<String>,
    pub mark: Option<String>,
    pub size: Option<u64>,
    pub anchor: Option<Anchor>,
    pub version: Option<String>,
    /// Base64 text as on the wire.
    pub next_nonce: Option<String>,
    pub max_msg_size: Option<u64>,
    pub max_obj_size: Option<u64>,
    pub emi: Vec<String>,
    pub mem: Option<Mem>,
    /// DS 1.2: the Replace carries only changed fields.
    pub field_level: bool,
}

/// `Anchor`: the Last and Next sync anchors (opaque strings).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Anchor {
    pub last: Option<String>,
    /// Required by the DTD; kept optional because resuming Funambol clients and broken ones omit it.
    pub next: Option<String>,
}

/// `Mem`: the sender's free memory.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Mem {
    pub shared_mem: bool,
    pub free_mem: Option<u64>,
    pub free_id: Option<u64>,
}

impl Meta {
    /// A Meta with only a content type.
    pub fn with_type(type_: impl Into<String>) -> Self {
        Meta { type_: Some(type_.into()), ..Default::default() }
    }

    /// True when no element is present (such a Meta is not worth writing).
    pub fn is_empty(&self) -> bool {
        *self == Meta::default()
    }
}
