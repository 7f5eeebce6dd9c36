//! Connectors managed: listed, created, edited, checked (now and every few minutes), their test
//! message, their webhook URL regenerated, and deleted (with what Twilio still points at us).

use std::time::Duration;

use app::{
    accounts::Me,
    connectors::{
        port::ConnectorInput, BoundChannel, Cleanup, CleanupLine, ConnectorChoice, ConnectorDetail, ConnectorSummary,
        DisconnectReport,
    },
    AppError,
};

use super::{
    account::{check, credentials, new_webhook_key, provider_error, require_active, summary_of},
    store::{self, state_str, Fields},
    webhooks::{clear_if_ours, targets, Target},
};
use crate::{
    accounts::require_admin,
    audit::{self, Action},
    error::Result,
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

/// What a create or an edit saves, the Auth Token sealed to the connector's id.
fn fields<'a>(
    state: &AppState,
    id: &str,
    name: &'a str,
    creds: &'a Credentials,
    receive_inbound: bool,
    check: &'a store::Check,
) -> Fields<'a> {
    Fields {
        name,
        account_sid: creds.account_sid.as_str(),
        sealed_token: state.secrets.seal(creds.auth_token.expose(), id),
        receive_inbound,
        check,
    }
}

fn name_taken() -> AppError {
    AppError::invalid("name", "A connector with this name already exists in your organization.")
}

pub async fn list(state: &AppState, me: &Me) -> Result<Vec<ConnectorSummary>> {
    require_admin(me)?;
    Ok(store::summaries(&state.db.pool, &me.org_id).await?)
}

/// Creates a connector after checking its credentials with Twilio. Credentials Twilio refuses
/// still create it, in Error with the reason, to be edited and saved again.
pub async fn create(state: &AppState, me: &Me, input: ConnectorInput) -> Result<ConnectorSummary> {
    require_admin(me)?;
    let v = validate(&input)?;
    let auth_token = v.auth_token.ok_or_else(|| AppError::invalid("auth_token", "Enter the Auth Token."))?;
    if store::name_taken(&state.db.pool, &me.org_id, &v.name).await? {
        return Err(name_taken().into());
    }
    let creds = Credentials { account_sid: v.account_sid, auth_token };
    let outcome = check(state, &creds).await;
    let id = new_id();
    let fields = fields(state, &id, &v.name, &creds, input.receive_inbound, &outcome);
    match store::insert(&state.db.pool, &id, &me.org_id, fields, &new_webhook_key(), now_ms()).await {
        Err(e) if store::is_name_taken(&e) => return Err(name_taken().into()),
        other => other?,
    };
    tracing::info!(connector_id = %id, state = state_str(outcome.state), "connector created");
    let detail = format!("Account {}.", masked_sid(creds.account_sid.as_str()));
    audit::record_now(state, me, Action::ConnectorAdded, &v.name, &detail).await?;
    summary_of(state, me, &id).await
}

/// Saves an edit and checks the credentials again.
pub async fn update(state: &AppState, me: &Me, id: &str, input: ConnectorInput) -> Result<ConnectorSummary> {
    require_admin(me)?;
    summary_of(state, me, id).await?;
    let v = validate(&input)?;
    let old = credentials(state, id).await?;
    let token_typed = v.auth_token.is_some();
    let auth_token = v.auth_token.unwrap_or_else(|| old.auth_token.clone());
    let creds = Credentials { account_sid: v.account_sid, auth_token };
    let outcome = check(state, &creds).await;
    let fields = fields(state, id, &v.name, &creds, input.receive_inbound, &outcome);
    match store::update(&state.db.pool, id, &me.org_id, fields, now_ms()).await {
        Err(e) if store::is_name_taken(&e) => return Err(name_taken().into()),
        other => other?,
    };
    state.hooks.clear();
    let account_changed = old.account_sid != creds.account_sid;
    if token_typed || account_changed {
        let detail = match (account_changed, token_typed) {
            (true, true) => format!("Account {}, with a new Auth Token.", masked_sid(creds.account_sid.as_str())),
            (true, false) => format!("Account {}.", masked_sid(creds.account_sid.as_str())),
            _ => "A new Auth Token.".to_string(),
        };
        audit::record_now(state, me, Action::ConnectorCredentials, &v.name, &detail).await?;
    }
    summary_of(state, me, id).await
}

/// An Account SID as the audit log shows it: its start and its last four characters.
fn masked_sid(sid: &str) -> String {
    let tail: String = sid.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{}…{tail}", sid.chars().take(2).collect::<String>())
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
    store::record_check(&state.db.pool, id, &outcome, now_ms()).await?;
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
        let ids = match store::due_for_check(&state.db.pool, due).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list connectors for the health check");
                continue;
            }
        };
        for id in ids {
            if !matches!(store::take_check(&state.db.pool, &id, due, now_ms()).await, Ok(true)) {
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
    Ok(store::choices(&state.db.pool, &me.org_id).await?)
}

pub async fn detail(state: &AppState, me: &Me, id: &str) -> Result<ConnectorDetail> {
    require_admin(me)?;
    let summary = summary_of(state, me, id).await?;
    let settings = store::settings(&state.db.pool, id).await?;
    let bound = store::bound_channels(&state.db.pool, id).await?;
    let conversations = store::conversation_count(&state.db.pool, id).await?;
    Ok(ConnectorDetail {
        bound_channels: bound
            .into_iter()
            .map(|(agent, phone_number, provider)| BoundChannel { agent, phone_number, provider })
            .collect(),
        conversations,
        summary,
        receive_inbound: settings.receive_inbound != 0,
        account_name: settings.account_name,
        trial: settings.trial != 0,
        inbound_webhook_url: state.inbound_webhook_url(&settings.webhook_key),
        auth_token_set: true,
        last_checked: settings.checked_at.map(app::time::utc_minutes),
        public_url_warning: state.public_url_warning.as_deref().map(str::to_string),
    })
}

/// "Regenerate webhook URL": a new key, so the old URL stops working at once (404), and every
/// number is marked "Webhook not set up in provider" until its webhook is set again.
pub async fn regenerate_webhook_url(state: &AppState, me: &Me, id: &str) -> Result<ConnectorDetail> {
    require_admin(me)?;
    summary_of(state, me, id).await?;
    let name = summary_of(state, me, id).await?.name;
    let mut tx = state.db.begin_write().await?;
    store::replace_webhook_key(&mut tx, id, &new_webhook_key(), now_ms()).await?;
    let what = "The old webhook URL no longer answers; set the webhook again on every number.";
    audit::record(&mut tx, &me.org_id, &audit::actor(me), Action::WebhookRegenerated, &name, what).await?;
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
    let number = store::targets(&state.db.pool, connector_id, Some(number_id)).await?.pop();
    let Some(from) = number.filter(|n| n.active != 0).map(|n| n.address) else {
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
    let key = store::webhook_key(&state.db.pool, id).await?;
    let (inbound, status) = (state.inbound_webhook_url(&key), state.status_callback_url(&key));
    let creds = credentials(state, id).await?;
    let touched: Vec<Target> =
        targets(state, id, None).await?.into_iter().filter(|t| !t.sandbox && (t.active || t.configured)).collect();
    let mut lines = Vec::new();
    for target in touched {
        let outcome = match clear_if_ours(state, &creds, &target, &inbound, &status).await {
            Ok(outcome) => outcome,
            Err(e) => Cleanup::Failed(e.to_string()),
        };
        lines.push(CleanupLine { phone_number: target.phone_number, provider: target.provider, outcome });
    }
    let files = store::media_files(&state.db.pool, id).await?;
    let (db, org) = (&state.db, &me.org_id);
    let (actor, name) = (&audit::actor(me), &summary.name);
    let detail = &format!("{} numbers' webhooks cleared where they still pointed here.", lines.len());
    crate::db::retrying(|| async move {
        let mut tx = db.begin_write().await?;
        store::delete(&mut tx, id, org).await?;
        audit::record(&mut tx, org, actor, Action::ConnectorDeleted, name, detail).await?;
        tx.commit().await
    })
    .await?;
    state.hooks.clear();
    state.media.discard(&files).await;
    tracing::info!(connector_id = id, numbers = lines.len(), "connector deleted");
    Ok(DisconnectReport { connector: summary.name, numbers: lines })
}
