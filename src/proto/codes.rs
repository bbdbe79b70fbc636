//! Status codes (PROTOCOL.md §4) and alert codes (§3.2) as enums that keep unknown values.

macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
            /// A code this table does not name, kept as received.
            Other(u16),
        }

        impl $name {
            /// The numeric code.
            pub fn code(self) -> u16 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Other(c) => c,
                }
            }

            /// The code's name in this table (`ServiceUnavailable`), `Other` for the rest.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)*
                    $name::Other(_) => "Other",
                }
            }
        }

        impl From<u16> for $name {
            fn from(code: u16) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    other => $name::Other(other),
                }
            }
        }

        impl From<$name> for u16 {
            fn from(c: $name) -> u16 {
                c.code()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.code())
            }
        }
    };
}

code_enum! {
    /// A SyncML status code (`Status/Data`).
    StatusCode {
        InProgress = 101,
        Ok = 200,
        ItemAdded = 201,
        AcceptedForProcessing = 202,
        NonAuthoritative = 203,
        NoContent = 204,
        ResetContent = 205,
        PartialContent = 206,
        ConflictMerged = 207,
        ConflictClientWon = 208,
        ConflictDuplicated = 209,
        DeleteWithoutArchive = 210,
        ItemNotDeleted = 211,
        AuthenticationAccepted = 212,
        ChunkAccepted = 213,
        OperationCancelled = 214,
        NotExecuted = 215,
        AtomicRollBackOk = 216,
        MultipleChoices = 300,
        MovedPermanently = 301,
        Found = 302,
        SeeOther = 303,
        NotModified = 304,
        UseProxy = 305,
        BadRequest = 400,
        InvalidCredentials = 401,
        PaymentRequired = 402,
        Forbidden = 403,
        NotFound = 404,
        CommandNotAllowed = 405,
        OptionalFeatureNotSupported = 406,
        MissingCredentials = 407,
        RequestTimeout = 408,
        Conflict = 409,
        Gone = 410,
        SizeRequired = 411,
        IncompleteCommand = 412,
        RequestEntityTooLarge = 413,
        UriTooLong = 414,
        UnsupportedMediaType = 415,
        RequestedSizeTooBig = 416,
        RetryLater = 417,
        AlreadyExists = 418,
        ConflictServerWon = 419,
        DeviceFull = 420,
        UnknownSearchGrammar = 421,
        BadCgiScript = 422,
        SoftDeleteConflict = 423,
        SizeMismatch = 424,
        PermissionDenied = 425,
        PartialItemNotAccepted = 426,
        ItemNotEmpty = 427,
        MoveFailed = 428,
        CommandFailed = 500,
        CommandNotImplemented = 501,
        BadGateway = 502,
        ServiceUnavailable = 503,
        GatewayTimeout = 504,
        DtdVersionNotSupported = 505,
        ProcessingError = 506,
        AtomicFailed = 507,
        RefreshRequired = 508,
        Reserved509 = 509,
        DataStoreFailure = 510,
        ServerFailure = 511,
        SynchronizationFailed = 512,
        ProtocolVersionNotSupported = 513,
        OperationCancelled514 = 514,
        AtomicRollBackFailed = 516,
        AtomicResponseTooLarge = 517,
    }
}

code_enum! {
    /// An alert code (`Alert/Data`).
    AlertCode {
        Display = 100,
        TwoWay = 200,
        SlowSync = 201,
        OneWayFromClient = 202,
        RefreshFromClient = 203,
        OneWayFromServer = 204,
        RefreshFromServer = 205,
        TwoWayByServer = 206,
        OneWayFromClientByServer = 207,
        RefreshFromClientByServer = 208,
        OneWayFromServerByServer = 209,
        RefreshFromServerByServer = 210,
        Result = 221,
        NextMessage = 222,
        NoEndOfData = 223,
        Suspend = 224,
        Resume = 225,
    }
}

impl StatusCode {
    /// 2xx: the command succeeded (in some way).
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.code())
    }
}

impl AlertCode {
    /// One of the sync alerts 200–210.
    pub fn is_sync(self) -> bool {
        (200..=210).contains(&self.code())
    }

    /// The client-initiated equivalent of a server-alerted code (206–210 → 200/202/203/204/205);
    /// other codes unchanged.
    pub fn without_server_alert(self) -> AlertCode {
        match self {
            AlertCode::TwoWayByServer => AlertCode::TwoWay,
            AlertCode::OneWayFromClientByServer => AlertCode::OneWayFromClient,
            AlertCode::RefreshFromClientByServer => AlertCode::RefreshFromClient,
            AlertCode::OneWayFromServerByServer => AlertCode::OneWayFromServer,
            AlertCode::RefreshFromServerByServer => AlertCode::RefreshFromServer,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_unknown_values() {
        assert_eq!(StatusCode::from(212), StatusCode::AuthenticationAccepted);
        assert_eq!(StatusCode::from(299), StatusCode::Other(299));
        assert_eq!(StatusCode::Other(299).code(), 299);
        assert_eq!(AlertCode::from(206).without_server_alert(), AlertCode::TwoWay);
        assert_eq!(AlertCode::from(250), AlertCode::Other(250));
        assert!(AlertCode::from(205).is_sync());
    }
}
