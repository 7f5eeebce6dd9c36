//! The server's error: either an outcome the user sees ([`AppError`]) or an internal failure
//! that is logged with its cause and shown as a short, honest message.

use app::AppError;
use axum::{
    extract::rejection::JsonRejection,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("database")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        match e {
            Error::App(app) => app,
            other => {
                tracing::error!(error = ?other, "internal error");
                AppError::Internal
            }
        }
    }
}

/// Whether `e` is a unique-constraint violation of `constraint` (PostgreSQL names it) or of
/// `columns` (SQLite names the columns instead, as `table.column`).
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str, columns: &str) -> bool {
    let Some(db) = e.as_database_error() else { return false };
    db.is_unique_violation() && (db.constraint() == Some(constraint) || db.message().contains(columns))
}

/// Every error of the API: a stable `code` to branch on, a `message` for people, and the
/// `field` a bad input was in.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `invalid`, `bad_request`, `conflict`,
    /// `outside_window`, `provider`, `rate_limited`, `internal`, `unavailable`.
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, body: ErrorBody { error: ErrorDetail { code, message: message.into(), field: None } } }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// The status and code come from [`AppError::status`] and [`AppError::code`]: the pages and the
/// REST API answer an error the same way.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut error = Self::new(status, e.code(), e.to_string());
        if let AppError::Invalid { field, .. } = e {
            error.body.error.field = Some(field);
        }
        error
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        AppError::from(e).into()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("The body is not the JSON this route takes: {}", e.body_text()),
        )
    }
}
