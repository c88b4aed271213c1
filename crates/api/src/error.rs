//! The one place where errors become HTTP: every crate's error maps to an [`ApiError`], which
//! renders as `{"error": {"code": "...", "message": "...", "field": "..."}}`. Codes are stable
//! and machine-readable; messages are for people.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
    /// The methods a resource allows (405).
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None, retry_after: None, allow: None }
    }

    /// 405 for a resource that answers `methods` only.
    pub fn method_not_allowed(methods: &[&str]) -> Self {
        let allow = methods.join(", ");
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this resource answers {allow} only"),
        );
        e.allow = Some(allow);
        e
    }

    /// The error of an answer made outside the handlers (the framework's extractors and limits),
    /// by its status: the same shape and stable codes as every other error.
    pub fn of_status(status: StatusCode, detail: &str) -> Self {
        let code = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            408 => "request_timeout",
            411 => "length_required",
            413 => "payload_too_large",
            414 => "uri_too_long",
            415 => "unsupported_media_type",
            416 => "range_not_satisfiable",
            431 => "headers_too_large",
            503 => "service_unavailable",
            s if s >= 500 => "internal",
            _ => "bad_request",
        };
        let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
        let detail: String = detail.trim().chars().filter(|c| !c.is_control()).take(300).collect();
        let message = if detail.is_empty() { reason } else { format!("{reason}: {detail}") };
        Self::new(status, code, message)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 503 for a search refused because the server is at its limit (`search.max_in_flight`).
    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many searches at this moment; try again in a second",
        )
        .with_retry_after(1)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn internal(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it has been logged")
    }

    fn unavailable(e: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "the service is temporarily unavailable; try again shortly",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"hoclieu\"")));
        }
        if let Some(allow) = &self.allow {
            response.insert_header((header::ALLOW, allow.clone()));
        }
        match (self.retry_after, self.status) {
            (Some(secs), _) => {
                response.insert_header((header::RETRY_AFTER, secs.to_string()));
            }
            (None, StatusCode::SERVICE_UNAVAILABLE) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            _ => {}
        }
        response.json(Body { error: Inner { code: self.code, message: &self.message, field: self.field.as_deref() } })
    }
}

impl From<hoclieu_domain::Error> for ApiError {
    fn from(e: hoclieu_domain::Error) -> Self {
        match e {
            hoclieu_domain::Error::Invalid { field, code, message } => {
                let status = if code == hoclieu_domain::error::codes::INVALID_JSON {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                let api = ApiError::new(status, code, message);
                if field.is_empty() { api } else { api.with_field(field) }
            }
            other => ApiError::internal(&other),
        }
    }
}

impl From<hoclieu_db::Error> for ApiError {
    fn from(e: hoclieu_db::Error) -> Self {
        use hoclieu_db::Error as E;
        match e {
            E::NotFound(what) => ApiError::not_found(&what),
            E::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message).with_field("id"),
            E::InvalidState(message) => ApiError::new(StatusCode::CONFLICT, "invalid_state", message),
            E::Unavailable(_) => ApiError::unavailable(&e),
            E::Database(_) | E::Corrupt(_) => ApiError::internal(&e),
        }
    }
}

impl From<hoclieu_storage::Error> for ApiError {
    fn from(e: hoclieu_storage::Error) -> Self {
        use hoclieu_storage::Error as E;
        match e {
            E::NotFound(_) => ApiError::internal(&format!("a stored file is missing from object storage: {e}")),
            E::InvalidRange { .. } => {
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable", e.to_string())
            }
            E::Backend(_) | E::Io(_) => ApiError::unavailable(&e),
        }
    }
}

impl From<hoclieu_index::Error> for ApiError {
    fn from(e: hoclieu_index::Error) -> Self {
        use hoclieu_index::Error as E;
        match e {
            E::TooDeep(_) => ApiError::bad_request("invalid_value", e.to_string()).with_field("page"),
            E::Db(db) => db.into(),
            other => ApiError::internal(&other),
        }
    }
}

impl From<hoclieu_ingest::Error> for ApiError {
    fn from(e: hoclieu_ingest::Error) -> Self {
        use hoclieu_ingest::Error as E;
        let message = e.to_string();
        match e {
            E::Invalid(d) => d.into(),
            E::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message),
            E::ForbiddenType { .. } => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message).with_field("file")
            }
            E::Interrupted(_) => ApiError::bad_request("upload_interrupted", message),
            E::OffsetMismatch { .. } => {
                ApiError::new(StatusCode::CONFLICT, "offset_mismatch", message).with_field("Upload-Offset")
            }
            // 460 is tus's "Checksum Mismatch".
            E::ChecksumMismatch => {
                ApiError::new(StatusCode::from_u16(460).expect("a valid status"), "checksum_mismatch", message)
                    .with_field("Upload-Checksum")
            }
            E::UploadIncomplete { .. } => ApiError::new(StatusCode::CONFLICT, "upload_incomplete", message),
            E::Storage(s) => s.into(),
            E::Db(d) => d.into(),
            E::Io { .. } => ApiError::internal(&message),
        }
    }
}

impl ApiError {
    /// The stable code an ingest error maps to (for headers that report it without failing).
    pub fn code_of(e: &hoclieu_ingest::Error) -> &'static str {
        use hoclieu_ingest::Error as E;
        match e {
            E::Invalid(hoclieu_domain::Error::Invalid { code, .. }) => code,
            E::Invalid(_) => "invalid_value",
            E::TooLarge { .. } => "payload_too_large",
            E::ForbiddenType { .. } => "unsupported_media_type",
            E::Interrupted(_) => "upload_interrupted",
            E::OffsetMismatch { .. } => "offset_mismatch",
            E::ChecksumMismatch => "checksum_mismatch",
            E::UploadIncomplete { .. } => "upload_incomplete",
            E::Db(hoclieu_db::Error::Conflict(_)) => "conflict",
            E::Db(hoclieu_db::Error::Unavailable(_)) | E::Storage(_) => "service_unavailable",
            E::Db(_) | E::Io { .. } => "internal",
        }
    }
}

impl From<actix_multipart::MultipartError> for ApiError {
    fn from(e: actix_multipart::MultipartError) -> Self {
        ApiError::bad_request("invalid_multipart", format!("the request is not valid multipart/form-data: {e}"))
    }
}
