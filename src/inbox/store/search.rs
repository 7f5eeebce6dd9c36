//! The queues of messages and guests waiting for SQLite's full-text indexes (migrations 0020 and
//! 0023; the guests' index holds their organization since 0040).

use crate::db::Statement;

/// The last of the (at most) `$1` oldest queued messages: a batch's end.
const BATCH_END: &str =
    "(SELECT MAX(message_rowid) FROM (SELECT message_rowid FROM search_queue ORDER BY message_rowid LIMIT $1))";

/// The last of the (at most) `$1` oldest queued guests (conversations).
const GUEST_BATCH_END: &str = "(SELECT MAX(conversation_rowid) FROM (SELECT conversation_rowid FROM guest_queue \
                               ORDER BY conversation_rowid LIMIT $1))";

/// A guest's organization as the index of guests holds it (migration 0040), from its row `o` of
/// `organizations`: its mark three times, one trigram; U+F0000 for a conversation without one.
pub(in crate::inbox) const GUEST_ORGANIZATION: &str = "char(COALESCE(o.search_mark, 983040), \
    COALESCE(o.search_mark, 983040), COALESCE(o.search_mark, 983040))";

/// A script that moves up to `batch` queued messages, oldest first, into the index of their text,
/// and as many queued guests into the index of guests' numbers and names; its two selected rows
/// are how many of each it moved. `CROSS JOIN` keeps each queue the outer loop: SQLite's planner
/// otherwise walks the messages up to the batch's last rowid, every message ever written. A
/// message or guest rewritten while queued is indexed as it is now; one deleted while queued left
/// the queue with it (the triggers of migrations 0020 and 0023).
pub(in crate::inbox) fn index_queued(batch: i64) -> Vec<Statement> {
    vec![
        Statement::new(format!(
            "INSERT INTO message_search (rowid, body, search_connector) SELECT m.rowid, m.body, m.search_connector \
             FROM search_queue q \
             CROSS JOIN messages m ON m.rowid = q.message_rowid WHERE q.message_rowid <= {BATCH_END}"
        ))
        .bind(batch),
        Statement::new(format!("DELETE FROM search_queue WHERE message_rowid <= {BATCH_END}")).bind(batch),
        Statement::new("SELECT changes()"),
        Statement::new(format!(
            "INSERT INTO guest_search (rowid, organization, address, name) SELECT g.rowid, \
             {GUEST_ORGANIZATION}, g.guest_address, COALESCE(g.guest_name, '') FROM guest_queue q \
             CROSS JOIN conversations g ON g.rowid = q.conversation_rowid \
             LEFT JOIN organizations o ON o.id = g.org_id WHERE q.conversation_rowid <= {GUEST_BATCH_END}"
        ))
        .bind(batch),
        Statement::new(format!("DELETE FROM guest_queue WHERE conversation_rowid <= {GUEST_BATCH_END}")).bind(batch),
        Statement::new("SELECT changes()"),
    ]
}

/// A script that merges up to `pages` pages of each index's segments, on the levels that hold
/// enough segments to be worth it (FTS5's `usermerge`, 4), continuing a merge an earlier step left
/// half done; its three selected rows are the connection's count of changes before, between and
/// after the two merges: a merge that found work to do adds two or more (FTS5's documentation).
pub(in crate::inbox) fn merge_step(pages: i64) -> Vec<Statement> {
    vec![
        Statement::new("SELECT total_changes()"),
        Statement::new(format!("INSERT INTO message_search (message_search, rank) VALUES ('merge', {pages})")),
        Statement::new("SELECT total_changes()"),
        Statement::new(format!("INSERT INTO guest_search (guest_search, rank) VALUES ('merge', {pages})")),
        Statement::new("SELECT total_changes()"),
    ]
}

/// Whether any message or guest waits for an index.
pub(in crate::inbox) async fn anything_queued(pool: &sqlx::AnyPool) -> sqlx::Result<bool> {
    let any: i64 =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM search_queue) OR EXISTS (SELECT 1 FROM guest_queue)")
            .fetch_one(pool)
            .await?;
    Ok(any != 0)
}

#[cfg(test)]
mod tests {
    /// A batch reads the queues and looks each message and guest up by its rowid: it never walks
    /// the messages table, which holds every message ever written (a plan that did made each batch
    /// slower as the database grew: in the pipeline benchmark it took the database threads' time
    /// per webhook from about 60 µs to about 100 µs).
    #[tokio::test]
    async fn a_batch_reads_only_the_queued_messages() {
        let mut conn = crate::db::migrated_in_memory().await;
        for statement in super::index_queued(1_000) {
            let plan = crate::db::query_plan(&mut conn, &statement.sql).await;
            // The messages (`m`) and conversations (`g`) are only ever looked up by one rowid.
            let walks = |d: &String| {
                ["m", "g"].iter().any(|t| {
                    *d == format!("SCAN {t}")
                        || d.starts_with(&format!("SCAN {t} "))
                        || d.starts_with(&format!("SEARCH {t} ")) && !d.ends_with("(rowid=?)")
                })
            };
            assert!(!plan.iter().any(walks), "{}\n{plan:#?}", statement.sql);
        }
    }
}
