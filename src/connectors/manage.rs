//! Connectors (an organization's Twilio account) and their numbers: live credential checks,
//! the Phone Numbers checklist, and "Set webhook".

use std::{collections::HashSet, time::Duration};

use app::{
    model::{
        BoundChannel, Cleanup, CleanupLine, ConnectorChoice, ConnectorDetail, ConnectorState, ConnectorSummary,
        DisconnectReport, Health, Me, NumberRow, Provider, WebhookOutcome, WebhookState, SANDBOX_NUMBER,
    },
    ports::ConnectorInput,
    AppError,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;

use crate::{
    accounts::require_admin,
    error::{is_unique_violation, Result},
    new_id, now_ms,
    state::AppState,
    twilio::{parse_auth_token, AccountSid, Credentials, TwilioError, WebhookUpdate},
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
struct Check {
    state: ConnectorState,
    health: Health,
    reason: Option<String>,
    account_name: Option<String>,
    trial: bool,
}

async fn check(state: &AppState, creds: &Credentials) -> Check {
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

struct Validated {
    name: String,
    account_sid: AccountSid,
    auth_token: Option<crate::crypto::Secret>,
}

fn validate(input: &ConnectorInput) -> Result<Validated, AppError> {
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::invalid("name", "Give the connector a name of 1 to 80 characters."));
    }
    let account_sid = AccountSid::parse(&input.account_sid).map_err(|m| AppError::invalid("account_sid", m))?;
    let auth_token = input
        .auth_token
        .as_deref()
        .map(|t| parse_auth_token(t).map_err(|m| AppError::invalid("auth_token", m)))
        .transpose()?;
    Ok(Validated { name, account_sid, auth_token })
}

fn name_taken() -> AppError {
    AppError::invalid("name", "A connector with this name already exists in your organization.")
}

const SUMMARY_COLUMNS: &str = "c.id, c.name, c.account_sid, c.state, c.health, c.reason, \
     (SELECT COUNT(*) FROM numbers n WHERE n.connector_id = c.id AND n.active = 1)";

type SummaryRow = (String, String, String, String, String, Option<String>, i64);

fn summary((id, name, account_sid, state, health, reason, active_numbers): SummaryRow) -> ConnectorSummary {
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

fn state_str(s: ConnectorState) -> &'static str {
    match s {
        ConnectorState::Active => "active",
        ConnectorState::Error => "error",
    }
}

fn health_str(h: Health) -> &'static str {
    match h {
        Health::Connected => "connected",
        Health::CredentialsRejected => "rejected",
        Health::Unreachable => "unreachable",
        Health::Checking => "checking",
    }
}

pub async fn list(state: &AppState, me: &Me) -> Result<Vec<ConnectorSummary>> {
    require_admin(me)?;
    let rows: Vec<SummaryRow> =
        sqlx::query_as(&format!("SELECT {SUMMARY_COLUMNS} FROM connectors c WHERE c.org_id = $1 ORDER BY c.name"))
            .bind(&me.org_id)
            .fetch_all(&state.db.pool)
            .await?;
    Ok(rows.into_iter().map(summary).collect())
}

async fn summary_of(state: &AppState, me: &Me, id: &str) -> Result<ConnectorSummary> {
    let row: Option<SummaryRow> =
        sqlx::query_as(&format!("SELECT {SUMMARY_COLUMNS} FROM connectors c WHERE c.id = $1 AND c.org_id = $2"))
            .bind(id)
            .bind(&me.org_id)
            .fetch_optional(&state.db.pool)
            .await?;
    row.map(summary).ok_or_else(|| AppError::NotFound("Connector".into()).into())
}

/// Creates a connector after checking its credentials with Twilio. Credentials Twilio refuses
/// still create it, in Error with the reason, to be edited and saved again.
pub async fn create(state: &AppState, me: &Me, input: ConnectorInput) -> Result<ConnectorSummary> {
    require_admin(me)?;
    let v = validate(&input)?;
    let auth_token = v.auth_token.ok_or_else(|| AppError::invalid("auth_token", "Enter the Auth Token."))?;
    let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM connectors WHERE org_id = $1 AND name = $2")
        .bind(&me.org_id)
        .bind(&v.name)
        .fetch_optional(&state.db.pool)
        .await?;
    if exists.is_some() {
        return Err(name_taken().into());
    }
    let creds = Credentials { account_sid: v.account_sid, auth_token };
    let outcome = check(state, &creds).await;
    let id = new_id();
    let now = now_ms();
    let sealed = state.secrets.seal(creds.auth_token.expose(), &id);
    let inserted = sqlx::query(
        "INSERT INTO connectors (id, org_id, name, account_sid, auth_token_enc, receive_inbound, state, health, reason, \
         account_name, trial, checked_at, webhook_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
    )
    .bind(&id)
    .bind(&me.org_id)
    .bind(&v.name)
    .bind(creds.account_sid.as_str())
    .bind(sealed)
    .bind(i64::from(input.receive_inbound))
    .bind(state_str(outcome.state))
    .bind(health_str(outcome.health))
    .bind(&outcome.reason)
    .bind(&outcome.account_name)
    .bind(i64::from(outcome.trial))
    .bind(now)
    .bind(new_webhook_key())
    .bind(now)
    .execute(&state.db.pool)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e, "connectors_org_name_key", "connectors.org_id") => {
            return Err(name_taken().into())
        }
        other => other?,
    };
    tracing::info!(connector_id = %id, state = state_str(outcome.state), "connector created");
    summary_of(state, me, &id).await
}

/// Saves an edit and checks the credentials again.
pub async fn update(state: &AppState, me: &Me, id: &str, input: ConnectorInput) -> Result<ConnectorSummary> {
    require_admin(me)?;
    summary_of(state, me, id).await?;
    let v = validate(&input)?;
    let auth_token = match v.auth_token {
        Some(t) => t,
        None => credentials(state, id).await?.auth_token,
    };
    let creds = Credentials { account_sid: v.account_sid, auth_token };
    let outcome = check(state, &creds).await;
    let sealed = state.secrets.seal(creds.auth_token.expose(), id);
    let updated = sqlx::query(
        "UPDATE connectors SET name = $1, account_sid = $2, auth_token_enc = $3, receive_inbound = $4, state = $5, health = $6, \
         reason = $7, account_name = $8, trial = $9, checked_at = $10, updated_at = $10 WHERE id = $11 AND org_id = $12",
    )
    .bind(&v.name)
    .bind(creds.account_sid.as_str())
    .bind(sealed)
    .bind(i64::from(input.receive_inbound))
    .bind(state_str(outcome.state))
    .bind(health_str(outcome.health))
    .bind(&outcome.reason)
    .bind(&outcome.account_name)
    .bind(i64::from(outcome.trial))
    .bind(now_ms())
    .bind(id)
    .bind(&me.org_id)
    .execute(&state.db.pool)
    .await;
    match updated {
        Err(e) if is_unique_violation(&e, "connectors_org_name_key", "connectors.org_id") => {
            return Err(name_taken().into())
        }
        other => other?,
    };
    state.hooks.clear();
    summary_of(state, me, id).await
}

/// "Verify": checks the stored credentials with Twilio again (fetching the Account; nothing is
/// sent) and records what Twilio said.
pub async fn verify(state: &AppState, me: &Me, id: &str) -> Result<ConnectorSummary> {
    require_admin(me)?;
    verify_unchecked(state, me, id).await
}

/// "Verify" for whoever may use the connector's numbers (the API's WhatsApp test).
pub async fn verify_unchecked(state: &AppState, me: &Me, id: &str) -> Result<ConnectorSummary> {
    summary_of(state, me, id).await?;
    record_check(state, id).await?;
    summary_of(state, me, id).await
}

async fn record_check(state: &AppState, id: &str) -> Result<()> {
    let creds = credentials(state, id).await?;
    let outcome = check(state, &creds).await;
    sqlx::query(
        "UPDATE connectors SET state = $1, health = $2, reason = $3, account_name = COALESCE($4, account_name), \
         trial = CASE WHEN $5 = 1 OR $1 = 'active' THEN $5 ELSE trial END, checked_at = $6 WHERE id = $7",
    )
    .bind(state_str(outcome.state))
    .bind(health_str(outcome.health))
    .bind(&outcome.reason)
    .bind(&outcome.account_name)
    .bind(i64::from(outcome.trial))
    .bind(now_ms())
    .bind(id)
    .execute(&state.db.pool)
    .await?;
    state.hooks.clear();
    Ok(())
}

/// The periodic health check: each connector not checked for `interval` is checked again, so
/// the badge tells the truth without anyone pressing Verify. Instances share the work: one
/// takes a connector by moving its `checked_at` before asking Twilio.
pub async fn health_checks(state: AppState, interval: Duration) {
    let tick = (interval / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    loop {
        tokio::time::sleep(tick).await;
        let due = now_ms() - interval.as_millis() as i64;
        let ids: Vec<(String,)> =
            match sqlx::query_as("SELECT id FROM connectors WHERE checked_at IS NULL OR checked_at < $1")
                .bind(due)
                .fetch_all(&state.db.pool)
                .await
            {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list connectors for the health check");
                    continue;
                }
            };
        for (id,) in ids {
            let taken = sqlx::query(
                "UPDATE connectors SET checked_at = $1 WHERE id = $2 AND (checked_at IS NULL OR checked_at < $3)",
            )
            .bind(now_ms())
            .bind(&id)
            .bind(due)
            .execute(&state.db.pool)
            .await;
            if !matches!(taken, Ok(ref r) if r.rows_affected() == 1) {
                continue;
            }
            if let Err(e) = record_check(&state, &id).await {
                tracing::warn!(connector_id = %id, error = %e, "health check not recorded");
            }
        }
    }
}

pub use app::model::utc_minutes;

/// The connectors as names to pick from: what agent owners see of them.
pub async fn choices(state: &AppState, me: &Me) -> Result<Vec<ConnectorChoice>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, name FROM connectors WHERE org_id = $1 ORDER BY name")
        .bind(&me.org_id)
        .fetch_all(&state.db.pool)
        .await?;
    Ok(rows.into_iter().map(|(id, name)| ConnectorChoice { id, name }).collect())
}

pub async fn detail(state: &AppState, me: &Me, id: &str) -> Result<ConnectorDetail> {
    require_admin(me)?;
    let summary = summary_of(state, me, id).await?;
    let (receive_inbound, account_name, trial, key, checked_at): (i64, Option<String>, i64, String, Option<i64>) =
        sqlx::query_as(
            "SELECT receive_inbound, account_name, trial, webhook_key, checked_at FROM connectors WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&state.db.pool)
        .await?;
    let bound: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT a.name, n.phone_number, n.provider FROM channels ch JOIN numbers n ON n.id = ch.number_id \
         JOIN agents a ON a.id = ch.agent_id WHERE n.connector_id = $1 ORDER BY a.name, n.phone_number",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await?;
    let (conversations,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM conversations c JOIN numbers n ON n.id = c.number_id WHERE n.connector_id = $1",
    )
    .bind(id)
    .fetch_one(&state.db.pool)
    .await?;
    Ok(ConnectorDetail {
        bound_channels: bound
            .into_iter()
            .map(|(agent, phone_number, provider)| BoundChannel {
                agent,
                phone_number,
                provider: provider_of(&provider),
            })
            .collect(),
        conversations,
        summary,
        receive_inbound: receive_inbound != 0,
        account_name,
        trial: trial != 0,
        inbound_webhook_url: state.inbound_webhook_url(&key),
        auth_token_set: true,
        last_checked: checked_at.map(utc_minutes),
        public_url_warning: state.public_url_warning.as_deref().map(str::to_string),
    })
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

/// "Regenerate webhook URL": a new key, so the old URL stops working at once (404), and every
/// number is marked "Webhook not set up in provider" until its webhook is set again.
pub async fn regenerate_webhook_url(state: &AppState, me: &Me, id: &str) -> Result<ConnectorDetail> {
    require_admin(me)?;
    summary_of(state, me, id).await?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE connectors SET webhook_key = $1, updated_at = $2 WHERE id = $3")
        .bind(new_webhook_key())
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE numbers SET webhook_state = 'not_configured', \
         webhook_detail = 'The webhook URL was regenerated: set the webhook again.' WHERE connector_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    state.hooks.clear();
    detail(state, me, id).await
}

/// "Send test message": one message from an active number to the number the admin typed, sent
/// at once (not through the outbox: the admin waits for Twilio's answer). Returns the Message SID.
pub async fn send_test_message(
    state: &AppState,
    me: &Me,
    connector_id: &str,
    number_id: &str,
    to: &str,
) -> Result<String> {
    require_admin(me)?;
    send_test_from(state, me, connector_id, number_id, to).await
}

/// The test message itself, for whoever may use the number: an admin, or (through the API) the
/// owner of the agent answering on it.
pub async fn send_test_from(
    state: &AppState,
    me: &Me,
    connector_id: &str,
    number_id: &str,
    to: &str,
) -> Result<String> {
    let to = to.trim().trim_start_matches("whatsapp:");
    let well_formed = crate::is_e164(to);
    if !well_formed {
        return Err(AppError::invalid("to", "Type the number in international format, e.g. +14155550123.").into());
    }
    let creds = require_active(state, me, connector_id).await?;
    let number: Option<(String, i64)> =
        sqlx::query_as("SELECT address, active FROM numbers WHERE id = $1 AND connector_id = $2")
            .bind(number_id)
            .bind(connector_id)
            .fetch_optional(&state.db.pool)
            .await?;
    let Some((from, 1)) = number else {
        return Err(AppError::invalid("number_id", "Choose one of this connector's active numbers.").into());
    };
    let to = if from.starts_with("whatsapp:") { format!("whatsapp:{to}") } else { to.to_string() };
    let message = crate::twilio::NewMessage {
        to,
        from,
        body: Some("This is a test message from Switchboard.".into()),
        content_sid: None,
        content_variables: None,
        status_callback: None,
        media_url: None,
    };
    match state.twilio.create_message(&creds, &message).await {
        Ok(sent) => Ok(sent.sid),
        Err(TwilioError::Api { code: Some(code), message, .. }) => {
            let meaning = crate::twilio::errors::describe(code).map(|m| format!(": {m}")).unwrap_or_default();
            Err(AppError::Provider(format!("Twilio refused the message with error {code}{meaning} ({message})."))
                .into())
        }
        Err(e) => Err(provider_error(e).into()),
    }
}

async fn require_active(state: &AppState, me: &Me, connector_id: &str) -> Result<Credentials> {
    let s = summary_of(state, me, connector_id).await?;
    if s.state != ConnectorState::Active {
        return Err(AppError::Conflict("Fix this connector's credentials first.".into()).into());
    }
    credentials(state, connector_id).await
}

/// Reads the account's WhatsApp senders and SMS-capable numbers from Twilio, records any new
/// ones (inactive), and returns the checklist.
pub async fn list_numbers(state: &AppState, me: &Me, connector_id: &str) -> Result<Vec<NumberRow>> {
    require_admin(me)?;
    let creds = require_active(state, me, connector_id).await?;
    let (senders, numbers) =
        tokio::join!(state.twilio.list_whatsapp_senders(&creds), state.twilio.list_incoming_numbers(&creds));
    let (senders, numbers) = (senders.map_err(provider_error)?, numbers.map_err(provider_error)?);
    let now = now_ms();
    let mut found = Vec::new();
    for s in senders {
        let phone = s.sender_id.strip_prefix("whatsapp:").unwrap_or(&s.sender_id).to_string();
        found.push((s.sender_id.clone(), phone, "whatsapp", s.sid, s.profile.and_then(|p| p.name), s.status));
    }
    for n in numbers.into_iter().filter(|n| n.capabilities.sms) {
        found.push((n.phone_number.clone(), n.phone_number, "sms", n.sid, n.friendly_name, None));
    }
    let mut tx = state.db.begin_write().await?;
    for (address, phone, provider, sid, display_name, status) in found {
        sqlx::query(
            "INSERT INTO numbers (id, connector_id, address, phone_number, provider, provider_sid, display_name, sender_status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (connector_id, address) DO UPDATE SET provider_sid = excluded.provider_sid, \
             display_name = excluded.display_name, sender_status = excluded.sender_status",
        )
        .bind(new_id())
        .bind(connector_id)
        .bind(address)
        .bind(phone)
        .bind(provider)
        .bind(sid)
        .bind(display_name)
        .bind(status)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    stored_numbers(state, connector_id).await
}

/// The provider SID a sandbox row carries: the sandbox is no sender of the account's own.
const SANDBOX_SID: &str = "sandbox";

/// Adds the WhatsApp sandbox (`whatsapp:+14155238886`) by hand, with its join keyword (in the
/// Twilio Console under Messaging → Try it out). Adding it again updates the keyword.
pub async fn add_sandbox(state: &AppState, me: &Me, connector_id: &str, join: &str) -> Result<Vec<NumberRow>> {
    require_admin(me)?;
    require_active(state, me, connector_id).await?;
    let keyword = join.trim();
    let keyword = keyword.strip_prefix("join ").unwrap_or(keyword).trim().to_ascii_lowercase();
    let well_formed = (3..=60).contains(&keyword.len())
        && keyword.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !keyword.starts_with('-');
    if !well_formed {
        return Err(AppError::invalid(
            "join",
            "Enter the sandbox's join keyword as the Twilio Console shows it, e.g. join silver-tiger.",
        )
        .into());
    }
    sqlx::query(
        "INSERT INTO numbers (id, connector_id, address, phone_number, provider, provider_sid, display_name, \
         sender_status, sandbox_join, created_at) VALUES ($1, $2, $3, $4, 'whatsapp', $5, 'WhatsApp sandbox', \
         'SANDBOX', $6, $7) ON CONFLICT (connector_id, address) DO UPDATE SET sandbox_join = excluded.sandbox_join",
    )
    .bind(new_id())
    .bind(connector_id)
    .bind(format!("whatsapp:{SANDBOX_NUMBER}"))
    .bind(SANDBOX_NUMBER)
    .bind(SANDBOX_SID)
    .bind(format!("join {keyword}"))
    .bind(now_ms())
    .execute(&state.db.pool)
    .await?;
    stored_numbers(state, connector_id).await
}

type NumberDbRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

async fn stored_numbers(state: &AppState, connector_id: &str) -> Result<Vec<NumberRow>> {
    let rows: Vec<NumberDbRow> = sqlx::query_as(
        "SELECT n.id, n.phone_number, n.provider, n.display_name, n.sender_status, n.active, n.webhook_state, \
         n.webhook_detail, a.name, n.sandbox_join \
         FROM numbers n LEFT JOIN channels ch ON ch.number_id = n.id LEFT JOIN agents a ON a.id = ch.agent_id \
         WHERE n.connector_id = $1 ORDER BY n.phone_number, n.provider DESC",
    )
    .bind(connector_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                phone_number,
                provider,
                display_name,
                sender_status,
                active,
                webhook,
                webhook_detail,
                bound_agent,
                sandbox_join,
            )| NumberRow {
                id,
                phone_number,
                provider: provider_of(&provider),
                display_name,
                sender_status,
                active: active != 0,
                webhook: if sandbox_join.is_some() { WebhookState::Manual } else { webhook_state(&webhook) },
                webhook_detail,
                bound_agent,
                sandbox_join,
            },
        )
        .collect())
}

fn provider_of(s: &str) -> Provider {
    if s == "sms" {
        Provider::Sms
    } else {
        Provider::WhatsApp
    }
}

fn webhook_state(s: &str) -> WebhookState {
    match s {
        "configured" => WebhookState::Configured,
        "not_configured" => WebhookState::NotConfigured,
        _ => WebhookState::Unknown,
    }
}

/// Activates exactly the checked numbers, in one transaction. A number that answers for an
/// agent is only deactivated when `unbind` confirms it, and then its channel goes in the same
/// transaction.
pub async fn save_numbers(
    state: &AppState,
    me: &Me,
    connector_id: &str,
    active: Vec<String>,
    unbind: bool,
) -> Result<Vec<NumberRow>> {
    require_admin(me)?;
    summary_of(state, me, connector_id).await?;
    let active: HashSet<String> = active.into_iter().collect();
    let mut tx = state.db.begin_write().await?;
    let rows: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT n.id, n.phone_number, n.active, a.name FROM numbers n \
         LEFT JOIN channels ch ON ch.number_id = n.id LEFT JOIN agents a ON a.id = ch.agent_id WHERE n.connector_id = $1",
    )
    .bind(connector_id)
    .fetch_all(&mut *tx)
    .await?;
    let known: HashSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    if let Some(unknown) = active.iter().find(|id| !known.contains(id.as_str())) {
        return Err(AppError::invalid("active", format!("Number {unknown} does not belong to this connector.")).into());
    }
    let bound: Vec<String> = rows
        .iter()
        .filter(|(id, _, was_active, agent)| *was_active != 0 && !active.contains(id) && agent.is_some())
        .map(|(_, phone, _, agent)| format!("{phone} (agent {})", agent.as_deref().unwrap_or_default()))
        .collect();
    if !bound.is_empty() && !unbind {
        return Err(AppError::Conflict(format!(
            "Deactivating {} removes its channel: the agent stops answering on it. Confirm to go on.",
            bound.join(", ")
        ))
        .into());
    }
    for (id, _, was_active, agent) in &rows {
        let now_active = active.contains(id);
        if (*was_active != 0) == now_active {
            continue;
        }
        if !now_active && agent.is_some() {
            sqlx::query("DELETE FROM channels WHERE number_id = $1").bind(id).execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE numbers SET active = $1 WHERE id = $2")
            .bind(i64::from(now_active))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    if !bound.is_empty() {
        tracing::info!(connector_id, unbound = bound.len(), "numbers deactivated and unbound");
    }
    state.hooks.clear();
    stored_numbers(state, connector_id).await
}

/// A number as "Set webhook" needs it.
struct Target {
    id: String,
    phone_number: String,
    provider: Provider,
    sid: String,
    active: bool,
    sandbox: bool,
}

async fn targets(state: &AppState, connector_id: &str, only: Option<&str>) -> Result<Vec<Target>> {
    let rows: Vec<(String, String, String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT id, phone_number, provider, provider_sid, active, sandbox_join FROM numbers \
         WHERE connector_id = $1 AND ($2 = '' OR id = $2) ORDER BY phone_number, provider DESC",
    )
    .bind(connector_id)
    .bind(only.unwrap_or(""))
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, phone_number, provider, sid, active, join)| Target {
            id,
            phone_number,
            provider: provider_of(&provider),
            sid,
            active: active != 0,
            sandbox: join.is_some(),
        })
        .collect())
}

async fn webhook_key(state: &AppState, connector_id: &str) -> Result<String> {
    let (key,): (String,) = sqlx::query_as("SELECT webhook_key FROM connectors WHERE id = $1")
        .bind(connector_id)
        .fetch_one(&state.db.pool)
        .await?;
    Ok(key)
}

const SANDBOX_BY_HAND: &str =
    "The sandbox's webhook is set by hand: in the Twilio Console, open Messaging → Try it out → \
     WhatsApp sandbox settings and paste the inbound webhook URL as \"When a message comes in\".";

/// Writes the connector's inbound webhook URL into the number in Twilio, then reads it back
/// until Twilio shows it (sender updates are applied asynchronously).
pub async fn set_webhook(state: &AppState, me: &Me, connector_id: &str, number_id: &str) -> Result<WebhookOutcome> {
    require_admin(me)?;
    let creds = require_active(state, me, connector_id).await?;
    let Some(target) = targets(state, connector_id, Some(number_id)).await?.pop() else {
        return Err(AppError::NotFound("Number".into()).into());
    };
    if !target.active {
        return Err(AppError::Conflict(
            "Activate the number and save first: only active numbers get a webhook.".into(),
        )
        .into());
    }
    if target.sandbox {
        return Err(AppError::Conflict(SANDBOX_BY_HAND.into()).into());
    }
    let key = webhook_key(state, connector_id).await?;
    let services = overriding_services(state, &creds).await;
    let verdict = configure(state, &creds, &key, &target, &services).await.map_err(provider_error)?;
    record_webhook(state, connector_id, target, verdict).await
}

/// "Set webhook on all active numbers": every active number at once (a few at a time towards
/// Twilio), each with its own result; one number's failure does not stop the others.
pub async fn set_all_webhooks(state: &AppState, me: &Me, connector_id: &str) -> Result<Vec<WebhookOutcome>> {
    require_admin(me)?;
    let creds = require_active(state, me, connector_id).await?;
    let targets: Vec<Target> =
        targets(state, connector_id, None).await?.into_iter().filter(|t| t.active && !t.sandbox).collect();
    if targets.is_empty() {
        return Err(AppError::Conflict("No active numbers: activate numbers and save first.".into()).into());
    }
    let key = webhook_key(state, connector_id).await?;
    let services = std::sync::Arc::new(overriding_services(state, &creds).await);
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    for (position, target) in targets.into_iter().enumerate() {
        let (state, creds, key, services, limit) =
            (state.clone(), creds.clone(), key.clone(), services.clone(), limit.clone());
        let connector_id = connector_id.to_string();
        tasks.spawn(async move {
            let _permit = limit.acquire().await;
            let verdict = match configure(&state, &creds, &key, &target, &services).await {
                Ok(v) => v,
                Err(e) => Verdict::no(provider_error(e).to_string()),
            };
            (position, record_webhook(&state, &connector_id, target, verdict).await)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (position, outcome) = done.map_err(anyhow::Error::from)?;
        outcomes.push((position, outcome?));
    }
    outcomes.sort_by_key(|(position, _)| *position);
    Ok(outcomes.into_iter().map(|(_, o)| o).collect())
}

/// What the read-back found.
struct Verdict {
    configured: bool,
    detail: Option<String>,
}

impl Verdict {
    fn yes() -> Self {
        Self { configured: true, detail: None }
    }
    fn no(detail: impl Into<String>) -> Self {
        Self { configured: false, detail: Some(detail.into()) }
    }
}

async fn record_webhook(
    state: &AppState,
    connector_id: &str,
    target: Target,
    verdict: Verdict,
) -> Result<WebhookOutcome> {
    sqlx::query("UPDATE numbers SET webhook_state = $1, webhook_detail = $2 WHERE id = $3")
        .bind(if verdict.configured { "configured" } else { "not_configured" })
        .bind(&verdict.detail)
        .bind(&target.id)
        .execute(&state.db.pool)
        .await?;
    tracing::info!(connector_id, number_id = %target.id, configured = verdict.configured, "set webhook");
    Ok(WebhookOutcome {
        number_id: target.id,
        phone_number: target.phone_number,
        provider: target.provider,
        state: if verdict.configured { WebhookState::Configured } else { WebhookState::NotConfigured },
        detail: verdict.detail,
    })
}

/// Messaging Services whose inbound settings win over their numbers' own webhooks. A failure
/// to list them is not the number's fault: it is logged and the check skipped.
async fn overriding_services(state: &AppState, creds: &Credentials) -> Vec<crate::twilio::MessagingService> {
    match state.twilio.list_messaging_services(creds).await {
        Ok(services) => services.into_iter().filter(|s| s.use_inbound_webhook_on_number != Some(true)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list Messaging Services; not checking for an override");
            Vec::new()
        }
    }
}

async fn configure(
    state: &AppState,
    creds: &Credentials,
    key: &str,
    target: &Target,
    services: &[crate::twilio::MessagingService],
) -> std::result::Result<Verdict, TwilioError> {
    let url = state.inbound_webhook_url(key);
    let verdict = match target.provider {
        Provider::WhatsApp => {
            let update = WebhookUpdate {
                callback_url: Some(Some(url.clone())),
                callback_method: Some("POST"),
                status_callback_url: Some(Some(state.status_callback_url(key))),
                status_callback_method: Some("POST"),
            };
            state.twilio.update_sender_webhook(creds, &target.sid, &update).await?;
            confirm_sender(state, creds, &target.sid, &url).await?
        }
        Provider::Sms => {
            state.twilio.update_incoming_number_sms_url(creds, &target.sid, &url).await?;
            let n = state.twilio.fetch_incoming_number(creds, &target.sid).await?;
            sms_verdict(&n, &url)
        }
    };
    if !verdict.configured {
        return Ok(verdict);
    }
    for service in services {
        if state.twilio.service_holds(creds, &service.sid, &target.sid).await? {
            let name = service.friendly_name.clone().unwrap_or_else(|| service.sid.clone());
            let goes_to = match service.inbound_request_url.as_deref().filter(|u| !u.is_empty()) {
                Some(u) => format!("Twilio posts its messages to the service's URL {u}"),
                None => "the service has no inbound URL, so Twilio drops its messages".to_string(),
            };
            return Ok(Verdict::no(format!(
                "Overridden by Messaging Service {name}: {goes_to}. In the service's Integration settings, \
                 choose to use the number's own webhook, or remove the number from the service."
            )));
        }
    }
    Ok(verdict)
}

async fn confirm_sender(
    state: &AppState,
    creds: &Credentials,
    sid: &str,
    url: &str,
) -> std::result::Result<Verdict, TwilioError> {
    let deadline = tokio::time::Instant::now() + state.tuning.webhook_confirm_timeout;
    loop {
        let sender = state.twilio.fetch_sender(creds, sid).await?;
        let webhook = sender.webhook.unwrap_or_default();
        let status = sender.status.unwrap_or_default();
        if webhook.callback_url.as_deref() == Some(url) && status == "ONLINE" {
            return Ok(match webhook.callback_method.as_deref() {
                Some(m) if m != "POST" => {
                    Verdict::no(format!("Wrong method: Twilio calls the URL with {m}, not POST."))
                }
                _ => Verdict::yes(),
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Verdict::no(match webhook.callback_url.filter(|u| !u.is_empty()) {
                Some(other) if other != url => format!("URL mismatch: Twilio has {other}."),
                Some(_) => format!("Twilio has not finished applying the change (sender status {status})."),
                None => "Not set: Twilio shows no inbound webhook on this sender.".to_string(),
            }));
        }
        tokio::time::sleep(state.tuning.webhook_confirm_interval).await;
    }
}

fn sms_verdict(n: &crate::twilio::IncomingNumber, url: &str) -> Verdict {
    if let Some(app) = n.sms_application_sid.as_deref().filter(|s| !s.is_empty()) {
        return Verdict::no(format!(
            "Overridden by application {app}: it takes this number's messages instead of the URL. Remove the application from the number in the Twilio Console."
        ));
    }
    match n.sms_url.as_deref().filter(|u| !u.is_empty()) {
        Some(u) if u == url && n.sms_method.as_deref().unwrap_or("POST") == "POST" => Verdict::yes(),
        Some(u) if u == url => Verdict::no("Wrong method: Twilio calls the URL with GET, not POST."),
        Some(u) => Verdict::no(format!("URL mismatch: Twilio has {u}.")),
        None => Verdict::no("Not set: Twilio shows no inbound webhook on this number."),
    }
}

/// Deletes a connector. First each number's webhook is cleared in Twilio, but only where it
/// still points at this connector: a sender someone re-pointed elsewhere is left alone. Then
/// its numbers, channels, conversations and their files go, in one transaction.
pub async fn delete(state: &AppState, me: &Me, id: &str) -> Result<DisconnectReport> {
    require_admin(me)?;
    let summary = summary_of(state, me, id).await?;
    let key = webhook_key(state, id).await?;
    let (inbound, status) = (state.inbound_webhook_url(&key), state.status_callback_url(&key));
    let creds = credentials(state, id).await?;
    let touched: Vec<Target> = {
        let configured: HashSet<String> = sqlx::query_as::<_, (String,)>(
            "SELECT id FROM numbers WHERE connector_id = $1 AND webhook_state = 'configured'",
        )
        .bind(id)
        .fetch_all(&state.db.pool)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
        targets(state, id, None)
            .await?
            .into_iter()
            .filter(|t| !t.sandbox && (t.active || configured.contains(&t.id)))
            .collect()
    };
    let mut lines = Vec::new();
    for target in touched {
        let outcome = match clear_if_ours(state, &creds, &target, &inbound, &status).await {
            Ok(outcome) => outcome,
            Err(e) => Cleanup::Failed(e.to_string()),
        };
        lines.push(CleanupLine { phone_number: target.phone_number, provider: target.provider, outcome });
    }
    let files: Vec<(String,)> =
        sqlx::query_as("SELECT md.id FROM media md JOIN messages m ON m.id = md.message_id WHERE m.connector_id = $1")
            .bind(id)
            .fetch_all(&state.db.pool)
            .await?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "UPDATE agents SET template_connector_id = NULL, template_sid = NULL, template_name = NULL, \
         template_variables = NULL WHERE template_connector_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM connectors WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(&me.org_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    state.hooks.clear();
    state.media.discard(&files.into_iter().map(|(file,)| file).collect::<Vec<_>>()).await;
    tracing::info!(connector_id = id, numbers = lines.len(), "connector deleted");
    Ok(DisconnectReport { connector: summary.name, numbers: lines })
}

async fn clear_if_ours(
    state: &AppState,
    creds: &Credentials,
    target: &Target,
    inbound: &str,
    status: &str,
) -> std::result::Result<Cleanup, TwilioError> {
    let elsewhere = |url: Option<String>| match url.filter(|u| !u.is_empty()) {
        Some(u) => Cleanup::LeftElsewhere(u),
        None => Cleanup::NoneSet,
    };
    match target.provider {
        Provider::WhatsApp => {
            let webhook = state.twilio.fetch_sender(creds, &target.sid).await?.webhook.unwrap_or_default();
            if webhook.callback_url.as_deref() != Some(inbound) {
                return Ok(elsewhere(webhook.callback_url));
            }
            let update = WebhookUpdate {
                callback_url: Some(None),
                status_callback_url: (webhook.status_callback_url.as_deref() == Some(status)).then_some(None),
                ..WebhookUpdate::default()
            };
            state.twilio.update_sender_webhook(creds, &target.sid, &update).await?;
            Ok(Cleanup::Cleared)
        }
        Provider::Sms => {
            let number = state.twilio.fetch_incoming_number(creds, &target.sid).await?;
            if number.sms_url.as_deref() != Some(inbound) {
                return Ok(elsewhere(number.sms_url));
            }
            state.twilio.clear_incoming_number_sms_url(creds, &target.sid).await?;
            Ok(Cleanup::Cleared)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{sms_verdict, utc_minutes};
    use crate::twilio::{Capabilities, IncomingNumber};

    fn number(url: Option<&str>, method: Option<&str>, app: Option<&str>) -> IncomingNumber {
        IncomingNumber {
            sid: "PN0".into(),
            phone_number: "+14155550199".into(),
            friendly_name: None,
            capabilities: Capabilities { sms: true },
            sms_url: url.map(str::to_string),
            sms_method: method.map(str::to_string),
            sms_application_sid: app.map(str::to_string),
        }
    }

    #[test]
    fn the_sms_read_back_names_what_is_wrong() {
        let ours = "https://sb.example/twilio/inbound/k";
        let detail = |n| sms_verdict(&n, ours).detail.unwrap_or_default();
        assert!(sms_verdict(&number(Some(ours), Some("POST"), Some("")), ours).configured);
        assert!(detail(number(Some(ours), Some("GET"), None)).starts_with("Wrong method"));
        assert_eq!(
            detail(number(Some("https://x.example"), None, None)),
            "URL mismatch: Twilio has https://x.example."
        );
        assert!(detail(number(Some(""), None, None)).starts_with("Not set"));
        assert!(detail(number(Some(ours), None, Some("AP123"))).starts_with("Overridden by application AP123"));
    }

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(utc_minutes(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minutes(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_minutes(1_795_219_200_000 + 18 * 3_600_000 + 40 * 60_000), "2026-11-21 18:40 UTC");
    }
}
