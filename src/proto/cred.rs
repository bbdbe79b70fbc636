//! `Cred` (credentials) and `Chal` (challenge).

use crate::proto::meta::Meta;

/// `Cred`: Meta (Type `syncml:auth-basic`/`syncml:auth-md5`, Format) and the credential bytes as
/// received: base64 text, or in WBXML possibly the 16 raw digest bytes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Cred {
    pub meta: Option<Meta>,
    pub data: Vec<u8>,
}

/// `Chal`: the authentication scheme and nonce the sender demands.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Chal {
    pub meta: Meta,
}
