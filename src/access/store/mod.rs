//! The access feature's rows: an agent's policy and onboarding, its shared list, access
//! requests, and the email addresses guests have verified. The login codes are in [`codes`].
//! Every query of this feature is here, each row decoded once into a named struct.

mod codes;

pub(super) use codes::*;

use app::sharing::{AccessPolicy, AccessSettings, SharedEmail};
use sqlx::{AnyConnection, AnyPool};

use super::settings;

// ---- the agent's settings ----

/// The agent a guest wrote to, its organization and its access settings.
#[derive(sqlx::FromRow)]
pub(super) struct GuestAgent {
    pub(super) org_id: String,
    pub(super) org_name: String,
    pub(super) agent_name: String,
    access_policy: String,
    onboarding: i64,
    onboarding_message: String,
}

impl GuestAgent {
    pub(super) fn settings(&self) -> AccessSettings {
        settings(&self.access_policy, self.onboarding, self.onboarding_message.clone())
    }
}

pub(super) async fn guest_agent(db: &AnyPool, agent_id: &str) -> sqlx::Result<GuestAgent> {
    sqlx::query_as(
        "SELECT a.org_id AS org_id, o.name AS org_name, a.name AS agent_name, a.access_policy AS access_policy, \
         a.onboarding AS onboarding, a.onboarding_message AS onboarding_message \
         FROM agents a JOIN organizations o ON o.id = a.org_id WHERE a.id = $1",
    )
    .bind(agent_id)
    .fetch_one(db)
    .await
}

pub(super) async fn access_settings(db: &AnyPool, agent_id: &str) -> sqlx::Result<AccessSettings> {
    let (policy, onboarding, message): (String, i64, String) =
        sqlx::query_as("SELECT access_policy, onboarding, onboarding_message FROM agents WHERE id = $1")
            .bind(agent_id)
            .fetch_one(db)
            .await?;
    Ok(settings(&policy, onboarding, message))
}

pub(super) async fn set_access_settings(
    tx: &mut AnyConnection,
    agent_id: &str,
    policy: AccessPolicy,
    onboarding: bool,
    message: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE agents SET access_policy = $1, onboarding = $2, onboarding_message = $3 WHERE id = $4")
        .bind(policy.as_str())
        .bind(i64::from(onboarding))
        .bind(message)
        .bind(agent_id)
        .execute(tx)
        .await?;
    Ok(())
}

// ---- the shared list ----

pub(super) async fn shared(db: &AnyPool, agent_id: &str) -> sqlx::Result<Vec<SharedEmail>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT email, added_at FROM shared_emails WHERE agent_id = $1 ORDER BY email")
            .bind(agent_id)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|(email, added_at_ms)| SharedEmail { email, added_at_ms }).collect())
}

pub(super) async fn is_shared(db: &AnyPool, agent_id: &str, email: &str) -> sqlx::Result<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM shared_emails WHERE agent_id = $1 AND email = $2")
        .bind(agent_id)
        .bind(email)
        .fetch_one(db)
        .await?;
    Ok(n > 0)
}

/// Puts an address on the agent's shared list; false when it was there already.
pub(super) async fn share(
    tx: &mut AnyConnection,
    agent_id: &str,
    email: &str,
    by: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let added = sqlx::query(
        "INSERT INTO shared_emails (agent_id, email, added_at, added_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (agent_id, email) DO NOTHING",
    )
    .bind(agent_id)
    .bind(email)
    .bind(now)
    .bind(by)
    .execute(tx)
    .await?;
    Ok(added.rows_affected() > 0)
}

/// Takes an address off the list; false when it was not on it.
pub(super) async fn unshare(tx: &mut AnyConnection, agent_id: &str, email: &str) -> sqlx::Result<bool> {
    let removed = sqlx::query("DELETE FROM shared_emails WHERE agent_id = $1 AND email = $2")
        .bind(agent_id)
        .bind(email)
        .execute(tx)
        .await?;
    Ok(removed.rows_affected() > 0)
}

// ---- access requests ----

/// A guest asking for access: what they ask with (`email` or `number`) and where they wrote from.
pub(super) struct NewRequest<'a> {
    pub(super) agent_id: &'a str,
    pub(super) kind: &'a str,
    pub(super) subject: &'a str,
    pub(super) guest_address: &'a str,
    pub(super) guest_name: Option<&'a str>,
    pub(super) conversation_id: &'a str,
}

/// The guest's request of this kind, created (pending) if there is none; an approved email
/// request whose address has left the shared list since is pending again. Returns its state and
/// whether it was created now.
pub(super) async fn request(tx: &mut AnyConnection, r: NewRequest<'_>, now: i64) -> sqlx::Result<(String, bool)> {
    let created = sqlx::query(
        "INSERT INTO access_requests (id, agent_id, kind, subject, guest_address, guest_name, conversation_id, state, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8) ON CONFLICT (agent_id, kind, subject) DO NOTHING",
    )
    .bind(crate::new_id())
    .bind(r.agent_id)
    .bind(r.kind)
    .bind(r.subject)
    .bind(r.guest_address)
    .bind(r.guest_name)
    .bind(r.conversation_id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if r.kind == "email" {
        // Approved before, but no longer on the list: asked again.
        sqlx::query(
            "UPDATE access_requests SET state = 'pending', guest_address = $1, conversation_id = $2, created_at = $3, \
             decided_at = NULL, decided_by = NULL WHERE agent_id = $4 AND kind = 'email' AND subject = $5 AND state = 'approved'",
        )
        .bind(r.guest_address)
        .bind(r.conversation_id)
        .bind(now)
        .bind(r.agent_id)
        .bind(r.subject)
        .execute(&mut *tx)
        .await?;
    }
    let (state,): (String,) =
        sqlx::query_as("SELECT state FROM access_requests WHERE agent_id = $1 AND kind = $2 AND subject = $3")
            .bind(r.agent_id)
            .bind(r.kind)
            .bind(r.subject)
            .fetch_one(&mut *tx)
            .await?;
    Ok((state, created))
}

/// A request as the Sharing page lists it.
#[derive(sqlx::FromRow)]
pub(super) struct RequestRow {
    pub(super) id: String,
    pub(super) kind: String,
    pub(super) subject: String,
    pub(super) guest_address: String,
    pub(super) guest_name: Option<String>,
    pub(super) state: String,
    pub(super) created_at: i64,
    pub(super) decided_at: Option<i64>,
    /// The email of the staff member who decided.
    pub(super) decided_by: Option<String>,
}

/// The agent's requests, pending first, then the latest; at most 200.
pub(super) async fn requests(db: &AnyPool, agent_id: &str) -> sqlx::Result<Vec<RequestRow>> {
    sqlx::query_as(
        "SELECT r.id AS id, r.kind AS kind, r.subject AS subject, r.guest_address AS guest_address, \
         r.guest_name AS guest_name, r.state AS state, r.created_at AS created_at, r.decided_at AS decided_at, \
         u.email AS decided_by \
         FROM access_requests r LEFT JOIN users u ON u.id = r.decided_by WHERE r.agent_id = $1 \
         ORDER BY CASE r.state WHEN 'pending' THEN 0 ELSE 1 END, r.created_at DESC LIMIT 200",
    )
    .bind(agent_id)
    .fetch_all(db)
    .await
}

/// A request about to be decided.
#[derive(sqlx::FromRow)]
pub(super) struct Pending {
    pub(super) kind: String,
    pub(super) subject: String,
    pub(super) guest_address: String,
    pub(super) conversation_id: Option<String>,
    pub(super) state: String,
}

pub(super) async fn pending(db: &AnyPool, agent_id: &str, request_id: &str) -> sqlx::Result<Option<Pending>> {
    sqlx::query_as(
        "SELECT kind, subject, guest_address, conversation_id, state FROM access_requests WHERE id = $1 AND agent_id = $2",
    )
    .bind(request_id)
    .bind(agent_id)
    .fetch_optional(db)
    .await
}

/// Where to tell a guest about a decision: their conversation, and whether a message can reach
/// them there (the window's times, the agent's template on that number's connector).
#[derive(sqlx::FromRow)]
pub(super) struct Reach {
    pub(super) conversation_id: String,
    pub(super) connector_id: String,
    pub(super) address: String,
    pub(super) last_inbound_at: Option<i64>,
    pub(super) window_closed_at: Option<i64>,
    pub(super) template_sid: Option<String>,
}

/// The request's conversation if its number is still active, else the guest's latest on one of
/// the agent's numbers.
pub(super) async fn reach(
    db: &AnyPool,
    agent_id: &str,
    guest_address: &str,
    conversation_id: Option<&str>,
) -> sqlx::Result<Option<Reach>> {
    sqlx::query_as(
        "SELECT cv.id AS conversation_id, n.connector_id AS connector_id, n.address AS address, \
         cv.last_inbound_at AS last_inbound_at, cv.window_closed_at AS window_closed_at, \
         CASE WHEN a.template_connector_id = n.connector_id THEN a.template_sid END AS template_sid \
         FROM conversations cv JOIN numbers n ON n.id = cv.number_id JOIN agents a ON a.id = $1 \
         LEFT JOIN channels ch ON ch.number_id = n.id \
         WHERE cv.guest_address = $2 AND (cv.id = $3 OR ch.agent_id = $1) AND n.active = 1 \
         ORDER BY CASE WHEN cv.id = $3 THEN 0 ELSE 1 END, cv.last_inbound_at DESC LIMIT 1",
    )
    .bind(agent_id)
    .bind(guest_address)
    .bind(conversation_id.unwrap_or(""))
    .fetch_optional(db)
    .await
}

pub(super) async fn decide(
    tx: &mut AnyConnection,
    request_id: &str,
    state: &str,
    by: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE access_requests SET state = $1, decided_at = $2, decided_by = $3 WHERE id = $4")
        .bind(state)
        .bind(now)
        .bind(by)
        .bind(request_id)
        .execute(tx)
        .await?;
    Ok(())
}

// ---- verified email addresses ----

/// The email address verified on a guest's number in the organization.
pub(super) async fn identity(db: &AnyPool, org_id: &str, guest_address: &str) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT email FROM guest_identities WHERE org_id = $1 AND guest_address = $2")
            .bind(org_id)
            .bind(guest_address)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(email,)| email))
}

/// Links a verified address to the guest's number, replacing any earlier one.
pub(super) async fn link_identity(
    tx: &mut AnyConnection,
    org_id: &str,
    guest_address: &str,
    email: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO guest_identities (org_id, guest_address, email, verified_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, guest_address) DO UPDATE SET email = excluded.email, verified_at = excluded.verified_at",
    )
    .bind(org_id)
    .bind(guest_address)
    .bind(email)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

/// The guest's `/logout`.
pub(super) async fn unlink_identity(tx: &mut AnyConnection, org_id: &str, guest_address: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM guest_identities WHERE org_id = $1 AND guest_address = $2")
        .bind(org_id)
        .bind(guest_address)
        .execute(tx)
        .await?;
    Ok(())
}

/// A verified guest of an agent.
#[derive(sqlx::FromRow)]
pub(super) struct Verified {
    pub(super) guest_address: String,
    pub(super) email: String,
    pub(super) verified_at: i64,
}

/// The verified guests of an agent: those with a conversation with it, the latest first.
pub(super) async fn verified(db: &AnyPool, agent_id: &str) -> sqlx::Result<Vec<Verified>> {
    sqlx::query_as(
        "SELECT gi.guest_address AS guest_address, gi.email AS email, gi.verified_at AS verified_at \
         FROM guest_identities gi JOIN agents a ON a.org_id = gi.org_id \
         WHERE a.id = $1 AND EXISTS (SELECT 1 FROM conversations cv WHERE cv.agent_id = a.id AND cv.guest_address = gi.guest_address) \
         ORDER BY gi.verified_at DESC",
    )
    .bind(agent_id)
    .fetch_all(db)
    .await
}

/// Unlinks the email of a guest of this agent (one its Sharing page lists: an owner may not
/// unlink the email of a guest who talks only to other owners' agents); false if there is none.
pub(super) async fn revoke(tx: &mut AnyConnection, agent_id: &str, guest_address: &str) -> sqlx::Result<bool> {
    let removed = sqlx::query(
        "DELETE FROM guest_identities WHERE guest_address = $1 AND org_id = (SELECT org_id FROM agents WHERE id = $2) \
         AND EXISTS (SELECT 1 FROM conversations cv WHERE cv.agent_id = $2 AND cv.guest_address = $1)",
    )
    .bind(guest_address)
    .bind(agent_id)
    .execute(tx)
    .await?;
    Ok(removed.rows_affected() > 0)
}
