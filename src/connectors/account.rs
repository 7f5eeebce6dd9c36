//! A connector as the other parts use it: its webhook key, its credentials opened, a live check
//! of them against Twilio, its summary row, and Twilio's failures in the user's words.

use app::{
    accounts::Me,
    connectors::{ConnectorState, ConnectorSummary, Health},
    AppError,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;

use super::store::{self, Check};
use crate::{
    error::Result,
    state::AppState,
    twilio::{AccountSid, Credentials, TwilioError},
};

/// Whether `key` has the shape of a key [`new_webhook_key`] makes (43 URL-safe base64 characters):
/// anything else is refused before any lookup.
pub fn is_webhook_key(key: &str) -> bool {
    key.len() == 43 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An unguessable key that names a connector in its webhook URLs.
pub fn new_webhook_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) async fn check(state: &AppState, creds: &Credentials) -> Check {
    let failed = |health, reason: String| Check {
        state: ConnectorState::Error,
        health,
        reason: Some(reason),
        account_name: None,
        trial: false,
    };
    match state.twilio.fetch_account(creds).await {
        Ok(account) if account.status.as_deref().is_some_and(|s| s != "active") => failed(
            Health::CredentialsRejected,
            format!("The Twilio account is {}.", account.status.unwrap_or_default()),
        ),
        Ok(account) => Check {
            state: ConnectorState::Active,
            health: Health::Connected,
            reason: None,
            trial: account.kind.as_deref() == Some("Trial"),
            account_name: account.friendly_name,
        },
        Err(TwilioError::Rejected { code, .. }) => failed(
            Health::CredentialsRejected,
            format!(
                "Twilio rejected these credentials (error {}). Check the Account SID and Auth Token.",
                code.unwrap_or(20003)
            ),
        ),
        Err(TwilioError::Api { status: 404, .. }) => {
            failed(Health::CredentialsRejected, "Twilio does not know this Account SID (error 20404).".into())
        }
        Err(e @ TwilioError::Unreachable(_)) => failed(Health::Unreachable, format!("{e}.")),
        Err(e) => failed(Health::Unreachable, format!("{e}.")),
    }
}

/// A Twilio failure, in words for the person at the screen.
pub fn provider_error(e: TwilioError) -> AppError {
    match e {
        TwilioError::Rejected { .. } => AppError::Provider(
            "Twilio rejected this connector's credentials. Edit the connector and enter them again.".into(),
        ),
        TwilioError::Unreachable(m) => AppError::Provider(format!("Twilio unreachable: {m}.")),
        TwilioError::Api { code, message, .. } => AppError::Provider(match code {
            Some(code) => format!("Twilio refused: {message} (error {code})."),
            None => format!("Twilio refused: {message}."),
        }),
        TwilioError::Decode(m) => AppError::Provider(format!("Twilio answered in an unexpected way: {m}.")),
    }
}

pub(super) async fn summary_of(state: &AppState, me: &Me, id: &str) -> Result<ConnectorSummary> {
    store::summary(&state.db.pool, &me.org_id, id).await?.ok_or_else(|| AppError::NotFound("Connector".into()).into())
}

/// The connector's credentials, opened from their sealed form.
pub async fn credentials(state: &AppState, connector_id: &str) -> Result<Credentials> {
    let (sid, sealed) = store::sealed_credentials(&state.db.pool, connector_id).await?;
    Ok(Credentials {
        account_sid: AccountSid::parse(&sid).map_err(|m| anyhow::anyhow!("stored Account SID: {m}"))?,
        auth_token: state.secrets.open(&sealed, connector_id)?,
    })
}

pub async fn require_active(state: &AppState, me: &Me, connector_id: &str) -> Result<Credentials> {
    let s = summary_of(state, me, connector_id).await?;
    if s.state != ConnectorState::Active {
        return Err(AppError::Conflict("Fix this connector's credentials first.".into()).into());
    }
    credentials(state, connector_id).await
}
