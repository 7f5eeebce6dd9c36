//! What the backoffice shows of an agent's conversations.

use std::collections::HashMap;

use app::model::{ConversationView, Direction, Me, MediaView, MessageView};

use crate::{error::Result, state::AppState};

pub async fn for_agent(state: &AppState, me: &Me, agent_id: &str) -> Result<Vec<ConversationView>> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let convs: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT cv.id, cv.guest_address, cv.guest_name, n.phone_number FROM conversations cv \
         JOIN numbers n ON n.id = cv.number_id JOIN agents a ON a.id = cv.agent_id \
         WHERE cv.agent_id = $1 AND a.org_id = $2 ORDER BY cv.last_inbound_at DESC LIMIT 50",
    )
    .bind(agent_id)
    .bind(&me.org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut messages: HashMap<String, Vec<MessageView>> = HashMap::new();
    let rows: Vec<(String, String, String, String, String, Option<i64>, Option<String>, Option<String>, i64)> = sqlx::query_as(
        "SELECT m.conversation_id, m.id, m.direction, m.body, m.status, m.error_code, m.error_message, m.note, m.created_at \
         FROM messages m JOIN conversations cv ON cv.id = m.conversation_id \
         WHERE cv.agent_id = $1 ORDER BY m.created_at, m.id",
    )
    .bind(agent_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut media: HashMap<String, Vec<MediaView>> = HashMap::new();
    let files: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT md.message_id, md.id, md.content_type, md.state, md.error FROM media md \
         JOIN messages m ON m.id = md.message_id JOIN conversations cv ON cv.id = m.conversation_id \
         WHERE cv.agent_id = $1 ORDER BY md.message_id, md.position",
    )
    .bind(agent_id)
    .fetch_all(&state.db.pool)
    .await?;
    for (message_id, id, content_type, state, error) in files {
        media.entry(message_id).or_default().push(MediaView { id, content_type, state, error });
    }
    for (conv, id, direction, body, status, code, error_message, note, at_ms) in rows {
        let error = match (code, error_message) {
            (Some(c), Some(m)) => Some(format!("{m} (error {c})")),
            (Some(c), None) => Some(format!("error {c}")),
            (None, m) => m,
        };
        messages.entry(conv).or_default().push(MessageView {
            media: media.remove(&id).unwrap_or_default(),
            id,
            direction: if direction == "inbound" { Direction::Inbound } else { Direction::Outbound },
            body,
            status,
            error,
            note,
            at_ms,
        });
    }
    Ok(convs
        .into_iter()
        .map(|(id, guest, guest_name, number)| ConversationView {
            messages: messages.remove(&id).unwrap_or_default(),
            id,
            guest,
            guest_name,
            number,
        })
        .collect())
}
