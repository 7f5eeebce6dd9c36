//! The server's error: either an outcome the user sees ([`AppError`]) or an internal failure
//! that is logged with its cause and shown as a short, honest message.

use app::AppError;

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
