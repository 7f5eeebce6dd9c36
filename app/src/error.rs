use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// Every outcome a server function can report to the browser. Messages are written for the
/// person at the screen; causes of internal errors stay in the server's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please log in.")]
    Unauthenticated,
    #[error("You do not have access to this.")]
    Forbidden,
    #[error("{0} not found.")]
    NotFound(String),
    /// A form field that failed its rules; `field` is the input's name.
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    /// Free text to a WhatsApp guest whose 24-hour window is closed: only a template may go.
    #[error("{0}")]
    OutsideWindow(String),
    /// Twilio refused or could not be reached; the message says which, in the user's words.
    #[error("{0}")]
    Provider(String),
    /// Too many attempts (logins): try again after `retry_after_secs`.
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: u64 },
    #[error("Something went wrong on our side. It has been logged; please try again.")]
    Internal,
    #[error("Could not reach Switchboard: {0}")]
    Transport(String),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.to_string(), message: message.into() }
    }

    /// The HTTP status that says what kind of error this is: the one table for the pages'
    /// server functions and the REST API alike.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound(_) => 404,
            Self::Invalid { .. } => 422,
            Self::Conflict(_) | Self::OutsideWindow(_) => 409,
            Self::Provider(_) => 502,
            Self::RateLimited { .. } => 429,
            Self::Internal => 500,
            Self::Transport(_) => 503,
        }
    }

    /// A stable name for the kind of error, for programs to branch on (the REST API's `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Invalid { .. } => "invalid",
            Self::Conflict(_) => "conflict",
            Self::OutsideWindow(_) => "outside_window",
            Self::Provider(_) => "provider",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal => "internal",
            Self::Transport(_) => "unavailable",
        }
    }

    /// The message for one form field, when this error is about that field.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            Self::Invalid { field, message } if field == name => Some(message.clone()),
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                Self::invalid("", format!("The form was incomplete: {m}"))
            }
            other => Self::Transport(other.to_string()),
        }
    }
}
