//! Retention: the organization's (or an agent's) period, and the job that deletes what is older:
//! messages with their media and execution records, and the conversations left without messages.
//! It works in transactions sized to take a few milliseconds and lets webhooks' writes go between
//! two (on SQLite they go first anyway), so a day's worth of history goes without holding them back.

use std::time::Duration;

use app::{accounts::Me, AppError};
use sqlx::AnyPool;

use crate::{
    audit::{self, Action},
    error::Result,
    now_ms,
    state::AppState,
};

const DAY_MS: i64 = 86_400_000;
/// Messages deleted per transaction: the size adapts so that a transaction takes about
/// [`BATCH_TIME`], between these bounds (a deletion writes each message's row, its index entries
/// and its words out of the text index; on SQLite the webhooks wait meanwhile).
const MIN_BATCH: usize = 20;
const MAX_BATCH: usize = 500;
const BATCH_TIME: Duration = Duration::from_millis(8);
/// Conversations a round of the job looks at (each round's transactions take them in turn).
const CONVERSATIONS: i64 = 50;
/// The shortest period: the dashboard keeps a day's counts two days after it ends, from its
/// messages; a week leaves room.
pub const MIN_DAYS: i64 = 7;
pub const MAX_DAYS: i64 = 3650;

/// Whose conversations a period applies to.
#[derive(Debug, Clone)]
enum Scope {
    /// The organization's, but those of agents with a period of their own.
    Organization(String),
    Agent(String),
}

impl Scope {
    /// The condition on `cv` (a conversation joined to its number `n` and connector `c`), binding `$1`.
    fn condition(&self) -> &'static str {
        match self {
            Scope::Organization(_) => {
                "c.org_id = $1 AND (cv.agent_id IS NULL OR cv.agent_id NOT IN \
                 (SELECT id FROM agents WHERE retention_days IS NOT NULL))"
            }
            Scope::Agent(_) => "cv.agent_id = $1",
        }
    }

    fn id(&self) -> &str {
        match self {
            Scope::Organization(id) | Scope::Agent(id) => id,
        }
    }
}

/// Every period set: the organizations' and the agents'.
async fn periods(db: &AnyPool) -> sqlx::Result<Vec<(Scope, i64)>> {
    let orgs: Vec<(String, i64)> =
        sqlx::query_as("SELECT id, retention_days FROM organizations WHERE retention_days IS NOT NULL")
            .fetch_all(db)
            .await?;
    let agents: Vec<(String, i64)> =
        sqlx::query_as("SELECT id, retention_days FROM agents WHERE retention_days IS NOT NULL").fetch_all(db).await?;
    Ok(orgs
        .into_iter()
        .map(|(id, days)| (Scope::Organization(id), days))
        .chain(agents.into_iter().map(|(id, days)| (Scope::Agent(id), days)))
        .collect())
}

/// Conversations of the scope holding messages older than `cutoff`: first those quiet since
/// (wholly older, or left with no message at all), then those active since that began before it.
/// A quiet one holding only newer messages (its last activity older than its newest message) has
/// nothing to delete and is not one: a round of 50 such would end the pass before the rest.
async fn candidates(db: &AnyPool, scope: &Scope, cutoff: i64) -> sqlx::Result<Vec<String>> {
    let from = "FROM conversations cv JOIN numbers n ON n.id = cv.number_id JOIN connectors c ON c.id = n.connector_id";
    let quiet: Vec<(String,)> = sqlx::query_as(&format!(
        "SELECT cv.id {from} WHERE cv.state IN ('live', 'ended') AND cv.last_activity_at < $2 AND {} \
         AND (EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = cv.id AND m.created_at < $2) \
         OR NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = cv.id)) LIMIT $3",
        scope.condition()
    ))
    .bind(scope.id())
    .bind(cutoff)
    .bind(CONVERSATIONS)
    .fetch_all(db)
    .await?;
    if !quiet.is_empty() {
        return Ok(quiet.into_iter().map(|(id,)| id).collect());
    }
    let active: Vec<(String,)> = sqlx::query_as(&format!(
        "SELECT cv.id {from} WHERE cv.state IN ('live', 'ended') AND cv.last_activity_at >= $2 \
         AND cv.created_at < $2 AND {} \
         AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = cv.id AND m.created_at < $2) LIMIT $3",
        scope.condition()
    ))
    .bind(scope.id())
    .bind(cutoff)
    .bind(CONVERSATIONS)
    .fetch_all(db)
    .await?;
    Ok(active.into_iter().map(|(id,)| id).collect())
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// What one of the job's transactions deleted.
struct Deleted {
    /// Messages.
    messages: usize,
    /// The conversations those messages were of.
    touched: usize,
    /// Conversations (quiet since the cutoff, with no message left).
    conversations: u64,
    /// The media files to remove.
    media: Vec<String>,
}

/// Deletes up to `limit` messages older than `cutoff` from these conversations (with their
/// media and the execution records as old), and the conversations quiet since that have none
/// left.
async fn delete_batch(state: &AppState, conversations: &[String], cutoff: i64, limit: usize) -> sqlx::Result<Deleted> {
    let db = &state.db;
    crate::db::retrying(|| async move {
        let mut tx = db.begin_write().await?;
        let list = placeholders(2, conversations.len());
        let sql = format!(
            "SELECT id, conversation_id FROM messages WHERE conversation_id IN ({list}) AND created_at < $1 \
             ORDER BY conversation_id, created_at LIMIT {limit}"
        );
        let mut q = sqlx::query_as::<_, (String, String)>(&sql).bind(cutoff);
        for id in conversations {
            q = q.bind(id);
        }
        let (messages, mut touched): (Vec<String>, Vec<String>) = q.fetch_all(&mut *tx).await?.into_iter().unzip();
        // In the query's order, a conversation's messages come together.
        touched.dedup();
        let mut media = Vec::new();
        if !messages.is_empty() {
            let ids = placeholders(1, messages.len());
            let sql = format!("SELECT id FROM media WHERE message_id IN ({ids})");
            let mut q = sqlx::query_as::<_, (String,)>(&sql);
            for id in &messages {
                q = q.bind(id);
            }
            media = q.fetch_all(&mut *tx).await?.into_iter().map(|(id,)| id).collect();
            let sql = format!("DELETE FROM messages WHERE id IN ({ids})");
            let mut q = sqlx::query(&sql);
            for id in &messages {
                q = q.bind(id);
            }
            q.execute(&mut *tx).await?;
        }
        let sql = format!("DELETE FROM executions WHERE conversation_id IN ({list}) AND created_at < $1");
        let mut q = sqlx::query(&sql).bind(cutoff);
        for id in conversations {
            q = q.bind(id);
        }
        q.execute(&mut *tx).await?;
        let sql = format!(
            "DELETE FROM conversations WHERE id IN ({list}) AND last_activity_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id)"
        );
        let mut q = sqlx::query(&sql).bind(cutoff);
        for id in conversations {
            q = q.bind(id);
        }
        let gone = q.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(Deleted { messages: messages.len(), touched: touched.len(), conversations: gone, media })
    })
    .await
}

/// How many messages the job's next transaction deletes, from how many conversations, and how
/// long it pauses after each.
#[derive(Debug)]
struct Pace {
    /// Messages a transaction deletes at most (its `LIMIT`).
    batch: usize,
    /// Old messages a conversation held, as the last transaction found them (0 when those it
    /// looked at held none: quiet conversations whose messages were deleted before).
    per_conversation: f64,
    /// Conversations a transaction takes when they hold no old message: each is still a row to
    /// delete, with its turns, outbox, execution records and its guest's entry in the text
    /// index, so their number is sized by time as the batch is.
    empties: usize,
}

/// Conversations without old messages the first such transaction takes.
const FIRST_EMPTIES: usize = 10;

impl Pace {
    fn new() -> Self {
        Pace { batch: MIN_BATCH, per_conversation: 20.0, empties: FIRST_EMPTIES }
    }

    /// Conversations for the next transaction: as many as hold its batch, or, when the last
    /// ones held no old message, as many as the time of such transactions allows.
    fn conversations(&self) -> usize {
        if self.per_conversation <= 0.0 {
            return self.empties;
        }
        ((self.batch as f64 / self.per_conversation).ceil() as usize).clamp(1, CONVERSATIONS as usize)
    }

    /// After a transaction that deleted `n` messages of `touched` conversations, having looked
    /// at `looked_at`, in `took` (waiting for the write turn included), sizes the next one, and
    /// returns the pause before it: as long as this one took, so that at most half the write
    /// turn is this job's. A full batch (`n` its size), or one that took too long, sizes the next
    /// as large as fits in [`BATCH_TIME`] at its pace, but at most half as large again. One cut
    /// short by its conversations says little of a full one's time (it paid a whole commit for
    /// fewer messages) and leaves the size as it is. Conversations with no old message are
    /// sized the same way, by how many of them fit in [`BATCH_TIME`].
    fn record(&mut self, n: usize, touched: usize, looked_at: usize, took: Duration) -> Duration {
        // A full batch stopped inside the last conversation it touched; one cut short read every
        // conversation it looked at, those with no old message among them.
        let read = if n >= self.batch { touched } else { looked_at };
        self.per_conversation = n as f64 / read.max(1) as f64;
        let fits = |units: usize| (BATCH_TIME.as_secs_f64() / took.as_secs_f64().max(1e-6) * units as f64) as usize;
        if n > 0 && (n >= self.batch || took > BATCH_TIME) {
            self.batch = fits(n).min(self.batch * 3 / 2).clamp(MIN_BATCH, MAX_BATCH);
        }
        if n == 0 && looked_at > 0 && (looked_at >= self.empties || took > BATCH_TIME) {
            self.empties = fits(looked_at).min((self.empties * 3).div_ceil(2)).clamp(1, CONVERSATIONS as usize);
        }
        took.max(Duration::from_millis(2))
    }
}

/// One pass: for every period set, deletes what is older, batch after batch. Returns the
/// messages deleted.
pub async fn sweep(state: &AppState) -> Result<usize> {
    let mut deleted = 0;
    for (scope, days) in periods(&state.db.pool).await? {
        let cutoff = now_ms() - days * DAY_MS;
        // Each scope's conversations are sized anew: an agent's may hold few old messages each,
        // the organization's many.
        let mut pace = Pace::new();
        loop {
            if state.workers.stopping() {
                return Ok(deleted);
            }
            let conversations = candidates(&state.db.pool, &scope, cutoff).await?;
            if conversations.is_empty() {
                break;
            }
            let mut progress = false;
            let mut rest = conversations.as_slice();
            while !rest.is_empty() {
                if state.workers.stopping() {
                    return Ok(deleted);
                }
                // As many as the batch has room for now, sized for each transaction.
                let (chunk, tail) = rest.split_at(pace.conversations().min(rest.len()));
                rest = tail;
                let started = std::time::Instant::now();
                let done = delete_batch(state, chunk, cutoff, pace.batch).await?;
                let took = started.elapsed();
                state.media.discard(&done.media).await;
                deleted += done.messages;
                progress |= done.messages > 0 || done.conversations > 0;
                for id in chunk {
                    state.events.changed(id);
                }
                tokio::time::sleep(pace.record(done.messages, done.touched, chunk.len(), took)).await;
            }
            if !progress {
                // Candidates with nothing left to delete (another instance, or an erasure, took
                // their old messages meanwhile): the next round would find the same ones.
                break;
            }
        }
    }
    Ok(deleted)
}

/// Audit lines and decided requests to be forgotten deleted per transaction.
const RECORDS_BATCH: i64 = 500;

/// Deletes the audit log's lines older than the deployment's period for them
/// (`SWITCHBOARD_AUDIT_DAYS`), and the requests to be forgotten decided as long ago (what is left
/// of one once decided says when and by whom, never the guest; the audit log keeps the decision
/// as long). Pending and approved requests stay whatever their age. Returns the rows deleted.
pub async fn prune_records(state: &AppState) -> Result<u64> {
    let Some(days) = state.tuning.audit_days else { return Ok(0) };
    let cutoff = now_ms() - days * DAY_MS;
    // Ids begin with their time (`new_id`): the old rows are the first ones in the key's order (a
    // request is decided after it is made, so one decided before the cutoff was made before it).
    let below = format!("{:012x}", cutoff.max(0));
    let lines = "DELETE FROM audit_log WHERE id IN \
                 (SELECT id FROM audit_log WHERE id < $1 AND at < $2 ORDER BY id LIMIT $3)";
    let requests = "DELETE FROM forget_requests WHERE id IN (SELECT id FROM forget_requests WHERE id < $1 \
                    AND state IN ('declined', 'done') AND COALESCE(done_at, decided_at) < $2 ORDER BY id LIMIT $3)";
    Ok(delete_batches(state, lines, &below, cutoff).await? + delete_batches(state, requests, &below, cutoff).await?)
}

/// Runs `sql` (binding the id and the time rows are older than, and the batch's size) until it
/// deletes fewer rows than a batch, a transaction each.
async fn delete_batches(state: &AppState, sql: &str, below: &str, cutoff: i64) -> sqlx::Result<u64> {
    let mut deleted = 0;
    while !state.workers.stopping() {
        let db = &state.db;
        let n = crate::db::retrying(|| async move {
            let mut tx = db.begin_write().await?;
            let n = sqlx::query(sql).bind(below).bind(cutoff).bind(RECORDS_BATCH).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n.rows_affected())
        })
        .await?;
        deleted += n;
        if n < RECORDS_BATCH as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(deleted)
}

/// The retention worker: a pass every `interval`.
pub async fn worker(state: AppState, interval: Duration) {
    while !state.workers.stopping() {
        match sweep(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(messages = n, "messages past their retention period deleted"),
            Err(e) => tracing::warn!(error = %e, "cannot delete messages past their retention period"),
        }
        match prune_records(&state).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(rows = n, "audit lines and decided requests to be forgotten past their period deleted")
            }
            Err(e) => tracing::warn!(error = %e, "cannot delete audit lines past their period"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// A period as typed: empty keeps everything; otherwise whole days from [`MIN_DAYS`] to [`MAX_DAYS`].
pub fn parse_days(text: &str) -> Result<Option<i64>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<i64>() {
        Ok(days) if (MIN_DAYS..=MAX_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(AppError::invalid(
            "days",
            format!("Give a number of days from {MIN_DAYS} to {MAX_DAYS}, or leave it empty to keep everything."),
        )
        .into()),
    }
}

fn words(days: Option<i64>) -> String {
    match days {
        Some(d) => format!("Kept for {d} days."),
        None => "Kept until deleted.".to_string(),
    }
}

/// Sets the organization's period, or an agent's (`agent_id`; `None` days: the organization's).
pub async fn set(state: &AppState, me: &Me, agent_id: Option<&str>, days: Option<i64>) -> Result<()> {
    crate::accounts::require_admin(me)?;
    let mut tx = state.db.begin_write().await?;
    let subject = match agent_id {
        None => {
            sqlx::query("UPDATE organizations SET retention_days = $1 WHERE id = $2")
                .bind(days)
                .bind(&me.org_id)
                .execute(&mut *tx)
                .await?;
            me.org_name.clone()
        }
        Some(agent) => {
            let name: Option<(String,)> = sqlx::query_as("SELECT name FROM agents WHERE id = $1 AND org_id = $2")
                .bind(agent)
                .bind(&me.org_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((name,)) = name else { return Err(AppError::NotFound("Agent".into()).into()) };
            sqlx::query("UPDATE agents SET retention_days = $1 WHERE id = $2")
                .bind(days)
                .bind(agent)
                .execute(&mut *tx)
                .await?;
            format!("Agent {name}")
        }
    };
    let detail = match (agent_id, days) {
        (Some(_), None) => "Follows the organization's period.".to_string(),
        _ => words(days),
    };
    audit::record(&mut tx, &me.org_id, &audit::actor(me), Action::RetentionChanged, &subject, &detail).await?;
    tx.commit().await?;
    Ok(())
}

/// The organization's period and the agents with their own: (agent id, name, days).
pub async fn periods_of(db: &AnyPool, org_id: &str) -> sqlx::Result<(Option<i64>, Vec<(String, String, i64)>)> {
    let (org,): (Option<i64>,) =
        sqlx::query_as("SELECT retention_days FROM organizations WHERE id = $1").bind(org_id).fetch_one(db).await?;
    let agents = sqlx::query_as(
        "SELECT id, name, retention_days FROM agents WHERE org_id = $1 AND retention_days IS NOT NULL ORDER BY name",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?;
    Ok((org, agents))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Pace, BATCH_TIME, CONVERSATIONS};

    /// The job's transactions over conversations of `sizes` old messages each, as `delete_batch`
    /// takes them (in the conversations' order, up to the batch's `LIMIT`; a conversation it
    /// leaves some of comes back with the rest), at a steady cost: 1 ms a transaction (its
    /// commit) and 125 µs a message. Returns each transaction's (messages, time).
    fn simulate(sizes: impl IntoIterator<Item = usize>) -> Vec<(usize, Duration)> {
        simulate_at(sizes, 0)
    }

    /// [`simulate`] with `per_conversation` µs for each conversation deleted.
    fn simulate_at(sizes: impl IntoIterator<Item = usize>, per_conversation: u64) -> Vec<(usize, Duration)> {
        let cost =
            |n: usize, gone: usize| Duration::from_micros(1_000 + 125 * n as u64 + per_conversation * gone as u64);
        let mut left: std::collections::VecDeque<usize> = sizes.into_iter().collect();
        let mut pace = Pace::new();
        let mut done = Vec::new();
        while !left.is_empty() {
            let k = pace.conversations().min(left.len());
            let (mut room, mut touched) = (pace.batch, 0);
            for held in left.iter_mut().take(k) {
                let taken = (*held).min(room);
                *held -= taken;
                room -= taken;
                touched += usize::from(taken > 0);
            }
            let n = pace.batch - room;
            // Those it looked at and left without an old message are deleted (quiet since, as
            // the benchmark's); the others wait for the next transaction.
            let kept: Vec<usize> = left.drain(..k).filter(|&held| held > 0).collect();
            let gone = k - kept.len();
            for held in kept.into_iter().rev() {
                left.push_front(held);
            }
            let took = cost(n, gone);
            assert_eq!(
                pace.record(n, touched, k, took),
                took.max(Duration::from_millis(2)),
                "paused as long as it took"
            );
            done.push((n, took));
        }
        done
    }

    /// No transaction of `done` took much longer than it is sized for, and there are about as
    /// few as transactions of [`BATCH_TIME`] need, give or take half (`what` names the case).
    fn assert_paced(done: &[(usize, Duration)], what: &str) {
        let longest = done.iter().map(|(_, t)| *t).max().unwrap();
        assert!(longest <= BATCH_TIME * 3 / 2, "{what}: a transaction took {longest:?}");
        let work: Duration = done.iter().map(|(_, t)| *t).sum();
        let needed = work.as_secs_f64() / BATCH_TIME.as_secs_f64();
        assert!(
            (done.len() as f64) < needed * 1.5 + 10.0,
            "{what}: {} transactions where about {needed:.0} would do",
            done.len()
        );
    }

    /// Conversations of 20 messages, of 2 and of 1, and mixes (short ones first, which a batch
    /// sized by its quick transactions alone would grow on, to find long ones after): the batch
    /// settles where a transaction takes about the time it is sized for, none takes much longer,
    /// and short conversations go many to a transaction, not one each.
    #[test]
    fn a_transaction_takes_about_the_time_it_is_sized_for_whatever_the_conversations() {
        for sizes in [
            vec![20; 2_000],
            vec![2; 2_000],
            vec![1; 2_000],
            [vec![3; 300], vec![20; 1_000], vec![1; 300]].concat(),
            [vec![1; 500], vec![20; 1_000]].concat(),
        ] {
            let messages: usize = sizes.iter().sum();
            let done = simulate(sizes.clone());
            assert_eq!(done.iter().map(|(n, _)| n).sum::<usize>(), messages, "every message deleted");
            assert_paced(&done, &format!("{}-message conversations", sizes[0]));
        }
    }

    /// Conversations quiet since the cutoff with no old message left (their messages deleted
    /// before, a guest's erased): the job deletes their rows many to a transaction, not one each,
    /// as many as fit in a transaction's time, and conversations with messages after them are
    /// sized as before.
    #[test]
    fn conversations_without_old_messages_go_many_to_a_transaction() {
        // Cheap to delete (50 µs each): a round's worth to a transaction once the size has grown.
        let done = simulate_at(vec![0; 2_000], 50);
        assert!(
            done.len() <= 2_000 / CONVERSATIONS as usize + 6,
            "{} transactions for 2,000 empty conversations",
            done.len()
        );
        // Dear to delete (1 ms each): as many as fit in a transaction's time, none much longer.
        for per_conversation in [300, 1_000] {
            let done = simulate_at(vec![0; 2_000], per_conversation);
            assert_paced(&done, &format!("at {per_conversation} µs a conversation"));
        }

        let sizes = [vec![20; 500], vec![0; 1_000], vec![20; 500]].concat();
        let done = simulate(sizes.clone());
        assert_eq!(done.iter().map(|(n, _)| n).sum::<usize>(), sizes.iter().sum::<usize>(), "every message deleted");
        assert_paced(&done, "empty conversations between long ones");
    }
}
