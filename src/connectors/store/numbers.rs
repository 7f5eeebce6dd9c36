//! A connector's numbers as stored: what Twilio lists, the sandbox, the Phone Numbers checklist,
//! which are active, and where "Set webhook" stands on each.

use app::connectors::{NumberRow, Provider, WebhookState};
use sqlx::{AnyConnection, AnyPool};

use super::webhook_state_of;

/// A sender or number as Twilio lists it.
pub(in crate::connectors) struct Found {
    pub(in crate::connectors) address: String,
    pub(in crate::connectors) phone_number: String,
    pub(in crate::connectors) provider: Provider,
    pub(in crate::connectors) sid: String,
    pub(in crate::connectors) display_name: Option<String>,
    pub(in crate::connectors) status: Option<String>,
}

/// Records what Twilio lists (new numbers inactive; known ones keep their state).
pub(in crate::connectors) async fn upsert_numbers(
    tx: &mut AnyConnection,
    connector_id: &str,
    found: Vec<Found>,
    now: i64,
) -> sqlx::Result<()> {
    for f in found {
        sqlx::query(
            "INSERT INTO numbers (id, connector_id, address, phone_number, provider, provider_sid, display_name, sender_status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (connector_id, address) DO UPDATE SET provider_sid = excluded.provider_sid, \
             display_name = excluded.display_name, sender_status = excluded.sender_status",
        )
        .bind(crate::new_id())
        .bind(connector_id)
        .bind(f.address)
        .bind(f.phone_number)
        .bind(f.provider.as_str())
        .bind(f.sid)
        .bind(f.display_name)
        .bind(f.status)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Adds the WhatsApp sandbox with its join words, or changes them.
pub(in crate::connectors) async fn upsert_sandbox(
    db: &AnyPool,
    connector_id: &str,
    address: &str,
    phone_number: &str,
    sid: &str,
    join: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO numbers (id, connector_id, address, phone_number, provider, provider_sid, display_name, \
         sender_status, sandbox_join, created_at) VALUES ($1, $2, $3, $4, 'whatsapp', $5, 'WhatsApp sandbox', \
         'SANDBOX', $6, $7) ON CONFLICT (connector_id, address) DO UPDATE SET sandbox_join = excluded.sandbox_join",
    )
    .bind(crate::new_id())
    .bind(connector_id)
    .bind(address)
    .bind(phone_number)
    .bind(sid)
    .bind(join)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ChecklistRow {
    id: String,
    phone_number: String,
    provider: String,
    display_name: Option<String>,
    sender_status: Option<String>,
    active: i64,
    webhook_state: String,
    webhook_detail: Option<String>,
    bound_agent: Option<String>,
    sandbox_join: Option<String>,
}

impl From<ChecklistRow> for NumberRow {
    fn from(r: ChecklistRow) -> Self {
        NumberRow {
            id: r.id,
            phone_number: r.phone_number,
            provider: Provider::stored(&r.provider),
            display_name: r.display_name,
            sender_status: r.sender_status,
            active: r.active != 0,
            webhook: if r.sandbox_join.is_some() { WebhookState::Manual } else { webhook_state_of(&r.webhook_state) },
            webhook_detail: r.webhook_detail,
            bound_agent: r.bound_agent,
            sandbox_join: r.sandbox_join,
        }
    }
}

/// The Phone Numbers checklist as saved.
pub(in crate::connectors) async fn checklist(db: &AnyPool, connector_id: &str) -> sqlx::Result<Vec<NumberRow>> {
    let rows: Vec<ChecklistRow> = sqlx::query_as(
        "SELECT n.id AS id, n.phone_number AS phone_number, n.provider AS provider, n.display_name AS display_name, \
         n.sender_status AS sender_status, n.active AS active, n.webhook_state AS webhook_state, \
         n.webhook_detail AS webhook_detail, a.name AS bound_agent, n.sandbox_join AS sandbox_join \
         FROM numbers n LEFT JOIN channels ch ON ch.number_id = n.id LEFT JOIN agents a ON a.id = ch.agent_id \
         WHERE n.connector_id = $1 ORDER BY n.phone_number, n.provider DESC",
    )
    .bind(connector_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// A number as saving the checklist sees it.
#[derive(sqlx::FromRow)]
pub(in crate::connectors) struct Activation {
    pub(in crate::connectors) id: String,
    pub(in crate::connectors) phone_number: String,
    pub(in crate::connectors) active: i64,
    pub(in crate::connectors) agent: Option<String>,
}

pub(in crate::connectors) async fn activations(
    tx: &mut AnyConnection,
    connector_id: &str,
) -> sqlx::Result<Vec<Activation>> {
    sqlx::query_as(
        "SELECT n.id AS id, n.phone_number AS phone_number, n.active AS active, a.name AS agent FROM numbers n \
         LEFT JOIN channels ch ON ch.number_id = n.id LEFT JOIN agents a ON a.id = ch.agent_id WHERE n.connector_id = $1",
    )
    .bind(connector_id)
    .fetch_all(&mut *tx)
    .await
}

/// Turns a number on or off; off also removes its channel when `unbind`.
pub(in crate::connectors) async fn set_active(
    tx: &mut AnyConnection,
    number_id: &str,
    active: bool,
    unbind: bool,
) -> sqlx::Result<()> {
    if unbind {
        sqlx::query("DELETE FROM channels WHERE number_id = $1").bind(number_id).execute(&mut *tx).await?;
    }
    sqlx::query("UPDATE numbers SET active = $1 WHERE id = $2")
        .bind(i64::from(active))
        .bind(number_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A number as "Set webhook", "Send test message" and deleting the connector need it.
#[derive(sqlx::FromRow)]
pub(in crate::connectors) struct TargetRow {
    pub(in crate::connectors) id: String,
    pub(in crate::connectors) address: String,
    pub(in crate::connectors) phone_number: String,
    pub(in crate::connectors) provider: String,
    pub(in crate::connectors) provider_sid: String,
    pub(in crate::connectors) active: i64,
    pub(in crate::connectors) sandbox_join: Option<String>,
    pub(in crate::connectors) webhook_state: String,
}

/// The connector's numbers, by phone number; with `only`, just that one (an empty id is none).
pub(in crate::connectors) async fn targets(
    db: &AnyPool,
    connector_id: &str,
    only: Option<&str>,
) -> sqlx::Result<Vec<TargetRow>> {
    const COLUMNS: &str =
        "SELECT id, address, phone_number, provider, provider_sid, active, sandbox_join, webhook_state \
         FROM numbers WHERE connector_id = $1";
    match only {
        Some(number_id) => {
            sqlx::query_as(&format!("{COLUMNS} AND id = $2")).bind(connector_id).bind(number_id).fetch_all(db).await
        }
        None => {
            sqlx::query_as(&format!("{COLUMNS} ORDER BY phone_number, provider DESC"))
                .bind(connector_id)
                .fetch_all(db)
                .await
        }
    }
}

pub(in crate::connectors) async fn record_webhook(
    db: &AnyPool,
    number_id: &str,
    configured: bool,
    detail: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE numbers SET webhook_state = $1, webhook_detail = $2 WHERE id = $3")
        .bind(if configured { "configured" } else { "not_configured" })
        .bind(detail)
        .bind(number_id)
        .execute(db)
        .await?;
    Ok(())
}
