//! What every route of the REST API shares: the user a personal API token stands for, and JSON
//! bodies read into the API's error shape.

use app::accounts::Me;
use axum::{
    extract::{rejection::JsonRejection, FromRequestParts},
    http::{request::Parts, StatusCode},
    Json,
};

pub use crate::error::{ApiError, ErrorBody};
use crate::{accounts::tokens, state::AppState};

pub type ApiResult<T> = Result<T, ApiError>;

/// The user a bearer token stands for.
pub struct ApiUser(pub Me);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(token) = token else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Send a personal API token: Authorization: Bearer <token> (create one under API tokens).",
            ));
        };
        match tokens::authenticate(state, token).await? {
            Some(me) => Ok(ApiUser(me)),
            None => {
                Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "This token is unknown or was revoked."))
            }
        }
    }
}

/// A JSON body, or a `bad_request` error in the API's shape.
pub fn body<T>(json: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    json.map(|Json(t)| t).map_err(ApiError::from)
}
