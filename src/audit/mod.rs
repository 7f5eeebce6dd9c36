//! The organization's audit log: who changed what, in the backoffice or through the REST API.
//! Where a change is one transaction, its line is written in it, so a change that fails leaves
//! none and one that commits always has its line; a change made in Twilio or by code that commits
//! on its own (a connector saved, a webhook set, a channel bound, an export) gets its line right
//! after it succeeds. Lines never hold a secret, nor a guest's number,
//! name, email or words: the callers give names of connectors and agents, ids and counts.

use app::{
    accounts::{Me, Role},
    privacy::{AuditEntry, AuditPage},
    AppError,
};
use sqlx::{AnyConnection, AnyPool};

pub mod export;

use crate::{error::Result, new_id, now_ms, state::AppState};

/// What was done. The database stores [`Action::key`]; the page shows [`Action::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ConnectorAdded,
    ConnectorCredentials,
    ConnectorDeleted,
    WebhookSet,
    WebhookRegenerated,
    KeyRotated,
    ChannelBound,
    ChannelUnbound,
    TakenOver,
    HandedBack,
    Exported,
    GuestForgotten,
    ForgetDeclined,
    ForgetModeChanged,
    RetentionChanged,
    UserAdded,
    UserRemoved,
    TokenCreated,
    TokenRevoked,
    AgentCreated,
    AgentDeleted,
    HookSecretRegenerated,
    AgentKeyChanged,
    TranscriptionChanged,
}

const ACTIONS: [Action; 24] = [
    Action::ConnectorAdded,
    Action::ConnectorCredentials,
    Action::ConnectorDeleted,
    Action::WebhookSet,
    Action::WebhookRegenerated,
    Action::KeyRotated,
    Action::ChannelBound,
    Action::ChannelUnbound,
    Action::TakenOver,
    Action::HandedBack,
    Action::Exported,
    Action::GuestForgotten,
    Action::ForgetDeclined,
    Action::ForgetModeChanged,
    Action::RetentionChanged,
    Action::UserAdded,
    Action::UserRemoved,
    Action::TokenCreated,
    Action::TokenRevoked,
    Action::AgentCreated,
    Action::AgentDeleted,
    Action::HookSecretRegenerated,
    Action::AgentKeyChanged,
    Action::TranscriptionChanged,
];

impl Action {
    pub fn key(self) -> &'static str {
        match self {
            Action::ConnectorAdded => "connector.added",
            Action::ConnectorCredentials => "connector.credentials",
            Action::ConnectorDeleted => "connector.deleted",
            Action::WebhookSet => "webhook.set",
            Action::WebhookRegenerated => "webhook.regenerated",
            Action::KeyRotated => "key.rotated",
            Action::ChannelBound => "channel.bound",
            Action::ChannelUnbound => "channel.unbound",
            Action::TakenOver => "conversation.taken_over",
            Action::HandedBack => "conversation.handed_back",
            Action::Exported => "export",
            Action::GuestForgotten => "guest.forgotten",
            Action::ForgetDeclined => "guest.forget_declined",
            Action::ForgetModeChanged => "privacy.forget_mode",
            Action::RetentionChanged => "privacy.retention",
            Action::UserAdded => "user.added",
            Action::UserRemoved => "user.removed",
            Action::TokenCreated => "token.created",
            Action::TokenRevoked => "token.revoked",
            Action::AgentCreated => "agent.created",
            Action::AgentDeleted => "agent.deleted",
            Action::HookSecretRegenerated => "agent.hook_secret",
            Action::AgentKeyChanged => "agent.key",
            Action::TranscriptionChanged => "organization.transcription",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Action::ConnectorAdded => "Connector added",
            Action::ConnectorCredentials => "Connector credentials changed",
            Action::ConnectorDeleted => "Connector deleted",
            Action::WebhookSet => "Webhook set",
            Action::WebhookRegenerated => "Webhook URL regenerated",
            Action::KeyRotated => "Encryption key rotated",
            Action::ChannelBound => "Channel added",
            Action::ChannelUnbound => "Channel removed",
            Action::TakenOver => "Conversation taken over",
            Action::HandedBack => "Conversation handed back",
            Action::Exported => "Export downloaded",
            Action::GuestForgotten => "Guest forgotten",
            Action::ForgetDeclined => "Request to be forgotten declined",
            Action::ForgetModeChanged => "Handling of /forget changed",
            Action::RetentionChanged => "Retention period changed",
            Action::UserAdded => "User added",
            Action::UserRemoved => "User removed",
            Action::TokenCreated => "API token created",
            Action::TokenRevoked => "API token revoked",
            Action::AgentCreated => "Agent created",
            Action::AgentDeleted => "Agent deleted",
            Action::HookSecretRegenerated => "Hook signing secret regenerated",
            Action::AgentKeyChanged => "Agent's API key changed",
            Action::TranscriptionChanged => "Transcription API changed",
        }
    }

    fn of(key: &str) -> Option<Self> {
        ACTIONS.into_iter().find(|a| a.key() == key)
    }
}

/// Who did it: the user's email, and the token's name when the call came through the REST API.
pub fn actor(me: &Me) -> String {
    match &me.token {
        Some(token) => format!("{} (API token \u{201c}{token}\u{201d})", me.email),
        None => me.email.clone(),
    }
}

/// Writes a line in the caller's transaction.
pub async fn record(
    tx: &mut AnyConnection,
    org_id: &str,
    actor: &str,
    action: Action,
    subject: &str,
    detail: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, org_id, at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new_id())
    .bind(org_id)
    .bind(now_ms())
    .bind(actor)
    .bind(action.key())
    .bind(subject)
    .bind(detail)
    .execute(tx)
    .await?;
    Ok(())
}

/// Writes a line on its own, for a change that had no transaction of its own (an export, a
/// webhook set in Twilio).
pub async fn record_now(state: &AppState, me: &Me, action: Action, subject: &str, detail: &str) -> Result<()> {
    record_on(&state.db, me, action, subject, detail).await
}

/// The same, given the database alone.
pub async fn record_on(db: &crate::db::Db, me: &Me, action: Action, subject: &str, detail: &str) -> Result<()> {
    let mut tx = db.begin_write().await?;
    record(&mut tx, &me.org_id, &actor(me), action, subject, detail).await?;
    tx.commit().await?;
    Ok(())
}

/// Entries of an audit page.
pub const PAGE: i64 = 50;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    at: i64,
    actor: String,
    action: String,
    subject: String,
    detail: String,
}

impl From<Row> for AuditEntry {
    fn from(r: Row) -> Self {
        AuditEntry {
            action: Action::of(&r.action).map_or(r.action, |a| a.label().to_string()),
            id: r.id,
            at_ms: r.at,
            actor: r.actor,
            subject: r.subject,
            detail: r.detail,
        }
    }
}

/// Up to `limit` entries older than `older` (an entry's id), newest first.
pub(crate) async fn entries(
    db: &AnyPool,
    org_id: &str,
    older: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<AuditEntry>> {
    // No stand-in for "from the newest" (a `~` sorts before digits under many collations).
    const COLUMNS: &str = "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE org_id = $1";
    let rows: Vec<Row> = match older {
        Some(older) => {
            sqlx::query_as(&format!("{COLUMNS} AND id < $2 ORDER BY id DESC LIMIT $3"))
                .bind(org_id)
                .bind(older)
                .bind(limit)
                .fetch_all(db)
                .await?
        }
        None => {
            sqlx::query_as(&format!("{COLUMNS} ORDER BY id DESC LIMIT $2"))
                .bind(org_id)
                .bind(limit)
                .fetch_all(db)
                .await?
        }
    };
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}

/// A page of the organization's audit log, for its admins.
pub async fn page(state: &AppState, me: &Me, older: Option<String>) -> Result<AuditPage> {
    if me.role != Role::OrgAdmin {
        return Err(AppError::Forbidden.into());
    }
    if older.as_deref().is_some_and(|o| o.len() != 32 || !o.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(AppError::invalid("older", "This place in the log is not one a page of it gave.").into());
    }
    let mut entries = entries(&state.db.pool, &me.org_id, older.as_deref(), PAGE + 1).await?;
    let older = (entries.len() as i64 > PAGE).then(|| {
        entries.truncate(PAGE as usize);
        entries.last().map(|e| e.id.clone()).unwrap_or_default()
    });
    Ok(AuditPage { entries, older, kept_days: state.tuning.audit_days })
}
