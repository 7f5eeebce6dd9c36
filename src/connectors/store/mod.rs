//! The connectors' and their numbers' rows: every query of this feature, each row decoded once
//! into a named struct, and the words the database stores (`active`, `rejected`, `configured`…)
//! turned into the types the rest of the code uses. A new column of `connectors` is read and
//! written here and nowhere else in this folder; the numbers' rows are in [`numbers`].

mod numbers;

pub(super) use numbers::*;

use app::connectors::{ConnectorChoice, ConnectorState, ConnectorSummary, Health, Provider, WebhookState};
use sqlx::{AnyConnection, AnyPool};

// ---- words the database stores ----

pub(super) fn state_str(s: ConnectorState) -> &'static str {
    match s {
        ConnectorState::Active => "active",
        ConnectorState::Error => "error",
    }
}

fn state_of(s: &str) -> ConnectorState {
    if s == "active" {
        ConnectorState::Active
    } else {
        ConnectorState::Error
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

fn health_of(s: &str) -> Health {
    match s {
        "connected" => Health::Connected,
        "rejected" => Health::CredentialsRejected,
        "unreachable" => Health::Unreachable,
        _ => Health::Checking,
    }
}

fn webhook_state_of(s: &str) -> WebhookState {
    match s {
        "configured" => WebhookState::Configured,
        "not_configured" => WebhookState::NotConfigured,
        _ => WebhookState::Unknown,
    }
}

// ---- connectors ----

/// What a live credential check found (`account::check`), as it is recorded.
pub(super) struct Check {
    pub(super) state: ConnectorState,
    pub(super) health: Health,
    pub(super) reason: Option<String>,
    pub(super) account_name: Option<String>,
    pub(super) trial: bool,
}

const SUMMARY: &str = "SELECT c.id AS id, c.name AS name, c.account_sid AS account_sid, c.state AS state, \
     c.health AS health, c.reason AS reason, \
     (SELECT COUNT(*) FROM numbers n WHERE n.connector_id = c.id AND n.active = 1) AS active_numbers \
     FROM connectors c";

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    name: String,
    account_sid: String,
    state: String,
    health: String,
    reason: Option<String>,
    active_numbers: i64,
}

impl From<SummaryRow> for ConnectorSummary {
    fn from(r: SummaryRow) -> Self {
        ConnectorSummary {
            id: r.id,
            name: r.name,
            account_sid: r.account_sid,
            state: state_of(&r.state),
            health: health_of(&r.health),
            reason: r.reason,
            active_numbers: r.active_numbers,
        }
    }
}

/// The organization's connectors, by name.
pub(super) async fn summaries(db: &AnyPool, org_id: &str) -> sqlx::Result<Vec<ConnectorSummary>> {
    let rows: Vec<SummaryRow> =
        sqlx::query_as(&format!("{SUMMARY} WHERE c.org_id = $1 ORDER BY c.name")).bind(org_id).fetch_all(db).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// One connector of the organization, if it is one of its.
pub(super) async fn summary(db: &AnyPool, org_id: &str, id: &str) -> sqlx::Result<Option<ConnectorSummary>> {
    let row: Option<SummaryRow> = sqlx::query_as(&format!("{SUMMARY} WHERE c.id = $1 AND c.org_id = $2"))
        .bind(id)
        .bind(org_id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(Into::into))
}

pub(super) async fn name_taken(db: &AnyPool, org_id: &str, name: &str) -> sqlx::Result<bool> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM connectors WHERE org_id = $1 AND name = $2")
        .bind(org_id)
        .bind(name)
        .fetch_optional(db)
        .await?;
    Ok(row.is_some())
}

/// What a new connector or an edit saves: what the admin typed (the Auth Token sealed) and what
/// the credential check found.
pub(super) struct Fields<'a> {
    pub(super) name: &'a str,
    pub(super) account_sid: &'a str,
    pub(super) sealed_token: Vec<u8>,
    pub(super) receive_inbound: bool,
    pub(super) check: &'a Check,
}

/// The unique-constraint violation an insert or update of [`Fields`] gives when the name is
/// taken (PostgreSQL names the constraint, SQLite its columns).
pub(super) fn is_name_taken(e: &sqlx::Error) -> bool {
    crate::error::is_unique_violation(e, "connectors_org_name_key", "connectors.org_id")
}

/// Binds [`Fields`] as `$1`…`$9` and the time of the check as `$10`, for an insert and an update
/// alike.
fn bind_fields<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    f: &'q Fields<'q>,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(f.name)
        .bind(f.account_sid)
        .bind(f.sealed_token.as_slice())
        .bind(i64::from(f.receive_inbound))
        .bind(state_str(f.check.state))
        .bind(health_str(f.check.health))
        .bind(f.check.reason.as_deref())
        .bind(f.check.account_name.as_deref())
        .bind(i64::from(f.check.trial))
        .bind(now)
}

pub(super) async fn insert(
    db: &AnyPool,
    id: &str,
    org_id: &str,
    f: Fields<'_>,
    webhook_key: &str,
    now: i64,
) -> sqlx::Result<()> {
    let insert = sqlx::query(
        "INSERT INTO connectors (name, account_sid, auth_token_enc, receive_inbound, state, health, reason, account_name, \
         trial, checked_at, id, org_id, webhook_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $10, $10)",
    );
    bind_fields(insert, &f, now).bind(id).bind(org_id).bind(webhook_key).execute(db).await?;
    Ok(())
}

pub(super) async fn update(db: &AnyPool, id: &str, org_id: &str, f: Fields<'_>, now: i64) -> sqlx::Result<()> {
    let update = sqlx::query(
        "UPDATE connectors SET name = $1, account_sid = $2, auth_token_enc = $3, receive_inbound = $4, state = $5, health = $6, \
         reason = $7, account_name = $8, trial = $9, checked_at = $10, updated_at = $10 WHERE id = $11 AND org_id = $12",
    );
    bind_fields(update, &f, now).bind(id).bind(org_id).execute(db).await?;
    Ok(())
}

/// Records a credential check. A failed check keeps the account's name and, unless Twilio
/// answered, whether it is a trial.
pub(super) async fn record_check(db: &AnyPool, id: &str, check: &Check, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE connectors SET state = $1, health = $2, reason = $3, account_name = COALESCE($4, account_name), \
         trial = CASE WHEN $5 = 1 OR $1 = 'active' THEN $5 ELSE trial END, checked_at = $6 WHERE id = $7",
    )
    .bind(state_str(check.state))
    .bind(health_str(check.health))
    .bind(&check.reason)
    .bind(&check.account_name)
    .bind(i64::from(check.trial))
    .bind(now)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// The connectors not checked since `due`.
pub(super) async fn due_for_check(db: &AnyPool, due: i64) -> sqlx::Result<Vec<String>> {
    let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM connectors WHERE checked_at IS NULL OR checked_at < $1")
        .bind(due)
        .fetch_all(db)
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Takes a due connector's check for this instance (moving its `checked_at`); false when
/// another instance took it first.
pub(super) async fn take_check(db: &AnyPool, id: &str, due: i64, now: i64) -> sqlx::Result<bool> {
    let taken =
        sqlx::query("UPDATE connectors SET checked_at = $1 WHERE id = $2 AND (checked_at IS NULL OR checked_at < $3)")
            .bind(now)
            .bind(id)
            .bind(due)
            .execute(db)
            .await?;
    Ok(taken.rows_affected() == 1)
}

pub(super) async fn choices(db: &AnyPool, org_id: &str) -> sqlx::Result<Vec<ConnectorChoice>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, name FROM connectors WHERE org_id = $1 ORDER BY name")
        .bind(org_id)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(|(id, name)| ConnectorChoice { id, name }).collect())
}

/// What a connector's page shows beside its summary.
#[derive(sqlx::FromRow)]
pub(super) struct Settings {
    pub(super) receive_inbound: i64,
    pub(super) account_name: Option<String>,
    pub(super) trial: i64,
    pub(super) webhook_key: String,
    pub(super) checked_at: Option<i64>,
}

pub(super) async fn settings(db: &AnyPool, id: &str) -> sqlx::Result<Settings> {
    sqlx::query_as("SELECT receive_inbound, account_name, trial, webhook_key, checked_at FROM connectors WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
}

/// The Account SID and the sealed Auth Token.
pub(super) async fn sealed_credentials(db: &AnyPool, id: &str) -> sqlx::Result<(String, Vec<u8>)> {
    sqlx::query_as("SELECT account_sid, auth_token_enc FROM connectors WHERE id = $1").bind(id).fetch_one(db).await
}

pub(super) async fn webhook_key(db: &AnyPool, id: &str) -> sqlx::Result<String> {
    let (key,): (String,) =
        sqlx::query_as("SELECT webhook_key FROM connectors WHERE id = $1").bind(id).fetch_one(db).await?;
    Ok(key)
}

/// A new webhook key: every number whose webhook was set is marked to be set again (the
/// sandbox's is pasted by hand, and told so).
pub(super) async fn replace_webhook_key(tx: &mut AnyConnection, id: &str, key: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE connectors SET webhook_key = $1, updated_at = $2 WHERE id = $3")
        .bind(key)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
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
    Ok(())
}

/// The agents answering on a connector's numbers: (agent, phone number, provider).
pub(super) async fn bound_channels(db: &AnyPool, id: &str) -> sqlx::Result<Vec<(String, String, Provider)>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT a.name, n.phone_number, n.provider FROM channels ch JOIN numbers n ON n.id = ch.number_id \
         JOIN agents a ON a.id = ch.agent_id WHERE n.connector_id = $1 ORDER BY a.name, n.phone_number",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(agent, phone, provider)| (agent, phone, Provider::stored(&provider))).collect())
}

pub(super) async fn conversation_count(db: &AnyPool, id: &str) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM conversations c JOIN numbers n ON n.id = c.number_id WHERE n.connector_id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await?;
    Ok(n)
}

/// The files of a connector's messages (they go with it).
pub(super) async fn media_files(db: &AnyPool, id: &str) -> sqlx::Result<Vec<String>> {
    let files: Vec<(String,)> =
        sqlx::query_as("SELECT md.id FROM media md JOIN messages m ON m.id = md.message_id WHERE m.connector_id = $1")
            .bind(id)
            .fetch_all(db)
            .await?;
    Ok(files.into_iter().map(|(f,)| f).collect())
}

/// Deletes a connector; its numbers, channels, conversations and messages go by the schema's
/// cascades, and agents forget the templates they took from it.
pub(super) async fn delete(tx: &mut AnyConnection, id: &str, org_id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE agents SET template_connector_id = NULL, template_sid = NULL, template_name = NULL, \
         template_variables = NULL WHERE template_connector_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM connectors WHERE id = $1 AND org_id = $2").bind(id).bind(org_id).execute(&mut *tx).await?;
    Ok(())
}
