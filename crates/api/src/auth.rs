//! API-key authentication: `Authorization: Bearer hl_…`.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use hoclieu_db::ApiKey;
use hoclieu_domain::Scope;

use crate::App;
use crate::error::ApiError;

/// The API key of the request, which must grant `scope`.
pub async fn require(req: &HttpRequest, app: &App, scope: Scope) -> Result<ApiKey, ApiError> {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))).map(str::trim);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this request needs an API key: send `Authorization: Bearer <key>`",
        ));
    };
    let Some(key) = app.db.authenticate(token).await? else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the API key is unknown or revoked"));
    };
    if !hoclieu_domain::auth::grants(&key.scopes, scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("the API key {:?} does not have the `{}` scope", key.name, scope.as_str()),
        ));
    }
    Ok(key)
}
