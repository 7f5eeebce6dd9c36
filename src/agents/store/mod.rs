//! The agents' rows, their FAQ entries and their channels: every query of this feature, each row
//! decoded once into a named struct. A new column of `agents` is read and written here and
//! nowhere else in this folder; the channels' rows are in [`channels`].

mod channels;

pub(super) use channels::*;

use app::agents::{AgentSummary, AgentTemplate, BrainKind, FaqEntry};
use sqlx::{AnyConnection, AnyPool};

// ---- agents ----

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: String,
    name: String,
    channels: i64,
}

/// The organization's agents by name: all of them, or only those `owner_id` owns.
pub(super) async fn summaries(db: &AnyPool, org_id: &str, owner_id: Option<&str>) -> sqlx::Result<Vec<AgentSummary>> {
    let rows: Vec<SummaryRow> = sqlx::query_as(
        "SELECT a.id AS id, a.name AS name, (SELECT COUNT(*) FROM channels ch WHERE ch.agent_id = a.id) AS channels \
         FROM agents a WHERE a.org_id = $1 AND ($2 IS NULL OR a.owner_id = $2) ORDER BY a.name",
    )
    .bind(org_id)
    .bind(owner_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| AgentSummary { id: r.id, name: r.name, channels: r.channels }).collect())
}

/// What creating or editing an agent saves; the keys already sealed.
pub(super) struct Fields<'a> {
    pub(super) name: &'a str,
    pub(super) description: &'a str,
    pub(super) instructions: &'a str,
    pub(super) welcome: Option<&'a str>,
    pub(super) fallback: &'a str,
    pub(super) brain: BrainKind,
    pub(super) url: Option<&'a str>,
    pub(super) model: Option<&'a str>,
    pub(super) timeout_secs: Option<i64>,
    /// A new sealed API key (an edit keeps the stored one when `None`).
    pub(super) api_key: Option<Vec<u8>>,
    /// A new sealed hook secret (an edit keeps the stored one when `None`).
    pub(super) hook_secret: Option<Vec<u8>>,
}

/// The unique-constraint violation an insert or update gives when the name is taken
/// (PostgreSQL names the constraint, SQLite its columns).
pub(super) fn is_name_taken(e: &sqlx::Error) -> bool {
    crate::error::is_unique_violation(e, "agents_org_name_key", "agents.org_id")
}

pub(super) async fn insert(
    tx: &mut AnyConnection,
    id: &str,
    org_id: &str,
    owner_id: &str,
    f: Fields<'_>,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO agents (id, org_id, name, description, instructions, welcome_message, fallback_reply, brain, \
         brain_url, llm_model, llm_api_key_enc, hook_secret_enc, brain_timeout_secs, owner_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(id)
    .bind(org_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.instructions)
    .bind(f.welcome)
    .bind(f.fallback)
    .bind(f.brain.as_str())
    .bind(f.url)
    .bind(f.model)
    .bind(f.api_key)
    .bind(f.hook_secret)
    .bind(f.timeout_secs)
    .bind(owner_id)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

/// Saves an edit. A brain left behind takes its secret with it; a `None` key or secret keeps
/// the stored one. The mind's revision moves on, so running turns read the new settings.
pub(super) async fn update(tx: &mut AnyConnection, id: &str, org_id: &str, f: Fields<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE agents SET name = $1, description = $2, instructions = $3, welcome_message = $4, fallback_reply = $5, \
         brain = $6, brain_url = $7, llm_model = $8, brain_timeout_secs = $9, \
         llm_api_key_enc = CASE WHEN $6 <> 'openai' THEN NULL WHEN $10 IS NOT NULL THEN $10 ELSE llm_api_key_enc END, \
         hook_secret_enc = CASE WHEN $6 <> 'hook' THEN NULL WHEN $11 IS NOT NULL THEN $11 ELSE hook_secret_enc END, \
         mind_revision = mind_revision + 1 WHERE id = $12 AND org_id = $13",
    )
    .bind(f.name)
    .bind(f.description)
    .bind(f.instructions)
    .bind(f.welcome)
    .bind(f.fallback)
    .bind(f.brain.as_str())
    .bind(f.url)
    .bind(f.model)
    .bind(f.timeout_secs)
    .bind(f.api_key)
    .bind(f.hook_secret)
    .bind(id)
    .bind(org_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Which secrets an agent has stored, and the URL its API key was typed for.
#[derive(sqlx::FromRow)]
pub(super) struct StoredSecrets {
    api_key: i64,
    hook_secret: i64,
    pub(super) brain_url: Option<String>,
}

impl StoredSecrets {
    pub(super) fn api_key(&self) -> bool {
        self.api_key != 0
    }
    pub(super) fn hook_secret(&self) -> bool {
        self.hook_secret != 0
    }
}

pub(super) async fn stored_secrets(db: &AnyPool, id: &str) -> sqlx::Result<StoredSecrets> {
    sqlx::query_as(
        "SELECT CASE WHEN llm_api_key_enc IS NULL THEN 0 ELSE 1 END AS api_key, \
         CASE WHEN hook_secret_enc IS NULL THEN 0 ELSE 1 END AS hook_secret, brain_url FROM agents WHERE id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// Deletes the agent; its channels and FAQ go with it (foreign keys), its conversations stay.
pub(super) async fn delete(db: &mut AnyConnection, id: &str, org_id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM agents WHERE id = $1 AND org_id = $2").bind(id).bind(org_id).execute(db).await?;
    Ok(())
}

/// Stores a new sealed hook secret; false when the agent has no hook brain.
pub(super) async fn set_hook_secret(db: &AnyPool, id: &str, sealed: Vec<u8>) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "UPDATE agents SET hook_secret_enc = $1, mind_revision = mind_revision + 1 WHERE id = $2 AND brain = 'hook'",
    )
    .bind(sealed)
    .bind(id)
    .execute(db)
    .await?;
    Ok(updated.rows_affected() > 0)
}

/// What a turn needs of the agent, the keys still sealed.
#[derive(sqlx::FromRow)]
pub(super) struct MindRow {
    pub(super) name: String,
    pub(super) instructions: String,
    pub(super) fallback_reply: String,
    pub(super) welcome_message: Option<String>,
    pub(super) brain: String,
    pub(super) brain_url: Option<String>,
    pub(super) llm_model: Option<String>,
    pub(super) llm_api_key_enc: Option<Vec<u8>>,
    pub(super) hook_secret_enc: Option<Vec<u8>>,
    pub(super) brain_timeout_secs: Option<i64>,
    pub(super) mind_revision: i64,
    pub(super) transcribe_url: Option<String>,
    pub(super) transcribe_model: Option<String>,
    pub(super) transcribe_key_enc: Option<Vec<u8>>,
    pub(super) transcribe_off: i64,
    pub(super) image_input: String,
}

pub(super) async fn mind(db: &AnyPool, id: &str) -> sqlx::Result<MindRow> {
    sqlx::query_as(
        "SELECT name, instructions, fallback_reply, welcome_message, brain, brain_url, llm_model, llm_api_key_enc, \
         hook_secret_enc, brain_timeout_secs, mind_revision, transcribe_url, transcribe_model, transcribe_key_enc, \
         transcribe_off, image_input FROM agents WHERE id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// A transcription API as stored (an agent's or its organization's), the key only as "set".
#[derive(sqlx::FromRow)]
pub(super) struct TranscriptionRow {
    pub(super) transcribe_url: Option<String>,
    pub(super) transcribe_model: Option<String>,
    transcribe_key_set: i64,
}

impl TranscriptionRow {
    pub(super) fn key_set(&self) -> bool {
        self.transcribe_key_set != 0
    }
}

/// The columns of a [`TranscriptionRow`].
const TRANSCRIPTION: &str = "transcribe_url, transcribe_model, \
                             CASE WHEN transcribe_key_enc IS NULL THEN 0 ELSE 1 END AS transcribe_key_set";

/// A transcription API saved: `$1` its URL (none drops the key), `$2` its model, `$3` a new key
/// (none keeps the stored one). It is saved only while the URL stored is still `$4` (`''` for
/// none), the one the form's key rules were checked against: two saves at once cannot send a key
/// kept for one host to the other's.
const SET_TRANSCRIPTION: &str = "transcribe_url = $1, transcribe_model = $2, \
     transcribe_key_enc = CASE WHEN $1 IS NULL THEN NULL WHEN $3 IS NOT NULL THEN $3 ELSE transcribe_key_enc END";
const STILL: &str = "COALESCE(transcribe_url, '') = $4";

/// What an agent perceives of guests' files.
#[derive(sqlx::FromRow)]
pub(super) struct SensesRow {
    #[sqlx(flatten)]
    pub(super) transcription: TranscriptionRow,
    transcribe_off: i64,
    pub(super) image_input: String,
}

impl SensesRow {
    /// Whether the agent's guests' voice notes are never transcribed, not even with the
    /// organization's API.
    pub(super) fn transcribe_off(&self) -> bool {
        self.transcribe_off != 0
    }
}

pub(super) async fn senses(db: &AnyPool, id: &str) -> sqlx::Result<SensesRow> {
    sqlx::query_as(&format!("SELECT {TRANSCRIPTION}, transcribe_off, image_input FROM agents WHERE id = $1"))
        .bind(id)
        .fetch_one(db)
        .await
}

/// The agent's senses as saved: its own transcription API (see [`SET_TRANSCRIPTION`]; `stored` is
/// the URL its rules were checked against), whether it never transcribes, how photos reach its
/// model. The mind's revision moves on, so the next turn reads them. False when the stored URL
/// changed meanwhile.
pub(super) async fn set_senses(
    db: &AnyPool,
    id: &str,
    (url, model, key): (Option<&str>, Option<&str>, Option<Vec<u8>>),
    stored: Option<&str>,
    off: bool,
    images: &str,
) -> sqlx::Result<bool> {
    let saved = sqlx::query(&format!(
        "UPDATE agents SET {SET_TRANSCRIPTION}, transcribe_off = $5, image_input = $6, \
         mind_revision = mind_revision + 1 WHERE id = $7 AND {STILL}"
    ))
    .bind(url)
    .bind(model)
    .bind(key)
    .bind(stored.unwrap_or_default())
    .bind(i64::from(off))
    .bind(images)
    .bind(id)
    .execute(db)
    .await?;
    Ok(saved.rows_affected() > 0)
}

pub(super) async fn org_transcription(db: &AnyPool, org_id: &str) -> sqlx::Result<TranscriptionRow> {
    sqlx::query_as(&format!("SELECT {TRANSCRIPTION} FROM organizations WHERE id = $1")).bind(org_id).fetch_one(db).await
}

/// The agent's organization and its transcription API, the key sealed.
pub(super) async fn agent_org_transcription(
    db: &AnyPool,
    agent_id: &str,
) -> sqlx::Result<(String, Option<String>, Option<String>, Option<Vec<u8>>)> {
    sqlx::query_as(
        "SELECT o.id, o.transcribe_url, o.transcribe_model, o.transcribe_key_enc FROM agents a \
         JOIN organizations o ON o.id = a.org_id WHERE a.id = $1",
    )
    .bind(agent_id)
    .fetch_one(db)
    .await
}

/// Saves the organization's transcription API (as [`SET_TRANSCRIPTION`]; `stored` is the URL its
/// rules were checked against); every agent's mind moves on, so each next turn reads it. False
/// when the stored URL changed meanwhile.
pub(super) async fn set_org_transcription(
    tx: &mut AnyConnection,
    org_id: &str,
    (url, model, key): (Option<&str>, Option<&str>, Option<Vec<u8>>),
    stored: Option<&str>,
) -> sqlx::Result<bool> {
    let saved = sqlx::query(&format!("UPDATE organizations SET {SET_TRANSCRIPTION} WHERE id = $5 AND {STILL}"))
        .bind(url)
        .bind(model)
        .bind(key)
        .bind(stored.unwrap_or_default())
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    if saved.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("UPDATE agents SET mind_revision = mind_revision + 1 WHERE org_id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

pub(super) async fn id_by_name(db: &AnyPool, org_id: &str, name: &str) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM agents WHERE org_id = $1 AND name = $2")
        .bind(org_id)
        .bind(name)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|(id,)| id))
}

/// Who may manage an agent of the organization, and the two things callers want with that.
#[derive(sqlx::FromRow)]
pub(super) struct Owner {
    pub(super) name: String,
    pub(super) fallback_reply: String,
    pub(super) owner_id: Option<String>,
}

pub(super) async fn owner(db: &AnyPool, id: &str, org_id: &str) -> sqlx::Result<Option<Owner>> {
    sqlx::query_as("SELECT name, fallback_reply, owner_id FROM agents WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .fetch_optional(db)
        .await
}

/// An agent's settings as the backoffice shows them, with who may see them: whether keys are
/// set, never the keys.
#[derive(sqlx::FromRow)]
pub(super) struct DetailRow {
    #[sqlx(flatten)]
    pub(super) owner: Owner,
    pub(super) description: String,
    pub(super) instructions: String,
    pub(super) welcome_message: Option<String>,
    pub(super) brain: String,
    pub(super) brain_url: Option<String>,
    pub(super) llm_model: Option<String>,
    api_key_set: i64,
    hook_secret_set: i64,
    pub(super) brain_timeout_secs: Option<i64>,
}

impl DetailRow {
    pub(super) fn api_key_set(&self) -> bool {
        self.api_key_set != 0
    }
    pub(super) fn hook_secret_set(&self) -> bool {
        self.hook_secret_set != 0
    }
}

pub(super) async fn detail(db: &AnyPool, id: &str, org_id: &str) -> sqlx::Result<Option<DetailRow>> {
    sqlx::query_as(
        "SELECT name, fallback_reply, owner_id, description, instructions, welcome_message, brain, brain_url, llm_model, \
         CASE WHEN llm_api_key_enc IS NULL THEN 0 ELSE 1 END AS api_key_set, \
         CASE WHEN hook_secret_enc IS NULL THEN 0 ELSE 1 END AS hook_secret_set, \
         brain_timeout_secs FROM agents WHERE id = $1 AND org_id = $2",
    )
    .bind(id)
    .bind(org_id)
    .fetch_optional(db)
    .await
}

// ---- the FAQ brain's entries ----

pub(super) async fn faq(db: &AnyPool, agent_id: &str) -> sqlx::Result<Vec<FaqEntry>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT question, answer FROM faq_entries WHERE agent_id = $1 ORDER BY position")
            .bind(agent_id)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(question, answer)| FaqEntry { question, answer }).collect())
}

/// Replaces the agent's entries with `faq`, in its order.
pub(super) async fn write_faq(tx: &mut AnyConnection, agent_id: &str, faq: &[FaqEntry]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM faq_entries WHERE agent_id = $1").bind(agent_id).execute(&mut *tx).await?;
    for (position, entry) in faq.iter().enumerate() {
        sqlx::query("INSERT INTO faq_entries (agent_id, position, question, answer) VALUES ($1, $2, $3, $4)")
            .bind(agent_id)
            .bind(position as i64)
            .bind(&entry.question)
            .bind(&entry.answer)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

// ---- the template sent once the 24-hour window has closed ----

#[derive(sqlx::FromRow)]
struct TemplateRow {
    connector_id: String,
    connector_name: String,
    sid: String,
    name: String,
    variables: Option<String>,
}

pub(super) async fn template(db: &AnyPool, agent_id: &str) -> sqlx::Result<Option<AgentTemplate>> {
    let row: Option<TemplateRow> = sqlx::query_as(
        "SELECT c.id AS connector_id, c.name AS connector_name, a.template_sid AS sid, \
         COALESCE(a.template_name, '') AS name, a.template_variables AS variables FROM agents a \
         JOIN connectors c ON c.id = a.template_connector_id WHERE a.id = $1 AND a.template_sid IS NOT NULL",
    )
    .bind(agent_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| AgentTemplate {
        connector_id: r.connector_id,
        connector_name: r.connector_name,
        sid: r.sid,
        name: r.name,
        variables: r.variables.unwrap_or_default(),
    }))
}

/// The template an admin chose, as it is saved.
pub(super) struct Chosen<'a> {
    pub(super) connector_id: &'a str,
    pub(super) sid: &'a str,
    pub(super) name: &'a str,
    /// The variables as a JSON object, if any.
    pub(super) variables: Option<&'a str>,
}

/// Sets the agent's template, or clears it with `None`.
pub(super) async fn set_template(db: &AnyPool, agent_id: &str, template: Option<Chosen<'_>>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE agents SET template_connector_id = $1, template_sid = $2, template_name = $3, template_variables = $4 \
         WHERE id = $5",
    )
    .bind(template.as_ref().map(|t| t.connector_id))
    .bind(template.as_ref().map(|t| t.sid))
    .bind(template.as_ref().map(|t| t.name))
    .bind(template.as_ref().and_then(|t| t.variables))
    .bind(agent_id)
    .execute(db)
    .await?;
    Ok(())
}
