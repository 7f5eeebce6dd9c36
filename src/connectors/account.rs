//! A connector as the other parts use it: its webhook key, its credentials opened, a live check
//! of them against Twilio, its summary row, and Twilio's failures in the user's words.

use app::{
    accounts::Me,
    connectors::{ConnectorState, ConnectorSummary, Health, Provider, WebhookState},
    AppError,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;

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

/// What a live credential check found.
pub(super) struct Check {
    pub(super) state: ConnectorState,
    pub(super) health: Health,
    pub(super) reason: Option<String>,
    pub(super) account_name: Option<String>,
    pub(super) trial: bool,
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

pub(super) const SUMMARY_COLUMNS: &str = "c.id, c.name, c.account_sid, c.state, c.health, c.reason, \
     (SELECT COUNT(*) FROM numbers n WHERE n.connector_id = c.id AND n.active = 1)";

pub(super) type SummaryRow = (String, String, String, String, String, Option<String>, i64);

pub(super) fn summary((id, name, account_sid, state, health, reason, active_numbers): SummaryRow) -> ConnectorSummary {
    ConnectorSummary {
        id,
        name,
        account_sid,
        state: if state == "active" { ConnectorState::Active } else { ConnectorState::Error },
        health: match health.as_str() {
            "connected" => Health::Connected,
            "rejected" => Health::CredentialsRejected,
            "unreachable" => Health::Unreachable,
            _ => Health::Checking,
        },
        reason,
        active_numbers,
    }
}

pub(super) fn state_str(s: ConnectorState) -> &'static str {
    match s {
        ConnectorState::Active => "active",
        ConnectorState::Error => "error",
    }
}

pub(super) fn health_str(h: Health) -> &'static str {
    match h {
        Health::Connected => "connected",
        Health::CredentialsRejected => "rejected",
        Health::Unreachable => "unreachable",
        Health::Checking => "checking",
    }
}

pub(super) async fn summary_of(state: &AppState, me: &Me, id: &str) -> Result<ConnectorSummary> {
    let row: Option<SummaryRow> =
        sqlx::query_as(&format!("SELECT {SUMMARY_COLUMNS} FROM connectors c WHERE c.id = $1 AND c.org_id = $2"))
            .bind(id)
            .bind(&me.org_id)
            .fetch_optional(&state.db.pool)
            .await?;
    row.map(summary).ok_or_else(|| AppError::NotFound("Connector".into()).into())
}

/// The connector's credentials, opened from their sealed form.
pub async fn credentials(state: &AppState, connector_id: &str) -> Result<Credentials> {
    let (sid, sealed): (String, Vec<u8>) =
        sqlx::query_as("SELECT account_sid, auth_token_enc FROM connectors WHERE id = $1")
            .bind(connector_id)
            .fetch_one(&state.db.pool)
            .await?;
    Ok(Credentials {
        account_sid: AccountSid::parse(&sid).map_err(|m| anyhow::anyhow!("stored Account SID: {m}"))?,
        auth_token: state.secrets.open(&sealed, connector_id)?,
    })
}

pub(super) async fn require_active(state: &AppState, me: &Me, connector_id: &str) -> Result<Credentials> {
    let s = summary_of(state, me, connector_id).await?;
    if s.state != ConnectorState::Active {
        return Err(AppError::Conflict("Fix this connector's credentials first.".into()).into());
    }
    credentials(state, connector_id).await
}

pub(super) fn provider_of(s: &str) -> Provider {
    if s == "sms" {
        Provider::Sms
    } else {
        Provider::WhatsApp
    }
}

pub(super) fn webhook_state(s: &str) -> WebhookState {
    match s {
        "configured" => WebhookState::Configured,
        "not_configured" => WebhookState::NotConfigured,
        _ => WebhookState::Unknown,
    }
}

pub(super) async fn webhook_key(state: &AppState, connector_id: &str) -> Result<String> {
    let (key,): (String,) = sqlx::query_as("SELECT webhook_key FROM connectors WHERE id = $1")
        .bind(connector_id)
        .fetch_one(&state.db.pool)
        .await?;
    Ok(key)
}
