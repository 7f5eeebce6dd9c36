//! The inbox's list: the conversations `me` may see under a filter, a page at a time from a place
//! in the order of last activity, each state read along its index and the two merged; a search
//! finds its conversations through the indexes of guests and of the messages' text first.

use app::{accounts::Me, connectors::Provider, inbox::InboxFilter};

use super::FROM;
use crate::db::Backend;

/// The words of a search as the full-text index reads them: letters and digits (anything else
/// separates words, so nothing typed is read as the index's syntax), lower-cased, at most eight.
fn search_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(8).map(str::to_lowercase).collect()
}

/// The conversations with a message holding every word (the last one as the start of a word too,
/// accents and case aside), through the full-text index: SQLite's FTS5 table, PostgreSQL's GIN index
/// (migrations 0019; SQLite's queue is indexed first, [`crate::inbox::search`]). `$n` is the
/// words as [`text_query`] writes them.
fn text_ids(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!(
            "SELECT sm.conversation_id FROM messages sm WHERE sm.rowid IN \
             (SELECT rowid FROM message_search WHERE message_search MATCH ${n})"
        ),
        Backend::Postgres => format!(
            "SELECT sm.conversation_id FROM messages sm \
             WHERE to_tsvector('switchboard_search', sm.body) @@ to_tsquery('switchboard_search', ${n})"
        ),
    }
}

/// The conversations whose guest's number or name holds the text typed, case and accents aside:
/// through a trigram index (migration 0023: SQLite's FTS5 table of the guests, PostgreSQL's
/// indexes over the folded number and name, which serve its `LIKE`). SQLite's trigrams need three
/// characters: a shorter text is found by `LIKE` (case aside, accents as typed). `$n` is
/// [`guest_query`]'s text.
fn guest_ids(backend: Backend, q: &str, n: usize) -> String {
    match backend {
        Backend::Sqlite if trigrams(q) => format!(
            "SELECT g.id FROM conversations g WHERE g.rowid IN \
             (SELECT rowid FROM guest_search WHERE guest_search MATCH ${n})"
        ),
        Backend::Sqlite => format!(
            "SELECT g.id FROM conversations g WHERE LOWER(g.guest_address) LIKE ${n} ESCAPE '\\' \
             OR LOWER(COALESCE(g.guest_name, '')) LIKE ${n} ESCAPE '\\'"
        ),
        Backend::Postgres => format!(
            "SELECT g.id FROM conversations g WHERE switchboard_fold(g.guest_address) LIKE switchboard_fold(${n}) \
             OR switchboard_fold(COALESCE(g.guest_name, '')) LIKE switchboard_fold(${n})"
        ),
    }
}

/// Whether SQLite's trigram index can find `q`.
fn trigrams(q: &str) -> bool {
    q.chars().count() >= 3
}

fn guest_query(backend: Backend, q: &str) -> String {
    if backend == Backend::Sqlite && trigrams(q) {
        // One phrase: the trigram index finds it anywhere in the number or name.
        format!("\"{}\"", q.replace('"', "\"\""))
    } else {
        // `LIKE`'s wildcards typed are taken literally (`\` is PostgreSQL's escape by default).
        format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
    }
}

/// The words typed as the full-text index's query: each a whole word but the last, which may be
/// the start of one (it may be still being typed). A word matched as a start makes the index
/// gather every entry of every word it starts, before any other word narrows them down: "guest"
/// typed first among ten million messages that hold "guest" in half of them took 160 ms, against
/// under a millisecond as a whole word.
fn text_query(backend: Backend, words: &[String]) -> String {
    let last = words.len().saturating_sub(1);
    let word = |(i, w): (usize, &String)| match (backend, i == last) {
        (Backend::Sqlite, false) => format!("\"{w}\""),
        (Backend::Sqlite, true) => format!("\"{w}\"*"),
        (Backend::Postgres, false) => w.clone(),
        (Backend::Postgres, true) => format!("{w}:*"),
    };
    let words = words.iter().enumerate().map(word).collect::<Vec<_>>();
    words.join(if backend == Backend::Sqlite { " " } else { " & " })
}

/// The WHERE clause and its arguments for the conversations `me` may see under `filter`, its
/// state aside ([`list`] reads each state on its own). `$1`…`$3` are the organization, role and
/// user.
fn scope(me: &Me, filter: &InboxFilter, backend: Backend) -> (String, Vec<String>) {
    let mut args = vec![me.org_id.clone(), me.role.as_str().to_string(), me.user_id.clone()];
    let mut sql = String::from("c.org_id = $1 AND ($2 = 'org_admin' OR a.owner_id = $3)");
    let mut push = |clause: &str, value: String, args: &mut Vec<String>| {
        args.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(agent) = &filter.agent_id {
        push(" AND cv.agent_id = ?", agent.clone(), &mut args);
    }
    if let Some(p) = filter.provider {
        push(" AND n.provider = ?", if p == Provider::Sms { "sms" } else { "whatsapp" }.into(), &mut args);
    }
    if let Some(number) = &filter.number {
        push(" AND n.phone_number = ?", number.clone(), &mut args);
    }
    let q = filter.q.trim().to_lowercase();
    if !q.is_empty() {
        // The guest's number or name (a part of either), or the words in the messages' text: the
        // few conversations found are looked up by id.
        args.push(guest_query(backend, &q));
        let mut found = guest_ids(backend, &q, args.len());
        let words = search_words(&q);
        if !words.is_empty() {
            args.push(text_query(backend, &words));
            found = format!("{found} UNION {}", text_ids(backend, args.len()));
        }
        sql.push_str(&format!(" AND cv.id IN ({found})"));
    }
    (sql, args)
}

/// A place in a list ordered by activity, newest first: a conversation's last activity and id.
/// Pages start after (or end before) a place, so a page holds while messages arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::inbox) struct Place {
    pub(in crate::inbox) at: i64,
    pub(in crate::inbox) id: String,
}

impl Place {
    /// The place as an opaque, URL-safe cursor.
    pub(in crate::inbox) fn cursor(&self) -> String {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.at, self.id))
    }

    /// The place a cursor names, if it is one [`Self::cursor`] gave.
    pub(in crate::inbox) fn parse(cursor: &str) -> Option<Self> {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
        let (at, id) = text.split_once(':')?;
        Some(Self { at: at.parse().ok()?, id: id.to_string() })
    }
}

/// Which way a page goes from its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::inbox) enum Way {
    /// Older than the place (or from the newest, without one).
    Older,
    /// Newer than the place, nearest first: the caller turns the rows around.
    Newer,
}

/// [`FROM`] with the conversations read first: SQLite takes `CROSS JOIN`'s left side as the outer
/// loop (PostgreSQL plans it like any join), so a list walks the conversations' index in its
/// order and stops at its limit, instead of sorting every conversation of the organization.
const FROM_CONVERSATIONS_FIRST: &str = "FROM conversations cv CROSS JOIN numbers n CROSS JOIN connectors c \
                                        LEFT JOIN agents a ON a.id = cv.agent_id";
const JOINED: &str = "n.id = cv.number_id AND c.id = n.connector_id";

/// A line of the inbox: the conversation, its number and agent, and its last message.
#[derive(sqlx::FromRow)]
pub(in crate::inbox) struct ListRow {
    pub(in crate::inbox) id: String,
    pub(in crate::inbox) agent_id: Option<String>,
    pub(in crate::inbox) agent_name: Option<String>,
    pub(in crate::inbox) guest_address: String,
    pub(in crate::inbox) guest_name: Option<String>,
    pub(in crate::inbox) provider: String,
    pub(in crate::inbox) phone_number: String,
    pub(in crate::inbox) state: String,
    pub(in crate::inbox) paused_at: Option<i64>,
    /// Set when the conversation opens (migration 0018 filled it in for older ones).
    pub(in crate::inbox) last_activity_at: Option<i64>,
    pub(in crate::inbox) last_inbound_at: Option<i64>,
    pub(in crate::inbox) window_closed_at: Option<i64>,
    /// The number's address (`whatsapp:+1…` or `+1…`).
    pub(in crate::inbox) address: String,
    pub(in crate::inbox) last_body: Option<String>,
    pub(in crate::inbox) last_direction: Option<String>,
}

/// Up to `limit` conversations `me` may see under `filter`, from `place` the `way` given:
/// older ones most recently active first, newer ones nearest first.
///
/// Without a search, each state is read on its own, along the index on (state, last activity, id)
/// (migration 0021), and the two ordered reads are merged: one read ordered by activity across
/// both states would sort every conversation of the organization for each page.
pub(in crate::inbox) async fn list<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    db: E,
    backend: Backend,
    me: &Me,
    filter: &InboxFilter,
    place: Option<&Place>,
    way: Way,
    limit: usize,
) -> sqlx::Result<Vec<ListRow>> {
    let (sql, args) = list_sql(backend, me, filter, place.is_some(), way, limit);
    let mut query = sqlx::query_as::<_, ListRow>(&sql);
    for a in &args {
        query = query.bind(a);
    }
    if let Some(p) = place {
        query = query.bind(p.at).bind(&p.id);
    }
    query.fetch_all(db).await
}

/// [`list`]'s statement and its arguments (a place's two come after them).
fn list_sql(
    backend: Backend,
    me: &Me,
    filter: &InboxFilter,
    from_place: bool,
    way: Way,
    limit: usize,
) -> (String, Vec<String>) {
    let (mut clause, args) = scope(me, filter, backend);
    let n = args.len();
    let order = match way {
        Way::Older => "DESC",
        Way::Newer => "ASC",
    };
    if from_place {
        let than = if way == Way::Older { "<" } else { ">" };
        clause.push_str(&format!(" AND (cv.last_activity_at, cv.id) {than} (${}, ${})", n + 1, n + 2));
    }
    let columns = "cv.id AS id, cv.agent_id AS agent_id, a.name AS agent_name, \
         cv.guest_address AS guest_address, cv.guest_name AS guest_name, n.provider AS provider, \
         n.phone_number AS phone_number, cv.state AS state, cv.paused_at AS paused_at, \
         cv.last_activity_at AS last_activity_at, cv.last_inbound_at AS last_inbound_at, \
         cv.window_closed_at AS window_closed_at, n.address AS address, \
         (SELECT m.body FROM messages m WHERE m.conversation_id = cv.id \
         ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS last_body, \
         (SELECT m.direction FROM messages m WHERE m.conversation_id = cv.id \
         ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS last_direction";
    let sql = if filter.q.trim().is_empty() {
        let states = match filter.state {
            Some(state) => vec![state.as_str()],
            None => vec!["live", "ended"],
        };
        let branches: Vec<String> = states
            .iter()
            .map(|state| {
                format!(
                    "SELECT * FROM (SELECT {columns} {FROM_CONVERSATIONS_FIRST} \
                     WHERE cv.state = '{state}' AND {JOINED} AND {clause} \
                     ORDER BY cv.last_activity_at {order}, cv.id {order} LIMIT {limit}) AS {state}"
                )
            })
            .collect();
        format!("{} ORDER BY last_activity_at {order}, id {order} LIMIT {limit}", branches.join(" UNION ALL "))
    } else {
        // A search narrows the list to the conversations it finds (a guest's number, a word),
        // through its indexes: the database looks those few up and sorts them.
        if let Some(state) = filter.state {
            clause.push_str(&format!(" AND cv.state = '{}'", state.as_str()));
        }
        format!(
            "SELECT {columns} {FROM} WHERE {clause} ORDER BY cv.last_activity_at {order}, cv.id {order} LIMIT {limit}"
        )
    };
    (sql, args)
}

#[cfg(test)]
mod tests {
    use app::{
        accounts::{Me, Role},
        inbox::{ConversationState, InboxFilter},
    };
    use sqlx::Connection;

    use super::{list_sql, Way};
    use crate::db::Backend;

    /// The organization's list reads each state's conversations along their index, in the list's
    /// order, and sorts nothing but the merged page: a plan that sorted the organization's
    /// conversations (`USE TEMP B-TREE FOR ORDER BY` in a state's read) made the first page take
    /// 11 s at ten million messages in the inbox benchmark.
    #[tokio::test]
    async fn a_page_walks_the_conversations_index_and_sorts_only_the_page() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::migrate!("./migrations/sqlite").run(&mut conn).await.unwrap();
        let me = Me {
            user_id: "u".into(),
            org_id: "o".into(),
            org_name: "O".into(),
            email: "a@example.com".into(),
            role: Role::OrgAdmin,
            token: None,
        };
        let filters = [
            InboxFilter::default(),
            InboxFilter { state: Some(ConversationState::Ended), ..Default::default() },
            InboxFilter { provider: Some(app::connectors::Provider::Sms), ..Default::default() },
        ];
        for filter in &filters {
            for (from_place, way) in [(false, Way::Older), (true, Way::Older), (true, Way::Newer)] {
                let (sql, _) = list_sql(Backend::Sqlite, &me, filter, from_place, way, 26);
                let plan = crate::db::query_plan(&mut conn, &sql).await;
                let states = if filter.state.is_some() { 1 } else { 2 };
                let walks = plan
                    .iter()
                    .filter(|d| d.starts_with("SEARCH cv USING INDEX conversations_state_activity (state=?"))
                    .count();
                assert_eq!(walks, states, "each state read along the index\n{sql}\n{plan:#?}");
                // The only sorts are of a state's page (a few dozen rows, for the merge) and of a
                // conversation's messages with the same time (its last message's lookup).
                for (i, d) in plan.iter().enumerate().filter(|(_, d)| d.contains("TEMP B-TREE")) {
                    let page = d == "USE TEMP B-TREE FOR ORDER BY"
                        && ["SCAN live", "SCAN ended"].contains(&plan[i - 1].as_str());
                    let same_time =
                        d == "USE TEMP B-TREE FOR LAST TERM OF ORDER BY" && plan[i - 1].starts_with("SEARCH m ");
                    assert!(page || same_time, "sorts {:?}\n{sql}\n{plan:#?}", plan[i - 1]);
                }
                assert!(!plan.iter().any(|d| d.starts_with("SCAN cv")), "{sql}\n{plan:#?}");
            }
        }
    }
}
