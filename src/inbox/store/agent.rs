//! An agent's side of the inbox: its conversations a page at a time, the numbers a proactive
//! message may go from (the conversation it opens is the outbox's, `outbox::open_statement`), and
//! the inactivity after which its conversations end.

use sqlx::{AnyConnection, AnyPool};

use super::Place;

/// A conversation on an agent's page; `at` is its place in the order.
#[derive(sqlx::FromRow)]
pub(in crate::inbox) struct AgentRow {
    pub(in crate::inbox) id: String,
    pub(in crate::inbox) guest_address: String,
    pub(in crate::inbox) guest_name: Option<String>,
    pub(in crate::inbox) phone_number: String,
    pub(in crate::inbox) at: i64,
}

/// Up to `limit` of the agent's conversations after `after`, from the most recently active;
/// `walk` when the agent has many ([`crate::config::Tuning::agent_walk_from`]).
///
/// An agent with few conversations has them gathered along the index of conversations by agent
/// and sorted. One with many has each state's conversations read along the index on (state, last
/// activity, id), the agent's kept, and the two reads merged: a page then reads about as many rows
/// as it shows, where sorting an agent's half a million conversations for each page took 300 ms
/// (ten million messages, the REST API's first page). No index on (agent, activity): every
/// inbound message would write it again (migration 0011).
pub(in crate::inbox) async fn agent_page(
    db: &AnyPool,
    backend: crate::db::Backend,
    org_id: &str,
    agent_id: &str,
    walk: bool,
    after: Option<&Place>,
    limit: i64,
) -> sqlx::Result<Vec<AgentRow>> {
    // The first page starts after a place later than any: one query, whose bound the database
    // can use on the index it reads.
    let top = Place { at: i64::MAX, id: String::new() };
    let after = after.unwrap_or(&top);
    sqlx::query_as(&agent_page_sql(backend, walk, limit))
        .bind(agent_id)
        .bind(org_id)
        .bind(after.at)
        .bind(&after.id)
        .fetch_all(db)
        .await
}

/// [`agent_page`]'s statement: `$1`…`$4` are the agent, organization and place (time, id).
pub(in crate::inbox) fn agent_page_sql(backend: crate::db::Backend, walk: bool, limit: i64) -> String {
    let columns = "cv.id AS id, cv.guest_address AS guest_address, cv.guest_name AS guest_name, \
                   n.phone_number AS phone_number, cv.last_activity_at AS at";
    // The organization as the conversation keeps it (migration 0036): a walk reads the
    // organization's own conversations, not every organization's.
    let clause = "cv.agent_id = $1 AND cv.org_id = $2 AND (cv.last_activity_at, cv.id) < ($3, $4)";
    let joined = "JOIN numbers n ON n.id = cv.number_id";
    if walk {
        let read = |state: &str| {
            format!(
                "SELECT {columns} FROM conversations cv CROSS JOIN numbers n \
                 WHERE cv.state = '{state}' AND n.id = cv.number_id AND {clause} \
                 ORDER BY cv.last_activity_at DESC, cv.id DESC LIMIT {limit}"
            )
        };
        super::each_state_merged(&["live", "ended"], read, "at DESC, id DESC", limit as usize)
    } else {
        // SQLite is told which index: with the statistics of an agent that has every
        // conversation, it would read them all in the order of activity.
        let by_agent = if backend == crate::db::Backend::Sqlite { " INDEXED BY conversations_agent" } else { "" };
        format!(
            "SELECT {columns} FROM conversations cv{by_agent} {joined} WHERE {clause} \
             ORDER BY cv.last_activity_at DESC, cv.id DESC LIMIT {limit}"
        )
    }
}

/// How many conversations the agent has: the sum of its rows in `agent_totals` (migration 0033),
/// which the lifecycle worker keeps to about one per agent ([`fold_totals`]).
pub(in crate::inbox) async fn agent_total(db: &AnyPool, org_id: &str, agent_id: &str) -> sqlx::Result<i64> {
    let (total,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(t.n), 0) AS BIGINT) FROM agent_totals t JOIN agents a ON a.id = t.agent_id \
         WHERE t.agent_id = $1 AND a.org_id = $2",
    )
    .bind(agent_id)
    .bind(org_id)
    .fetch_one(db)
    .await?;
    Ok(total)
}

/// Up to `limit` agents (or agents deleted) after `after` with more than one row in
/// `agent_totals`, with how many rows, in the order of their ids (two instances folding at once
/// take their rows in the same order).
pub(in crate::inbox) async fn unfolded_totals(
    db: &AnyPool,
    after: &str,
    limit: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT agent_id, CAST(COUNT(*) AS BIGINT) FROM agent_totals WHERE agent_id > $1 GROUP BY agent_id \
         HAVING COUNT(*) > 1 ORDER BY agent_id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Folds up to `limit` of the agent's rows in `agent_totals` into one (none when they add up to
/// nothing: its conversations all gone, or the agent deleted); returns how many it took. SQLite
/// takes them in the order of their place in the table, the oldest first, so the row a fold leaves
/// is taken last by the next. PostgreSQL takes the first it reads: ordered by place, it read and
/// sorted all of the agent's rows for each fold (78 ms a fold with 900,000, against under 1 ms; see
/// docs/performance.md), and any rows add up the same. Rows written meanwhile by another
/// instance's transaction are not yet seen by the delete, so they stay as they are, and count.
pub(in crate::inbox) async fn fold_total(
    tx: &mut AnyConnection,
    backend: crate::db::Backend,
    agent_id: &str,
    limit: i64,
) -> sqlx::Result<i64> {
    // Neither database deletes with a LIMIT of its own (SQLite only when built for it): the rows
    // are picked by their place in the table, SQLite's rowid or PostgreSQL's ctid (whose delete
    // locks them in the order of their places, whatever order they were picked in: two folders
    // wait for each other, they do not deadlock).
    let sql = match backend {
        crate::db::Backend::Sqlite => {
            "DELETE FROM agent_totals WHERE rowid IN \
             (SELECT rowid FROM agent_totals WHERE agent_id = $1 ORDER BY rowid LIMIT $2) RETURNING n"
        }
        crate::db::Backend::Postgres => {
            "DELETE FROM agent_totals WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM agent_totals WHERE agent_id = $1 LIMIT $2)) RETURNING n"
        }
    };
    let rows: Vec<(i64,)> = sqlx::query_as(sql).bind(agent_id).bind(limit).fetch_all(&mut *tx).await?;
    let total: i64 = rows.iter().map(|(n,)| n).sum();
    if total != 0 {
        sqlx::query("INSERT INTO agent_totals (agent_id, n) VALUES ($1, $2)")
            .bind(agent_id)
            .bind(total)
            .execute(&mut *tx)
            .await?;
    }
    Ok(rows.len() as i64)
}

/// An active number the agent answers on.
#[derive(sqlx::FromRow)]
pub(in crate::inbox) struct Sender {
    pub(in crate::inbox) number_id: String,
    pub(in crate::inbox) address: String,
    pub(in crate::inbox) phone_number: String,
    pub(in crate::inbox) connector_id: String,
}

/// The agent's active numbers, WhatsApp first.
pub(in crate::inbox) async fn senders(db: &AnyPool, agent_id: &str) -> sqlx::Result<Vec<Sender>> {
    sqlx::query_as(
        "SELECT n.id AS number_id, n.address AS address, n.phone_number AS phone_number, \
         n.connector_id AS connector_id FROM channels ch JOIN numbers n ON n.id = ch.number_id \
         WHERE ch.agent_id = $1 AND n.active = 1 ORDER BY n.provider DESC, n.phone_number",
    )
    .bind(agent_id)
    .fetch_all(db)
    .await
}

/// Where the conversation on the number that knows WhatsApp user id `user` last heard from its
/// guest (a phone number, or the user id itself), if one knows it.
pub(in crate::inbox) async fn address_of_user(
    db: &AnyPool,
    number_id: &str,
    user: &str,
) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT guest_address FROM conversations WHERE number_id = $1 AND guest_user_id = $2")
            .bind(number_id)
            .bind(user)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|(address,)| address))
}

// ---- the lifecycle ----

/// The agent's inactivity period, in seconds.
pub(in crate::inbox) async fn inactivity(db: &AnyPool, agent_id: &str) -> sqlx::Result<i64> {
    let (secs,): (i64,) =
        sqlx::query_as("SELECT inactivity_secs FROM agents WHERE id = $1").bind(agent_id).fetch_one(db).await?;
    Ok(secs)
}

pub(in crate::inbox) async fn set_inactivity(tx: &mut AnyConnection, agent_id: &str, secs: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE agents SET inactivity_secs = $1 WHERE id = $2").bind(secs).bind(agent_id).execute(tx).await?;
    Ok(())
}

/// Up to 500 live conversations quiet for longer than their agent's inactivity period. Read
/// without the write lock, on the index of live conversations by activity, bounded by the
/// shortest inactivity period of any agent.
pub(in crate::inbox) async fn idle(db: &AnyPool, now: i64) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT cv.id FROM conversations cv JOIN agents a ON a.id = cv.agent_id \
         WHERE cv.state = 'live' AND cv.last_activity_at < $1 - (SELECT COALESCE(MIN(inactivity_secs), 0) FROM agents) * 1000 \
           AND cv.last_activity_at < $1 - a.inactivity_secs * 1000 LIMIT 500",
    )
    .bind(now)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Ends the conversation if it is still live and quiet (a message that came in since [`idle`]
/// keeps it live); false otherwise.
pub(in crate::inbox) async fn end_if_idle(tx: &mut AnyConnection, id: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE conversations SET state = 'ended', ended_at = $1 WHERE id = $2 AND state = 'live' \
         AND last_activity_at < $1 - (SELECT inactivity_secs FROM agents WHERE agents.id = conversations.agent_id) * 1000",
    )
    .bind(now)
    .bind(id)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::agent_page_sql;
    use crate::db::Backend;

    /// An agent's page reads its conversations along the index by agent (few) or walks each state's
    /// along its organization's index by activity and sorts only the two pages (many): never every
    /// conversation, nor another organization's.
    #[tokio::test]
    async fn an_agents_page_reads_along_an_index_and_sorts_at_most_its_pages() {
        let mut conn = crate::db::migrated_in_memory().await;
        let plan = crate::db::query_plan(&mut conn, &agent_page_sql(Backend::Sqlite, false, 51)).await;
        assert!(
            plan.iter().any(|d| d.starts_with("SEARCH cv USING INDEX conversations_agent (agent_id=?)")),
            "{plan:#?}"
        );
        let plan = crate::db::query_plan(&mut conn, &agent_page_sql(Backend::Sqlite, true, 51)).await;
        let walks = plan
            .iter()
            .filter(|d| d.starts_with("SEARCH cv USING INDEX conversations_org_state_activity (org_id=? AND state=?"))
            .count();
        assert_eq!(walks, 2, "{plan:#?}");
        for (i, _) in plan.iter().enumerate().filter(|(_, d)| d.contains("TEMP B-TREE")) {
            assert!(["SCAN live", "SCAN ended"].contains(&plan[i - 1].as_str()), "sorts {:?}\n{plan:#?}", plan[i - 1]);
        }
        assert!(!plan.iter().any(|d| d.starts_with("SCAN cv")), "{plan:#?}");
    }
}
