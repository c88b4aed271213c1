/// The domain crate's one error type: what is wrong with a value a user or operator gave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field of a material (or of a request) is missing or not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault, as named in the import contract and the API ("subject", "files[0].path").
        field: String,
        /// A stable machine-readable reason: see [`codes`].
        code: &'static str,
        message: String,
    },
    /// A vocabulary file cannot be used.
    #[error("vocabulary file {file}: {message}")]
    Vocabulary { file: String, message: String },
}

/// Stable reasons carried by [`Error::Invalid`].
pub mod codes {
    pub const MISSING_FIELD: &str = "missing_field";
    pub const UNKNOWN_FIELD: &str = "unknown_field";
    pub const INVALID_VALUE: &str = "invalid_value";
    pub const UNKNOWN_VALUE: &str = "unknown_value";
    pub const TOO_LONG: &str = "too_long";
    pub const INVALID_JSON: &str = "invalid_json";
}

impl Error {
    pub fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), code, message: message.into() }
    }

    /// The field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } => Some(field),
            Error::Vocabulary { .. } => None,
        }
    }
}
