//! Status callbacks stored in batches: each moves its message forward (never backwards), and a
//! 63016 closes the conversation's 24-hour window unless the guest wrote since.

use sqlx::Row;

use super::{batch::GroupWrite, jobs::StatusUpdate};
use crate::{
    db::{Statement, Value},
    now_ms,
    state::AppState,
    twilio::status::status_rank,
};

/// Writes status callbacks in batches; the outcome says whether the message moved forward.
pub struct StatusWriter {
    pub state: AppState,
}

impl GroupWrite for StatusWriter {
    type Job = StatusUpdate;
    type Outcome = bool;

    async fn write(&self, jobs: &[&StatusUpdate]) -> sqlx::Result<Vec<bool>> {
        let now = now_ms();
        // The messages' rows are locked in one order every batch follows (by message id, else
        // SID): on PostgreSQL two instances' batches holding callbacks for the same replies would
        // otherwise each wait for the other, until one is cancelled as a deadlock.
        let mut ordered: Vec<&StatusUpdate> = jobs.to_vec();
        ordered.sort_by(|a, b| (a.message_id.as_deref(), &a.sid).cmp(&(b.message_id.as_deref(), &b.sid)));
        let script = ordered.iter().flat_map(|job| status_statements(job, now)).collect();
        let rows = self.state.db.write_script(script, true).await?;
        let mut moved = Vec::with_capacity(rows.len());
        for row in rows {
            self.state.events.changed(&row.try_get::<String, _>(2)?);
            moved.push((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?));
        }
        Ok(jobs
            .iter()
            .map(|job| moved.iter().any(|(id, sid)| job.message_id.as_deref().map_or(sid == &job.sid, |m| m == id)))
            .collect())
    }
}

/// Moves the message forward to the callback's status (never backwards), returning its id and
/// SID when it moved; 63016 also closes the conversation's window unless the guest wrote after
/// the message was queued. The message is found by the id in the callback URL, which works even
/// before the send has recorded Twilio's SID, or else by that SID.
fn status_statements(job: &StatusUpdate, now: i64) -> Vec<Statement> {
    // $1 SID, $2 connector, $3 message id when known.
    let mut find: Vec<Value> = vec![job.sid.as_str().into(), job.connector_id.as_str().into()];
    let locate = match &job.message_id {
        Some(id) => {
            find.push(id.as_str().into());
            "id = $3 AND connector_id = $2 AND direction = 'outbound' AND (twilio_sid IS NULL OR twilio_sid = $1)"
        }
        None => "twilio_sid = $1 AND connector_id = $2 AND direction = 'outbound'",
    };
    let placeholders = find.len();
    let update = Statement {
        sql: format!(
            "UPDATE messages SET twilio_sid = COALESCE(twilio_sid, $1), status = ${s}, status_rank = ${r}, \
             error_code = COALESCE(${c}, error_code), error_message = COALESCE(${m}, error_message) \
             WHERE {locate} AND status_rank < ${r} RETURNING id, twilio_sid, conversation_id",
            s = placeholders + 1,
            r = placeholders + 2,
            c = placeholders + 3,
            m = placeholders + 4,
        ),
        args: find.clone(),
    }
    .bind(job.status.as_str())
    .bind(status_rank(&job.status))
    .bind(job.code)
    .bind(job.meaning.clone());
    let mut statements = vec![update];
    if job.code == Some(63016) {
        statements.push(
            Statement {
                sql: format!(
                    "UPDATE conversations SET window_closed_at = ${n} \
                     WHERE id = (SELECT conversation_id FROM messages WHERE {locate}) \
                       AND last_inbound_at < (SELECT created_at FROM messages WHERE {locate})",
                    n = placeholders + 1
                ),
                args: find,
            }
            .bind(now),
        );
    }
    statements
}
