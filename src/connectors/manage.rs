//! Connectors managed: listed, created, edited, checked (now and every few minutes), their test
//! message, their webhook URL regenerated, and deleted (with what Twilio still points at us).

use std::{collections::HashSet, time::Duration};

use app::{
    accounts::Me,
    connectors::{
        port::ConnectorInput, BoundChannel, Cleanup, CleanupLine, ConnectorChoice, ConnectorDetail, ConnectorSummary,
        DisconnectReport,
    },
    AppError,
};

use super::{
    account::{
        check, credentials, health_str, new_webhook_key, provider_error, provider_of, require_active, state_str,
        summary, summary_of, webhook_key, SummaryRow, SUMMARY_COLUMNS,
    },
    webhooks::{clear_if_ours, targets, Target},
};
use crate::{
    accounts::require_admin,
    error::{is_unique_violation, Result},
    new_id, now_ms,
    state::AppState,
    twilio::{parse_auth_token, AccountSid, Credentials, TwilioError},
};

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

pub async fn list(state: &AppState, me: &Me) -> Result<Vec<ConnectorSummary>> {
    require_admin(me)?;
    let rows: Vec<SummaryRow> =
        sqlx::query_as(&format!("SELECT {SUMMARY_COLUMNS} FROM connectors c WHERE c.org_id = $1 ORDER BY c.name"))
            .bind(&me.org_id)
            .fetch_all(&state.db.pool)
            .await?;
    Ok(rows.into_iter().map(summary).collect())
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
        last_checked: checked_at.map(app::time::utc_minutes),
        public_url_warning: state.public_url_warning.as_deref().map(str::to_string),
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
    // Only where the old URL was set: a number that never had a webhook has nothing to set again.
    sqlx::query(
        "UPDATE numbers SET webhook_state = 'not_configured', \
         webhook_detail = 'The webhook URL was regenerated: set the webhook again.' \
         WHERE connector_id = $1 AND webhook_state = 'configured'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE numbers SET webhook_detail = 'The webhook URL was regenerated: paste the new one in the Twilio Console.' \
         WHERE connector_id = $1 AND webhook_state = 'manual'",
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
