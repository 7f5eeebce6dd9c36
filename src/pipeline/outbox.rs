//! The outbox: messages on their way out (an agent's replies, staff replies, proactive
//! messages, access prompts) queued in their conversation's send order for [`super::sender`].

use crate::{
    db::{Condition, Statement},
    state::AppState,
};

/// A message on its way out, as queued for the sender.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub id: String,
    pub body: String,
    /// Shown beside the message in the backoffice.
    pub note: Option<String>,
    /// Who wrote it when not the agent's brain: `switchboard` (access prompts, command answers).
    pub origin: Option<&'static str>,
    /// An explicit template (Content SID and variables), sent whatever the window.
    pub template: Option<(String, Option<String>)>,
    /// The brain's execution record behind an agent's reply.
    pub execution_id: Option<String>,
    /// The choices offered with it (buttons or a list), as JSON.
    pub choices: Option<String>,
}

impl Outgoing {
    pub fn text(body: impl Into<String>) -> Self {
        Self { id: crate::new_id(), body: body.into(), ..Self::default() }
    }
}

/// The statements that queue messages for the sender at the end of their conversations' send
/// orders, each only when `condition` holds. Each conversation's places are reserved first, in
/// the order given (which, a message on its way out being activity, also makes it live again if
/// it had ended); every message's row and outbox entry follow, its place read back from its
/// conversation. Callers that also lock the turn do so after these, as the webhook does.
///
/// The messages go in by the last character of their id: each adds to the dashboard's counter of
/// that shard (migration 0024) in the same transaction, and on PostgreSQL two transactions taking
/// two shards in opposite orders would each wait for the other until one was cancelled as a
/// deadlock. The webhook's batches take them in this order too.
pub fn queue_statements(
    queues: &[(&str, &[Outgoing])],
    connector_id: &str,
    now: i64,
    condition: &Condition,
) -> Vec<Statement> {
    let (c, k) = (&condition.sql, condition.next());
    // Each conversation once, with all its messages in the order given.
    let mut conversations: Vec<(&str, Vec<&Outgoing>)> = Vec::new();
    for (conversation_id, messages) in queues {
        match conversations.iter_mut().find(|(id, _)| id == conversation_id) {
            Some((_, all)) => all.extend(messages.iter()),
            None => conversations.push((conversation_id, messages.iter().collect())),
        }
    }
    conversations.retain(|(_, messages)| !messages.is_empty());
    let mut statements = Vec::new();
    // (the message, its conversation, how many of that conversation's messages come after it)
    let mut rows: Vec<(&Outgoing, &str, usize)> = Vec::new();
    for (conversation_id, messages) in &conversations {
        statements.push(
            condition
                .statement(format!(
                    "UPDATE conversations SET out_seq = out_seq + ${k}, last_activity_at = ${}, state = 'live', \
                     ended_at = NULL WHERE id = ${} AND {c}",
                    k + 1,
                    k + 2
                ))
                .bind(messages.len() as i64)
                .bind(now)
                .bind(*conversation_id),
        );
        rows.extend(messages.iter().enumerate().map(|(i, m)| (*m, *conversation_id, messages.len() - 1 - i)));
    }
    rows.sort_by(|a, b| (a.0.id.chars().last(), &a.0.id).cmp(&(b.0.id.chars().last(), &b.0.id)));
    for (m, conversation_id, after) in rows {
        statements.push(
            condition
                .statement(format!(
                    "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, note, origin, \
                     template_sid, template_variables, execution_id, choices, created_at) \
                     SELECT ${k}, ${}, ${}, 'outbound', ${}, 'pending', ${}, ${}, ${}, ${}, ${}, ${}, ${} WHERE {c}",
                    k + 1,
                    k + 2,
                    k + 3,
                    k + 4,
                    k + 5,
                    k + 6,
                    k + 7,
                    k + 8,
                    k + 9,
                    k + 10
                ))
                .bind(m.id.as_str())
                .bind(conversation_id)
                .bind(connector_id)
                .bind(m.body.as_str())
                .bind(m.note.as_deref())
                .bind(m.origin)
                .bind(m.template.as_ref().map(|t| t.0.clone()))
                .bind(m.template.as_ref().and_then(|t| t.1.clone()))
                .bind(m.execution_id.as_deref())
                .bind(m.choices.as_deref())
                .bind(now),
        );
        statements.push(
            condition
                .statement(format!(
                    "INSERT INTO outbox (message_id, conversation_id, seq, state, run_at, created_at) \
                     SELECT ${k}, ${}, (SELECT out_seq FROM conversations WHERE id = ${}) - ${}, 'pending', ${}, ${} \
                     WHERE {c}",
                    k + 1,
                    k + 1,
                    k + 2,
                    k + 3,
                    k + 3
                ))
                .bind(m.id.as_str())
                .bind(conversation_id)
                .bind(after as i64)
                .bind(now),
        );
    }
    statements
}

/// Queues messages for the sender within a transaction (see [`queue_statements`]).
pub async fn queue(
    tx: &mut crate::db::WriteTx,
    conversation_id: &str,
    connector_id: &str,
    messages: &[Outgoing],
    now: i64,
) -> sqlx::Result<()> {
    for statement in queue_statements(&[(conversation_id, messages)], connector_id, now, &Condition::always()) {
        statement.run(tx).await?;
    }
    Ok(())
}

/// Opens the conversation with `address` on the number for the agent, if it is new (its last
/// activity is now: the inbox orders by it from the start); returns its id, then its guest's last
/// message and when WhatsApp's window closed, for the window rule.
pub fn open_statement(number_id: &str, address: &str, agent_id: Option<&str>, now: i64) -> Statement {
    Statement::new(
        "INSERT INTO conversations (id, number_id, guest_address, agent_id, created_at, last_activity_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (number_id, guest_address) \
         DO UPDATE SET agent_id = COALESCE(conversations.agent_id, excluded.agent_id) \
         RETURNING id, last_inbound_at, window_closed_at",
    )
    .bind(crate::new_id())
    .bind(number_id)
    .bind(address)
    .bind(agent_id)
    .bind(now)
}

/// The conversation with `address` on the number, created (for the agent) if new; its id.
pub async fn open(state: &AppState, number_id: &str, address: &str, agent_id: Option<&str>) -> sqlx::Result<String> {
    let rows =
        state.db.write_script(vec![open_statement(number_id, address, agent_id, crate::now_ms())], false).await?;
    let row = rows.first().ok_or(sqlx::Error::RowNotFound)?;
    sqlx::Row::try_get(row, 0)
}
