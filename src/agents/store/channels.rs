//! The channels' rows: which number an agent answers on, with its routes, and the WhatsApp
//! bindings (channels on WhatsApp numbers) the REST API shows.

use app::{
    agents::{ChannelOption, ChannelRow},
    connectors::Provider,
};
use sqlx::AnyPool;

// ---- channels ----

#[derive(sqlx::FromRow)]
struct ChannelDbRow {
    id: String,
    connector_name: String,
    phone_number: String,
    provider: String,
    inbound_from: Option<String>,
    outbound_to: Option<String>,
}

/// The agent's channels, by number.
pub(in crate::agents) async fn channels(db: &AnyPool, agent_id: &str) -> sqlx::Result<Vec<ChannelRow>> {
    let rows: Vec<ChannelDbRow> = sqlx::query_as(
        "SELECT ch.id AS id, c.name AS connector_name, n.phone_number AS phone_number, n.provider AS provider, \
         ch.inbound_from AS inbound_from, ch.outbound_to AS outbound_to FROM channels ch \
         JOIN numbers n ON n.id = ch.number_id JOIN connectors c ON c.id = n.connector_id WHERE ch.agent_id = $1 \
         ORDER BY n.phone_number",
    )
    .bind(agent_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ChannelRow {
            id: r.id,
            connector_name: r.connector_name,
            phone_number: r.phone_number,
            provider: Provider::stored(&r.provider),
            inbound_from: r.inbound_from,
            outbound_to: r.outbound_to,
        })
        .collect())
}

/// Sets a channel's routes; false when the agent has no such channel.
pub(in crate::agents) async fn set_routes(
    db: &AnyPool,
    agent_id: &str,
    channel_id: &str,
    inbound_from: Option<&str>,
    outbound_to: Option<&str>,
) -> sqlx::Result<bool> {
    let updated =
        sqlx::query("UPDATE channels SET inbound_from = $1, outbound_to = $2 WHERE id = $3 AND agent_id = $4")
            .bind(inbound_from)
            .bind(outbound_to)
            .bind(channel_id)
            .bind(agent_id)
            .execute(db)
            .await?;
    Ok(updated.rows_affected() > 0)
}

#[derive(sqlx::FromRow)]
struct OptionRow {
    number_id: String,
    phone_number: String,
    provider: String,
    agent_id: Option<String>,
    bound_to: Option<String>,
}

/// The connector's active numbers, each with the agent it answers for if not `agent_id`.
pub(in crate::agents) async fn channel_options(
    db: &AnyPool,
    org_id: &str,
    connector_id: &str,
    agent_id: &str,
) -> sqlx::Result<Vec<ChannelOption>> {
    let rows: Vec<OptionRow> = sqlx::query_as(
        "SELECT n.id AS number_id, n.phone_number AS phone_number, n.provider AS provider, ch.agent_id AS agent_id, \
         a.name AS bound_to FROM numbers n \
         JOIN connectors c ON c.id = n.connector_id \
         LEFT JOIN channels ch ON ch.number_id = n.id LEFT JOIN agents a ON a.id = ch.agent_id \
         WHERE n.connector_id = $1 AND c.org_id = $2 AND n.active = 1 ORDER BY n.phone_number",
    )
    .bind(connector_id)
    .bind(org_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let here = r.agent_id.as_deref() == Some(agent_id);
            ChannelOption {
                number_id: r.number_id,
                phone_number: r.phone_number,
                provider: Provider::stored(&r.provider),
                bound_to: r.bound_to.filter(|_| !here),
                here,
            }
        })
        .collect())
}

/// A number of the organization as binding it needs it.
#[derive(sqlx::FromRow)]
pub(in crate::agents) struct Bindable {
    active: i64,
    pub(in crate::agents) phone_number: String,
    pub(in crate::agents) provider: String,
    pub(in crate::agents) connector_name: String,
}

impl Bindable {
    pub(in crate::agents) fn active(&self) -> bool {
        self.active != 0
    }
}

pub(in crate::agents) async fn bindable(db: &AnyPool, org_id: &str, number_id: &str) -> sqlx::Result<Option<Bindable>> {
    sqlx::query_as(
        "SELECT n.active AS active, n.phone_number AS phone_number, n.provider AS provider, \
         c.name AS connector_name FROM numbers n JOIN connectors c ON c.id = n.connector_id \
         WHERE n.id = $1 AND c.org_id = $2",
    )
    .bind(number_id)
    .bind(org_id)
    .fetch_optional(db)
    .await
}

/// The unique-constraint violation binding a number that already has an agent gives.
pub(in crate::agents) fn is_number_bound(e: &sqlx::Error) -> bool {
    crate::error::is_unique_violation(e, "channels_number_key", "channels.number_id")
}

pub(in crate::agents) async fn insert_channel(
    db: &AnyPool,
    id: &str,
    agent_id: &str,
    number_id: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO channels (id, agent_id, number_id, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(agent_id)
        .bind(number_id)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

/// The name of the agent the number is bound to, if any.
pub(in crate::agents) async fn bound_to(db: &AnyPool, number_id: &str) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT a.name FROM channels ch JOIN agents a ON a.id = ch.agent_id WHERE ch.number_id = $1")
            .bind(number_id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(name,)| name))
}

/// Unbinds; false when the agent has no such channel.
pub(in crate::agents) async fn delete_channel(db: &AnyPool, agent_id: &str, channel_id: &str) -> sqlx::Result<bool> {
    let deleted = sqlx::query("DELETE FROM channels WHERE id = $1 AND agent_id = $2")
        .bind(channel_id)
        .bind(agent_id)
        .execute(db)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

// ---- WhatsApp bindings (channels on WhatsApp numbers) ----

#[derive(sqlx::FromRow)]
pub(in crate::agents) struct BindingRow {
    pub(in crate::agents) channel_id: String,
    pub(in crate::agents) connector_id: String,
    pub(in crate::agents) connector: String,
    pub(in crate::agents) number_id: String,
    pub(in crate::agents) number: String,
    pub(in crate::agents) webhook_key: String,
    pub(in crate::agents) webhook_state: String,
    pub(in crate::agents) sandbox_join: Option<String>,
}

pub(in crate::agents) async fn whatsapp_bindings(db: &AnyPool, agent_id: &str) -> sqlx::Result<Vec<BindingRow>> {
    sqlx::query_as(
        "SELECT ch.id AS channel_id, c.id AS connector_id, c.name AS connector, n.id AS number_id, \
         n.phone_number AS number, c.webhook_key AS webhook_key, n.webhook_state AS webhook_state, \
         n.sandbox_join AS sandbox_join FROM channels ch \
         JOIN numbers n ON n.id = ch.number_id JOIN connectors c ON c.id = n.connector_id \
         WHERE ch.agent_id = $1 AND n.provider = 'whatsapp' ORDER BY n.phone_number",
    )
    .bind(agent_id)
    .fetch_all(db)
    .await
}

/// The id of the WhatsApp `number` on the organization's connector called (or with the id) `connector`.
pub(in crate::agents) async fn whatsapp_number(
    db: &AnyPool,
    org_id: &str,
    connector: &str,
    number: &str,
) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT n.id FROM numbers n JOIN connectors c ON c.id = n.connector_id \
         WHERE c.org_id = $1 AND (c.id = $2 OR c.name = $2) AND n.provider = 'whatsapp' AND n.phone_number = $3",
    )
    .bind(org_id)
    .bind(connector)
    .bind(number)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id,)| id))
}
