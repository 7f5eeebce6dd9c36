//! The inbox's list: the conversations `me` may see under a filter, a page at a time from a place
//! in the order of last activity, each state read along its index and the two merged; a search
//! finds its conversations through the indexes of guests and of the messages' text first.

use app::{accounts::Me, connectors::Provider, inbox::InboxFilter};

use super::{search::GUEST_ORGANIZATION, FROM};
use crate::db::Backend;

/// The words of a search as the full-text index reads them: letters and digits (anything else
/// separates words, so nothing typed is read as the index's syntax), lower-cased, at most eight.
fn search_words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(8).map(str::to_lowercase).collect()
}

/// The conversations of the organization `$1` with a message holding every word (the last one as
/// the start of a word too, accents and case aside), through the full-text index, which holds each
/// message's connector with its words: SQLite's FTS5 table, PostgreSQL's GIN index (migrations
/// 0039 and 0041; SQLite's queue is indexed first, [`crate::inbox::search`]). `$n` is the words as
/// [`text_query`] writes them.
fn text_ids(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!(
            "SELECT sm.conversation_id FROM messages sm WHERE sm.rowid IN \
             (SELECT rowid FROM message_search WHERE message_search MATCH {})",
            organization_match(n)
        ),
        // The index asks a phrase as its words (migration 0041): the messages it finds for one are
        // checked against it in their text. A query's phrase operator, alone, opens with " <".
        Backend::Postgres => format!(
            "SELECT sm.conversation_id FROM messages sm \
             WHERE switchboard_search_words(sm.connector_id, sm.body) @@ {} \
             AND (strpos(to_tsquery('switchboard_search', ${n})::text, ' <') = 0 \
             OR to_tsvector('switchboard_search', sm.body) @@ to_tsquery('switchboard_search', ${n}))",
            organization_query(n)
        ),
    }
}

/// SQLite: the query of FTS5's index for the words `$n` in the text of the messages of the
/// organization `$1`'s connectors, each as the index holds it (`messages.search_connector`, the id
/// behind the character U+E000, migration 0039; none, for an organization without one: `""`
/// matches nothing).
fn organization_match(n: usize) -> String {
    format!(
        "(SELECT 'search_connector : (' \
         || COALESCE(group_concat('\"' || char(57344) || replace(id, '\"', '\"\"') || '\"', ' OR '), '\"\"') \
         || ') AND ' || {} FROM connectors WHERE org_id = $1)",
        text_match(n)
    )
}

/// SQLite: the query of FTS5's index for the words `$n` in the messages' text alone (not in the
/// connector the index holds beside them).
fn text_match(n: usize) -> String {
    format!("('body : (' || ${n} || ')')")
}

/// PostgreSQL: the words `$n` (a `to_tsquery` text) asked of the messages of the organization
/// `$1`'s connectors, as their index keys them (migration 0039).
fn organization_query(n: usize) -> String {
    format!(
        "switchboard_search_query(ARRAY(SELECT id FROM connectors WHERE org_id = $1), \
         to_tsquery('switchboard_search', ${n}))"
    )
}

/// The organization's conversations with a voice note whose transcript holds every word (the
/// last one as the start of a word too), through their full-text index (migration 0034).
/// Transcripts are few beside the messages: they are always gathered, whatever the plan. `$1` is
/// the organization, `$n` [`text_query`]'s text, the last word begun.
fn heard_ids(backend: Backend, n: usize) -> String {
    let organizations = "CROSS JOIN messages hm CROSS JOIN conversations hc CROSS JOIN numbers hn \
                         CROSS JOIN connectors hco";
    let theirs = "hm.id = md.message_id AND hc.id = hm.conversation_id AND hn.id = hc.number_id \
                  AND hco.id = hn.connector_id AND hco.org_id = $1";
    match backend {
        Backend::Sqlite => format!(
            "SELECT hm.conversation_id FROM transcript_search ts CROSS JOIN media md {organizations} \
             WHERE ts.transcript_search MATCH ${n} AND md.rowid = ts.rowid AND {theirs}"
        ),
        Backend::Postgres => format!(
            "SELECT hm.conversation_id FROM media md {organizations} \
             WHERE md.transcript IS NOT NULL \
             AND to_tsvector('switchboard_search', md.transcript) @@ to_tsquery('switchboard_search', ${n}) \
             AND {theirs}"
        ),
    }
}

/// Whether the conversation `cv` has a message holding every word, for a list that walks the
/// conversations in its order ([`Plan::Walk`]); `$n` is the index's query. SQLite asks its index
/// about each of the conversation's messages when every word of the query is whole
/// ([`Walk::Asked`]), and otherwise gathers the index's messages once and looks each of the
/// conversation's messages up among them ([`Walk::Gathered`]); PostgreSQL reads the conversation's
/// messages along their index and matches their text.
fn text_in_conversation(backend: Backend, walk: &Walk, n: usize) -> String {
    match (backend, walk) {
        (Backend::Sqlite, Walk::Asked(_)) => format!(
            "EXISTS (SELECT 1 FROM messages sm CROSS JOIN message_search ms \
             WHERE sm.conversation_id = cv.id AND ms.rowid = sm.rowid AND ms.message_search MATCH {})",
            text_match(n)
        ),
        (Backend::Sqlite, Walk::Gathered) => format!(
            "EXISTS (SELECT 1 FROM messages sm WHERE sm.conversation_id = cv.id AND sm.rowid IN \
             (SELECT rowid FROM message_search WHERE message_search MATCH {}))",
            organization_match(n)
        ),
        // `OFFSET 0` keeps PostgreSQL from turning the question into a hashed list of every
        // matching message's conversation (gathering after all: 531 ms for "towels" at a million).
        (Backend::Postgres, _) => format!(
            "EXISTS (SELECT 1 FROM messages sm WHERE sm.conversation_id = cv.id \
             AND to_tsvector('switchboard_search', sm.body) @@ to_tsquery('switchboard_search', ${n}) OFFSET 0)"
        ),
    }
}

/// How a search finds its conversations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::inbox) enum Plan {
    /// Gather every conversation with a matching message (or guest), then sort those: for words
    /// few messages hold. Its time grows with the messages found: "towels", in one message of
    /// eight, took 391 ms at a million messages and 4.2 s at ten million.
    Gather,
    /// Walk each state's conversations in the list's order and keep those that match, until the
    /// page is full: for words many messages hold, where a page is found within its first few
    /// dozen conversations.
    Walk(Walk),
    /// Walk as [`Plan::Walk`], each conversation's guest matched as it is read: for a text many
    /// guests' numbers or names hold (a country code, a common name), which a gather would collect
    /// for every one of them (all the guests, for "+1").
    WalkGuests(Walk),
}

/// How a walk asks whether a conversation holds the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::inbox) enum Walk {
    /// SQLite: the index is asked about each message with this query, the words the last one
    /// begins spelled out as whole words (`("fresh" "towel") OR ("fresh" "towels")`). Asked about one
    /// message, a word read as a start makes FTS5 gather the entries of every word it starts (4 ms
    /// a message for "towels" at ten million); a whole word is a step through its list.
    Asked(String),
    /// SQLite, when the last word begins more words than [`SPELLED_OUT`] or is not plain ASCII (the
    /// index folds accents its own way): the matching messages are gathered once. PostgreSQL:
    /// each message's text is matched.
    Gathered,
}

/// The most words a walk's last word may begin to be spelled out ([`Walk::Asked`]).
const SPELLED_OUT: usize = 32;

/// The plan for a search: [`text_plan`]'s for the words in the messages (`walk_from`), walked with
/// each guest matched as it is read ([`Plan::WalkGuests`]) when at least `guest_walk_from` guests'
/// numbers or names hold the text ([`guests_held`]).
pub(in crate::inbox) async fn plan(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    org_id: &str,
    filter: &InboxFilter,
    walk_from: i64,
    guest_walk_from: i64,
) -> sqlx::Result<Plan> {
    let text = text_plan(conn, backend, org_id, filter, walk_from).await?;
    let q = typed(filter);
    if q.is_empty() || guests_held(conn, backend, &q, org_id, guest_walk_from).await? < guest_walk_from {
        return Ok(text);
    }
    Ok(Plan::WalkGuests(match text {
        Plan::Walk(walk) | Plan::WalkGuests(walk) => walk,
        Plan::Gather => Walk::Gathered,
    }))
}

/// The text typed, as the search reads it: trimmed, lower-cased, without the NUL characters
/// PostgreSQL refuses in a text.
fn typed(filter: &InboxFilter) -> String {
    filter.q.trim().to_lowercase().replace('\0', "")
}

/// How many of the organization `org_id`'s guests' numbers or names hold `q`, no further than
/// `walk_from`: SQLite counts along its index of the guests (or, for a text too short for its
/// trigrams, along the organization's conversations). PostgreSQL's planner estimates how many of
/// every organization's guests hold it (from the statistics it keeps of the folded numbers and
/// names; counting would read every match from its index first); when that is at least
/// `walk_from`, the organization's first [`GUEST_SAMPLE`] conversations along its index say how
/// many of its own do ([`sampled`]). (Asked of the organization's, the planner multiplies its
/// share of the conversations by the share of every organization's guests that hold the text: a
/// hotel group's search for another's country code would walk.) A large organization whose
/// conversations the statistics have mostly not seen (its agents' totals count over twice what the
/// planner expects of it) is sampled whatever they estimate: they know nothing of its guests.
async fn guests_held(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    q: &str,
    org_id: &str,
    walk_from: i64,
) -> sqlx::Result<i64> {
    let pattern = guest_query(backend, q);
    match backend {
        Backend::Sqlite => {
            let found = if trigrams(q) {
                format!("SELECT rowid FROM guest_search WHERE guest_search MATCH {}", guest_match(1, 2))
            } else {
                guest_ids(backend, q, 1, 2)
            };
            let count = format!("SELECT COUNT(*) FROM ({found} LIMIT {walk_from}) AS held");
            let held = sqlx::query_scalar::<_, i64>(&count).bind(pattern).bind(org_id).persistent(false);
            held.fetch_one(&mut *conn).await
        }
        Backend::Postgres => {
            // Written into the statement, a quote doubled; planned once, not kept among the
            // connection's prepared statements.
            let literal = |text: &str| format!("'{}'", text.replace('\'', "''"));
            // The organization's conversations, as the planner expects them (from the statistics
            // it keeps of the organizations' shares) and as its agents' totals count them.
            let explain = format!("EXPLAIN SELECT 1 FROM conversations WHERE org_id = {}", literal(org_id));
            let expected = expected_rows(conn, &explain).await?;
            let counted: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(t.n), 0) AS BIGINT) FROM agent_totals t \
                 JOIN agents a ON a.id = t.agent_id WHERE a.org_id = $1",
            )
            .bind(org_id)
            .fetch_one(&mut *conn)
            .await?;
            // Statistics that have not seen most of a large organization (its conversations
            // written since they were taken) know nothing of its guests: they are sampled.
            let seen = counted < walk_from || counted <= 2 * expected;
            if seen {
                let explain = format!(
                    "EXPLAIN SELECT 1 FROM conversations g WHERE {}",
                    guest_like(backend, "g", 1).replace("$1", &literal(&pattern))
                );
                let everyone = expected_rows(conn, &explain).await?;
                if everyone < walk_from {
                    return Ok(everyone);
                }
            }
            // The live conversations first, the most recently active first (a few milliseconds).
            let sample = format!(
                "SELECT COUNT(*) FILTER (WHERE {}), COUNT(*) FROM (SELECT guest_address, guest_name \
                 FROM conversations WHERE org_id = $2 ORDER BY org_id DESC, state DESC, last_activity_at DESC \
                 LIMIT {GUEST_SAMPLE}) AS g",
                guest_like(backend, "g", 1)
            );
            let (held, read): (i64, i64) =
                sqlx::query_as(&sample).bind(pattern).bind(org_id).persistent(false).fetch_one(&mut *conn).await?;
            Ok(sampled(held, read, expected.max(counted)))
        }
    }
}

/// The conversations PostgreSQL reads to estimate how many of an organization's guests hold a text
/// ([`guests_held`]): a few milliseconds; one in fifty (10,000 of 500,000) is 20 of them.
const GUEST_SAMPLE: i64 = 1_000;

/// How many of an organization's `conversations` (as the planner expects them, or its agents'
/// totals count them, whichever is more) hold a text, when
/// `held` of the `read` first did: all of them, if that was fewer than [`GUEST_SAMPLE`]; else as
/// many in each of the rest, of no fewer than were read (an organization the statistics have not
/// seen yet, or have seen smaller, is expected to hold a row or two).
fn sampled(held: i64, read: i64, conversations: i64) -> i64 {
    if read < GUEST_SAMPLE {
        held
    } else {
        held * conversations.max(read) / read
    }
}

/// Whether the conversation `cv`'s guest's number or name holds the text, for a walk
/// ([`Plan::WalkGuests`]): as [`guest_ids`] finds them, asked of the one guest. `$n` is
/// [`guest_query`]'s text, `$org` the organization.
fn guest_in_row(backend: Backend, q: &str, n: usize, org: usize) -> String {
    match backend {
        Backend::Sqlite if trigrams(q) => format!(
            "EXISTS (SELECT 1 FROM guest_search gs WHERE gs.guest_search MATCH {} AND gs.rowid = cv.rowid)",
            guest_match(n, org)
        ),
        _ => format!("({})", guest_like(backend, "cv", n)),
    }
}

/// Whether the guest of the conversation `alias` has a number or name `LIKE` `$n` ([`guest_query`]'s
/// `%…%`), case aside (and accents, on PostgreSQL, which has an index for it).
fn guest_like(backend: Backend, alias: &str, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!(
            "LOWER({alias}.guest_address) LIKE ${n} ESCAPE '\\' \
             OR LOWER(COALESCE({alias}.guest_name, '')) LIKE ${n} ESCAPE '\\'"
        ),
        Backend::Postgres => format!(
            "switchboard_fold({alias}.guest_address) LIKE switchboard_fold(${n}) \
             OR switchboard_fold(COALESCE({alias}.guest_name, '')) LIKE switchboard_fold(${n})"
        ),
    }
}

/// The plan for a search in the text of the messages: [`Plan::Walk`] when at least `walk_from`
/// messages hold its words, else [`Plan::Gather`]. SQLite counts them along its index, no further
/// than `walk_from`; PostgreSQL's planner estimates them, every word whole, from the statistics it
/// keeps of the index's words (a count stopped at `walk_from` reads the whole index's entries for
/// the words first, and each message found). A search without words (a number's digits and signs
/// alone) gathers.
async fn text_plan(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    org_id: &str,
    filter: &InboxFilter,
    walk_from: i64,
) -> sqlx::Result<Plan> {
    let words = search_words(&typed(filter));
    if words.is_empty() {
        return Ok(Plan::Gather);
    }
    let held = match backend {
        Backend::Sqlite => {
            // Counted with the last word whole first: as typed, a word read as a start makes FTS5
            // gather every entry of every word it starts before the count can stop (28 ms for
            // "towels" at ten million messages, 0.5 ms whole). A word that many messages hold
            // whole needs no second count.
            let count = format!(
                "SELECT COUNT(*) FROM (SELECT rowid FROM message_search WHERE message_search MATCH {} \
                 LIMIT {walk_from}) AS held",
                organization_match(2)
            );
            let whole = text_query(backend, &words, Last::Whole);
            let held = sqlx::query_scalar::<_, i64>(&count).bind(org_id).bind(whole).fetch_one(&mut *conn).await?;
            if held >= walk_from {
                held
            } else {
                let query = text_query(backend, &words, Last::Begun);
                sqlx::query_scalar::<_, i64>(&count).bind(org_id).bind(query).fetch_one(&mut *conn).await?
            }
        }
        Backend::Postgres => {
            // Estimated with every word whole: PostgreSQL's statistics know how often a common
            // word is, but give any word read as a start the same default share (20,000 of a
            // million messages), which would walk for a guest's number. A common word's start
            // alone ("tow") therefore gathers.
            let connectors: Vec<String> = sqlx::query_scalar("SELECT id FROM connectors WHERE org_id = $1 ORDER BY id")
                .bind(org_id)
                .fetch_all(&mut *conn)
                .await?;
            let held = estimated(conn, &connectors, &text_query(backend, &words, Last::Whole)).await?;
            // A word the statistics do not know gets a default share of the messages, which grows
            // with them (50,000 of ten million): only words estimated above that walk.
            let unknown = estimated(conn, &connectors, "switchboardnosuchword").await?;
            if held > unknown {
                held
            } else {
                0
            }
        }
    };
    if held < walk_from {
        return Ok(Plan::Gather);
    }
    let Some((last, whole)) = words.split_last().filter(|(last, _)| backend == Backend::Sqlite && last.is_ascii())
    else {
        return Ok(Plan::Walk(Walk::Gathered));
    };
    // The words of the messages' text the last one begins (the index's vocabulary, migration
    // 0039), in order.
    let begun: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT term FROM message_search_terms WHERE term >= $1 AND term < $2 AND col = 'body' LIMIT {}",
        SPELLED_OUT + 1
    ))
    .bind(last.as_str())
    .bind(format!("{last}\u{10FFFF}"))
    .fetch_all(&mut *conn)
    .await?;
    if begun.is_empty() {
        // No message holds the words (a walk from none): only guests' numbers and names are found.
        return Ok(Plan::Gather);
    }
    if begun.len() > SPELLED_OUT {
        return Ok(Plan::Walk(Walk::Gathered));
    }
    // One group a word begun, each the whole words side by side: as in the words typed, a word
    // the index reads as nothing (a letter it takes for a symbol, such as ⓟ) is left out, where an
    // explicit AND with it would match nothing.
    let quoted = |w: &String| format!("\"{}\"", w.replace('"', "\"\""));
    let groups: Vec<String> = begun
        .iter()
        .map(|term| format!("({})", whole.iter().chain([term]).map(quoted).collect::<Vec<_>>().join(" ")))
        .collect();
    Ok(Plan::Walk(Walk::Asked(groups.join(" OR "))))
}

/// The messages of `connectors` PostgreSQL's planner expects to hold the words of `query` (a
/// `to_tsquery` text of letters, digits and `&`: written into the statement, the words and
/// connectors are planned for as they are, as bound values would not be by `EXPLAIN`). The index
/// keys each word by its connector (migration 0039): its statistics tell how often each connector's
/// messages hold a word, whatever other organizations' do.
async fn estimated(conn: &mut sqlx::AnyConnection, connectors: &[String], query: &str) -> sqlx::Result<i64> {
    let connectors: Vec<String> = connectors.iter().map(|c| format!("'{}'", c.replace('\'', "''"))).collect();
    let explain = format!(
        "EXPLAIN SELECT 1 FROM messages WHERE switchboard_search_words(connector_id, body) @@ \
         switchboard_search_query(ARRAY[{}]::text[], to_tsquery('switchboard_search', '{query}'))",
        connectors.join(", ")
    );
    expected_rows(conn, &explain).await
}

/// The rows PostgreSQL's planner expects of a statement, from the first line of `explain` (an
/// `EXPLAIN` with its values written in, planned once, not kept among the connection's prepared
/// statements).
async fn expected_rows(conn: &mut sqlx::AnyConnection, explain: &str) -> sqlx::Result<i64> {
    let top: String = sqlx::query_scalar(explain).persistent(false).fetch_one(conn).await?;
    Ok(estimated_rows(&top).unwrap_or(0))
}

/// The rows PostgreSQL expects of a plan's line (`… (cost=0.00..1.00 rows=42 width=0)`).
fn estimated_rows(line: &str) -> Option<i64> {
    let rest = &line[line.rfind("rows=")? + "rows=".len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The conversations of the organization `$org` whose guest's number or name holds the text typed,
/// case and accents aside: through a trigram index (migrations 0023 and 0040: SQLite's FTS5 table
/// of the guests, keyed by organization; PostgreSQL's indexes over the folded number and name,
/// which serve its `LIKE`). SQLite's trigrams need three characters: a shorter text is found by
/// `LIKE` along the organization's conversations (case aside, accents as typed). `$n` is
/// [`guest_query`]'s text.
fn guest_ids(backend: Backend, q: &str, n: usize, org: usize) -> String {
    match backend {
        Backend::Sqlite if trigrams(q) => format!(
            "SELECT g.id FROM conversations g WHERE g.rowid IN \
             (SELECT rowid FROM guest_search WHERE guest_search MATCH {}) AND g.org_id = ${org}",
            guest_match(n, org)
        ),
        _ => format!("SELECT g.id FROM conversations g WHERE g.org_id = ${org} AND ({})", guest_like(backend, "g", n)),
    }
}

/// SQLite's query of its index of guests for [`guest_query`]'s phrase `$n` in the numbers and names
/// of the organization `$org`'s guests: its mark (migration 0040) and the phrase. (An organization
/// that does not exist reads the mark of the conversations without one: none, as each has a
/// number of a connector of one.)
fn guest_match(n: usize, org: usize) -> String {
    format!(
        "('organization : \"' || COALESCE((SELECT {GUEST_ORGANIZATION} FROM organizations o WHERE o.id = ${org}), \
         char(983040, 983040, 983040)) || '\" AND {{address name}} : ' || ${n})"
    )
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
fn text_query(backend: Backend, words: &[String], last: Last) -> String {
    let end = words.len().saturating_sub(1);
    let word = |(i, w): (usize, &String)| match (backend, i == end && last == Last::Begun) {
        (Backend::Sqlite, false) => format!("\"{w}\""),
        (Backend::Sqlite, true) => format!("\"{w}\"*"),
        (Backend::Postgres, false) => w.clone(),
        (Backend::Postgres, true) => format!("{w}:*"),
    };
    let words = words.iter().enumerate().map(word).collect::<Vec<_>>();
    words.join(if backend == Backend::Sqlite { " " } else { " & " })
}

/// How [`text_query`] reads the last word typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Also as the start of a word (it may be still being typed): what a search finds.
    Begun,
    /// As a whole word: what [`plan`] counts first, cheaply.
    Whole,
}

/// The WHERE clause and its arguments for the conversations `me` may see under `filter`, its
/// state aside ([`list`] reads each state on its own). `$1`…`$3` are the organization, role and
/// user.
fn scope(me: &Me, filter: &InboxFilter, backend: Backend, plan: &Plan) -> (String, Vec<String>) {
    let mut args = vec![me.org_id.clone(), me.role.as_str().to_string(), me.user_id.clone()];
    // The organization as the conversation keeps it: a list reads each state along the index of
    // the organization's own conversations (migration 0036).
    let mut sql = String::from("cv.org_id = $1 AND ($2 = 'org_admin' OR a.owner_id = $3)");
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
    let q = typed(filter);
    if !q.is_empty() {
        // The guest's number or name (a part of either), or the words in the messages' text or in
        // a voice note's transcript: the few conversations found are looked up by id.
        args.push(guest_query(backend, &q));
        let guests = guest_ids(backend, &q, args.len(), 1);
        let words = search_words(&q);
        // The conversations found, looked up by id. PostgreSQL is given them as an array, which it
        // reads once and looks each up by its key: as an `IN` list its planner took the found to be
        // as many as it guesses a word begun matches (2 % of the messages, 200,000 at ten million),
        // and read every conversation to join them (110 ms of 140 for one guest's number).
        let found = |ids: String| match backend {
            Backend::Sqlite => format!(" AND cv.id IN ({ids})"),
            Backend::Postgres => format!(" AND cv.id = ANY(ARRAY({ids}))"),
        };
        // Each guest matched as it is read, where a gather would collect too many.
        let guests_in_row = matches!(plan, Plan::WalkGuests(_)).then(|| guest_in_row(backend, &q, args.len(), 1));
        if words.is_empty() {
            match &guests_in_row {
                // The never-true alternative as in a walk with words (below).
                Some(in_row) => sql.push_str(&format!(" AND ({in_row} OR (c.id IS NULL AND a.id IS NULL))")),
                None => sql.push_str(&found(guests)),
            }
        } else {
            // And the voice notes that said the words.
            args.push(text_query(backend, &words, Last::Begun));
            let heard = heard_ids(backend, args.len());
            args.push(match plan {
                Plan::Walk(Walk::Asked(query)) | Plan::WalkGuests(Walk::Asked(query)) => query.clone(),
                _ => text_query(backend, &words, Last::Begun),
            });
            let n = args.len();
            match plan {
                Plan::Gather => sql.push_str(&found(format!("{guests} UNION {heard} UNION {}", text_ids(backend, n)))),
                Plan::Walk(walk) | Plan::WalkGuests(walk) => {
                    // The last, never true, alternative names the connector and the agent: SQLite
                    // tests a condition in the loop of the last table it names, so the messages
                    // are asked about only once the conversation is known to be `me`'s (an agent
                    // owner's walk passes over the other owners' conversations).
                    let text = text_in_conversation(backend, walk, n);
                    let guests = guests_in_row.unwrap_or_else(|| format!("cv.id IN ({guests})"));
                    sql.push_str(&format!(
                        " AND ({guests} OR cv.id IN ({heard}) OR {text} OR (c.id IS NULL AND a.id IS NULL))"
                    ))
                }
            }
        }
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
/// Without a search, or with one that walks ([`Plan::Walk`]), each state is read on its own, along
/// the index on (state, last activity, id) (migration 0021), and the two ordered reads are merged:
/// one read ordered by activity across both states would sort every conversation of the
/// organization for each page. A search that gathers ([`Plan::Gather`]) sorts what it found.
#[allow(clippy::too_many_arguments)]
pub(in crate::inbox) async fn list(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    me: &Me,
    filter: &InboxFilter,
    plan: &Plan,
    place: Option<&Place>,
    way: Way,
    limit: usize,
) -> sqlx::Result<Vec<ListRow>> {
    let (sql, args) = list_sql(backend, me, filter, plan, place.is_some(), way, limit);
    // PostgreSQL plans a search for its own organization and text each time (an unnamed
    // statement): a statement kept on the connection is planned, from its sixth run, once for any
    // values (its generic plan), which gathers through the guest indexes' entries of every
    // organization where one of 50 conversations has only those to read.
    let search = backend == Backend::Postgres && !typed(filter).is_empty();
    let mut query = sqlx::query_as::<_, ListRow>(&sql).persistent(!search);
    for a in &args {
        query = query.bind(a);
    }
    if let Some(p) = place {
        query = query.bind(p.at).bind(&p.id);
    }
    let Some(setting) = planner_setting(backend, filter, plan) else {
        return query.fetch_all(conn).await;
    };
    // In a transaction of its own, or a savepoint of an export's, rolled back once read: the
    // setting ends with it, and what was set before holds again (a setting made under a savepoint
    // would outlast its release).
    let mut tx = sqlx::Connection::begin(conn).await?;
    sqlx::query(&format!("SET LOCAL {setting}")).execute(&mut *tx).await?;
    let rows = query.fetch_all(&mut *tx).await?;
    tx.rollback().await?;
    Ok(rows)
}

/// What PostgreSQL's planner is told for a search's read, beyond its statistics (`name = value`).
/// A gather finds few messages by its plan's choice, but PostgreSQL expects a word begun to match
/// thousands and reads them with parallel workers, whose start took 8.8 ms of the 12.4 a small
/// organization's search took at a million messages (their read 0.4 ms): it reads without them.
/// A walk reads each state's conversations along their index and stops at the page: statistics
/// that have not seen the organization expect a row or two of it, and the planner then read all of
/// them to sort them (the 12,000 of a hotel group moved in since, in the inbox benchmark's
/// `BENCH_GROUP_UNANALYZED`: the statement 57.0 ms, 0.8 without sorting; a search 52–56 ms, 7.9).
/// It walks without sorting.
fn planner_setting(backend: Backend, filter: &InboxFilter, plan: &Plan) -> Option<&'static str> {
    if backend != Backend::Postgres || typed(filter).is_empty() {
        return None;
    }
    Some(match plan {
        Plan::Gather => "max_parallel_workers_per_gather = 0",
        Plan::Walk(_) | Plan::WalkGuests(_) => "enable_sort = off",
    })
}

/// [`list`]'s statement and its arguments (a place's two come after them).
fn list_sql(
    backend: Backend,
    me: &Me,
    filter: &InboxFilter,
    plan: &Plan,
    from_place: bool,
    way: Way,
    limit: usize,
) -> (String, Vec<String>) {
    let (mut clause, args) = scope(me, filter, backend, plan);
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
    let sql = if typed(filter).is_empty() || matches!(plan, Plan::Walk(_) | Plan::WalkGuests(_)) {
        let states = match filter.state {
            Some(state) => vec![state.as_str()],
            None => vec!["live", "ended"],
        };
        let read = |state: &str| {
            format!(
                "SELECT {columns} {FROM_CONVERSATIONS_FIRST} WHERE cv.state = '{state}' AND {JOINED} AND {clause} \
                 ORDER BY cv.last_activity_at {order}, cv.id {order} LIMIT {limit}"
            )
        };
        super::each_state_merged(&states, read, &format!("last_activity_at {order}, id {order}"), limit)
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

    use super::{estimated_rows, list_sql, plan, Plan, Walk, Way};
    use crate::db::Backend;

    /// A search walks when at least as many messages as asked hold its words (the last one begun),
    /// and gathers otherwise, or when it has no words.
    #[tokio::test]
    async fn a_search_walks_when_enough_messages_hold_its_words() {
        let mut conn = migrated().await;
        connector(&mut conn, "k", "o").await;
        let bodies = ["Fresh towels", "towels!", "More TOWELS", "towelling", "Towels?", "the sauna"];
        for (i, body) in bodies.iter().enumerate() {
            message(&mut conn, i, "c", "k", body).await;
        }
        sqlx::query("INSERT INTO message_search (message_search) VALUES ('rebuild')").execute(&mut conn).await.unwrap();
        async fn planned(conn: &mut sqlx::AnyConnection, q: &str, walk_from: i64) -> Plan {
            let filter = InboxFilter { q: q.into(), ..Default::default() };
            plan(conn, Backend::Sqlite, "o", &filter, walk_from, walk_from).await.unwrap()
        }
        let asked = |q: &str| Plan::Walk(Walk::Asked(q.into()));
        assert_eq!(planned(&mut conn, "towels", 4).await, asked("(\"towels\")"), "four whole words");
        assert_eq!(planned(&mut conn, "towels", 5).await, Plan::Gather);
        assert_eq!(
            planned(&mut conn, "Fresh towel", 1).await,
            asked("(\"fresh\" \"towelling\") OR (\"fresh\" \"towels\")"),
            "the words the last one begins spelled out"
        );
        assert_eq!(planned(&mut conn, "towel", 5).await, asked("(\"towelling\") OR (\"towels\")"));
        // Spelled out, the words find the messages the words as typed find.
        for (q, walk_from) in [("Fresh towel", 1), ("towel", 5), ("towels", 4), ("more t", 1), ("ⓟ fresh towel", 1)] {
            let Plan::Walk(Walk::Asked(spelled)) = planned(&mut conn, q, walk_from).await else { panic!("{q}") };
            let mut found = vec![];
            for query in [
                spelled,
                super::text_query(Backend::Sqlite, &super::search_words(&q.to_lowercase()), super::Last::Begun),
            ] {
                let ids: Vec<i64> =
                    sqlx::query_scalar("SELECT rowid FROM message_search WHERE message_search MATCH $1 ORDER BY rowid")
                        .bind(query)
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                found.push(ids);
            }
            assert!(!found[0].is_empty() && found[0] == found[1], "{q}: {found:?}");
        }
        assert_eq!(planned(&mut conn, "fresh tôwel", 1).await, Plan::Walk(Walk::Gathered), "the index folds accents");
        assert_eq!(planned(&mut conn, "fresh towel", 2).await, Plan::Gather, "one message holds both");
        assert_eq!(planned(&mut conn, "sauna", 2).await, Plan::Gather);
        assert_eq!(planned(&mut conn, "1 555", 1).await, Plan::Gather, "digits no message holds");
        assert_eq!(planned(&mut conn, "+ (", 1).await, Plan::Gather, "no words at all");

        // A text many guests' numbers or names hold walks, each guest matched as it is read; the
        // words in the messages as before.
        for (i, (guest, name)) in
            [("+15550000001", "Ana"), ("+15550000002", "Ben"), ("+15550000003", "Ana Lima"), ("+442071234567", "Zoé")]
                .iter()
                .enumerate()
        {
            sqlx::query(
                "INSERT INTO conversations (id, number_id, guest_address, guest_name, created_at, last_activity_at) \
                 VALUES ($1, 'n', $2, $3, 0, 0)",
            )
            .bind(format!("c{i}"))
            .bind(*guest)
            .bind(*name)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        // Of the organization (the trigger found none for their number), indexed as the indexer does.
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ('o', 'O', 0)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("UPDATE conversations SET org_id = 'o'").execute(&mut conn).await.unwrap();
        for statement in super::super::search::index_queued(100) {
            statement.run(&mut conn).await.unwrap();
        }
        let walked = |walk: Walk| Plan::WalkGuests(walk);
        assert_eq!(planned(&mut conn, "+1555", 3).await, walked(Walk::Gathered), "three guests' numbers");
        assert_eq!(planned(&mut conn, "+1555", 4).await, Plan::Gather);
        assert_eq!(planned(&mut conn, "ana", 2).await, walked(Walk::Gathered), "two guests' names");
        assert_eq!(planned(&mut conn, "zoe", 1).await, walked(Walk::Gathered), "accents aside");
        assert_eq!(planned(&mut conn, "an", 2).await, walked(Walk::Gathered), "too short for trigrams");
        assert_eq!(planned(&mut conn, "towels", 1).await, asked("(\"towels\")"), "no guest holds it");
        assert_eq!(planned(&mut conn, "+ (", 0).await, walked(Walk::Gathered), "walked from none");
    }

    /// A migrated SQLite database in memory, its rows written without their parents.
    async fn migrated() -> sqlx::AnyConnection {
        let mut conn = crate::db::migrated_in_memory_any().await;
        sqlx::query("PRAGMA foreign_keys = OFF").execute(&mut conn).await.unwrap();
        conn
    }

    /// The guest's message `m<i>` in `conversation` on `connector`, written at `i` ms.
    async fn message(conn: &mut sqlx::AnyConnection, i: usize, conversation: &str, connector: &str, body: &str) {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, created_at) \
             VALUES ($1, $2, $3, 'inbound', $4, 'received', $5)",
        )
        .bind(format!("m{i}"))
        .bind(conversation)
        .bind(connector)
        .bind(body)
        .bind(i as i64)
        .execute(&mut *conn)
        .await
        .unwrap();
    }

    /// A connector `id` of the organization `org`, as the search's index reads it.
    async fn connector(conn: &mut sqlx::AnyConnection, id: &str, org: &str) {
        sqlx::query(
            "INSERT INTO connectors (id, org_id, name, account_sid, auth_token_enc, receive_inbound, state, health, \
             webhook_key, created_at, updated_at) VALUES ($1, $2, $1, 'AC', x'00', 1, 'active', 'connected', $1, 0, 0)",
        )
        .bind(id)
        .bind(org)
        .execute(&mut *conn)
        .await
        .unwrap();
    }

    /// A search counts only its own organization's messages: an organization whose messages seldom
    /// hold a word gathers them, however many another's hold (a walk would read every one of its
    /// conversations looking for them), and one whose messages often do walks. What either finds in
    /// the index is its own messages, by the words of their text, not by the connector's id the
    /// index holds beside them.
    #[tokio::test]
    async fn a_search_counts_only_its_own_organizations_messages() {
        let mut conn = migrated().await;
        // The quiet organization has two connectors; the busy one, "towels" in five messages.
        for (id, org) in [("0quiet1", "quiet"), ("0quiet2", "quiet"), ("0busy", "busy")] {
            connector(&mut conn, id, org).await;
        }
        let messages = [
            ("0quiet1", "Fresh towels please"),
            ("0quiet2", "The sauna"),
            ("0busy", "towels"),
            ("0busy", "More towels"),
            ("0busy", "Towels?"),
            ("0busy", "towels!"),
            ("0busy", "Clean towels"),
        ];
        for (i, (connector, body)) in messages.iter().enumerate() {
            message(&mut conn, i, &format!("c{i}"), connector, body).await;
        }
        // Indexed as the indexer does (the webhooks' inserts queued them).
        for statement in super::super::search::index_queued(100) {
            statement.run(&mut conn).await.unwrap();
        }
        async fn planned(conn: &mut sqlx::AnyConnection, org: &str, q: &str) -> Plan {
            let filter = InboxFilter { q: q.into(), ..Default::default() };
            plan(conn, Backend::Sqlite, org, &filter, 3, 3).await.unwrap()
        }
        assert_eq!(planned(&mut conn, "quiet", "towels").await, Plan::Gather, "one of its messages, of six");
        assert_eq!(planned(&mut conn, "quiet", "towel").await, Plan::Gather);
        assert_eq!(planned(&mut conn, "busy", "towels").await, Plan::Walk(Walk::Asked("(\"towels\")".into())));
        assert_eq!(planned(&mut conn, "busy", "tow").await, Plan::Walk(Walk::Asked("(\"towels\")".into())));
        // What the index gives each organization.
        async fn found(conn: &mut sqlx::AnyConnection, org: &str, q: &str) -> Vec<String> {
            let sql = format!("SELECT * FROM ({}) AS found ORDER BY 1", super::text_ids(Backend::Sqlite, 2));
            let words = super::search_words(q);
            let query = super::text_query(Backend::Sqlite, &words, super::Last::Begun);
            sqlx::query_scalar(&sql).bind(org).bind(query).fetch_all(conn).await.unwrap()
        }
        assert_eq!(found(&mut conn, "quiet", "towel").await, ["c0"]);
        assert_eq!(found(&mut conn, "quiet", "sauna").await, ["c1"], "its other connector's");
        assert_eq!(found(&mut conn, "busy", "towels").await, ["c2", "c3", "c4", "c5", "c6"]);
        assert!(found(&mut conn, "busy", "sauna").await.is_empty(), "another organization's message");
        assert!(found(&mut conn, "nobody", "towels").await.is_empty(), "an organization without connectors");
        // Nor is it among the words a search's last one may begin (it sorts behind U+E000).
        let terms: Vec<String> =
            sqlx::query_scalar("SELECT term FROM message_search_terms WHERE term >= '0' AND term < '1'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert!(terms.is_empty(), "{terms:?}");
        for q in ["0busy", "0quiet", "0"] {
            assert!(found(&mut conn, "busy", q).await.is_empty(), "{q:?} is a connector's id, not a word");
            assert_eq!(planned(&mut conn, "quiet", q).await, Plan::Gather, "{q:?}");
        }
    }

    /// A search counts only its own organization's guests: an organization few of whose guests'
    /// numbers hold a text gathers them, however many of another's do (a walk would read every one
    /// of its conversations looking for them), and one many of whose guests' do walks; a text too
    /// short for SQLite's trigrams the same. What either finds is its own guests. On both
    /// databases (PostgreSQL when `TEST_DATABASE_URL` names a server).
    #[tokio::test]
    async fn a_guest_search_counts_only_its_own_organizations_guests() {
        let (mut conn, backend) = crate::db::migrated_any().await;
        two_organizations(&mut conn, backend).await;
        // Walking from 100 guests (two, where said).
        async fn planned_from(conn: &mut sqlx::AnyConnection, backend: Backend, org: &str, q: &str, n: i64) -> Plan {
            let filter = InboxFilter { q: q.into(), ..Default::default() };
            plan(conn, backend, org, &filter, n, n).await.unwrap()
        }
        async fn planned(conn: &mut sqlx::AnyConnection, backend: Backend, org: &str, q: &str) -> Plan {
            planned_from(conn, backend, org, q, 100).await
        }
        assert_eq!(planned(&mut conn, backend, "quiet", "+1555").await, Plan::Gather, "one of its guests, of 125");
        assert_eq!(planned(&mut conn, backend, "busy", "+1555").await, Plan::WalkGuests(Walk::Gathered));
        assert_eq!(planned(&mut conn, backend, "quiet", "55").await, Plan::Gather, "too short for SQLite's trigrams");
        assert_eq!(planned(&mut conn, backend, "busy", "55").await, Plan::WalkGuests(Walk::Gathered));
        assert_eq!(planned_from(&mut conn, backend, "quiet", "ana", 2).await, Plan::Gather, "one of two");
        assert_eq!(
            planned_from(&mut conn, backend, "busy", "+44", 2).await,
            Plan::Gather,
            "another organization's guests"
        );
        // What the index gives each organization.
        async fn found(conn: &mut sqlx::AnyConnection, backend: Backend, org: &str, q: &str) -> Vec<String> {
            let sql = format!("SELECT * FROM ({}) AS found ORDER BY 1", super::guest_ids(backend, q, 1, 2));
            let query = super::guest_query(backend, &q.to_lowercase());
            sqlx::query_scalar(&sql).bind(query).bind(org).fetch_all(conn).await.unwrap()
        }
        assert_eq!(found(&mut conn, backend, "quiet", "+1555").await, ["c0"]);
        let busy = found(&mut conn, backend, "busy", "+1555").await;
        assert_eq!(busy.len(), 124);
        assert!(["c3", "c4", "c5", "c6"].iter().all(|c| busy.contains(&c.to_string())) && !busy.contains(&"c0".into()));
        assert_eq!(found(&mut conn, backend, "quiet", "zoe").await, ["c1"], "accents aside");
        assert_eq!(found(&mut conn, backend, "busy", "ZOÉ").await, ["c5"]);
        assert_eq!(found(&mut conn, backend, "busy", "ana").await, ["c3"]);
        assert_eq!(found(&mut conn, backend, "quiet", "44").await, ["c1", "c2"], "too short for SQLite's trigrams");
        assert!(found(&mut conn, backend, "busy", "+44").await.is_empty(), "another organization's guests");
        assert!(found(&mut conn, backend, "nobody", "+1555").await.is_empty(), "an organization without guests");

        // A conversation whose number moves to another organization's connector is found by that
        // organization's search only, once indexed again.
        sqlx::query("UPDATE conversations SET number_id = 'busy' WHERE id = 'c1'").execute(&mut conn).await.unwrap();
        indexed(&mut conn, backend).await;
        assert!(found(&mut conn, backend, "quiet", "zoe").await.is_empty());
        assert_eq!(found(&mut conn, backend, "busy", "zoe").await, ["c1", "c5"]);
    }

    /// An organization whose conversations came after the statistics were last taken (an import, a
    /// group moved in at once) is planned by what its guests hold, not by what the statistics say
    /// every organization's do: PostgreSQL took the 12,000 guests of such a group for a handful and
    /// gathered them (1.2 s a search at ten million messages). Its agents' totals say how many
    /// conversations it has. The statistics have seen the two other organizations
    /// ([`two_organizations`]). On both databases (SQLite counts along its index of the guests,
    /// statistics aside: there the test checks the same plans).
    #[tokio::test]
    async fn an_organization_the_statistics_have_not_seen_is_planned_by_its_own_guests() {
        let (mut conn, backend) = crate::db::migrated_any().await;
        two_organizations(&mut conn, backend).await;
        if backend == Backend::Postgres {
            // Nor does autovacuum take them again meanwhile.
            sqlx::query("ALTER TABLE conversations SET (autovacuum_enabled = false)").execute(&mut conn).await.unwrap();
        }
        // The group, with its agent and 150 guests in London, after the statistics were taken.
        organization(&mut conn, "group", "+442071000000").await;
        sqlx::query(
            "INSERT INTO agents (id, org_id, name, fallback_reply, created_at) VALUES ('desk', 'group', 'desk', '', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        for i in 0..150 {
            sqlx::query(
                "INSERT INTO conversations (id, number_id, agent_id, guest_address, guest_name, created_at, \
                 last_activity_at) VALUES ($1, 'group', 'desk', $2, $3, 0, $4)",
            )
            .bind(format!("g{i:03}"))
            .bind(format!("+4420799{i:05}"))
            .bind(format!("Guest {i}"))
            .bind(1_000 + i)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        match backend {
            // SQLite counts along its index of the guests, which the indexer keeps.
            Backend::Sqlite => indexed(&mut conn, backend).await,
            // PostgreSQL's statistics of every other table are taken again, of the conversations not.
            Backend::Postgres => {
                sqlx::query("ANALYZE organizations, agents, connectors, numbers, messages, media")
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
        let filter = InboxFilter { q: "+4420".into(), ..Default::default() };
        let planned = plan(&mut conn, backend, "group", &filter, 100, 100).await.unwrap();
        assert_eq!(planned, Plan::WalkGuests(Walk::Gathered), "150 of its 150 guests");
        let planned = plan(&mut conn, backend, "quiet", &filter, 100, 100).await.unwrap();
        assert_eq!(planned, Plan::Gather, "two of the quiet organization's three");
        // PostgreSQL walks the group's conversations along their index, sorting none of them
        // (its statistics expect none of the group's), and leaves what was set as it was.
        if backend == Backend::Postgres {
            let me = admin("group");
            let walk = Plan::WalkGuests(Walk::Gathered);
            let (sql, args) = super::list_sql(backend, &me, &filter, &walk, false, Way::Older, 26);
            let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
            if let Some(setting) = super::planner_setting(backend, &filter, &walk) {
                sqlx::query(&format!("SET LOCAL {setting}")).execute(&mut *tx).await.unwrap();
            }
            let explained = format!("EXPLAIN {sql}");
            let mut explain = sqlx::query_scalar::<_, String>(&explained).persistent(false);
            for a in &args {
                explain = explain.bind(a);
            }
            let lines = explain.fetch_all(&mut *tx).await.unwrap();
            // A sort with the group's conversations below it (a sort of a conversation's last
            // message, or of the merged pages, reads a few rows).
            let depth = |l: &String| l.len() - l.trim_start().len();
            let sorted = lines.iter().enumerate().any(|(i, l)| {
                l.trim_start().trim_start_matches("->").trim_start().starts_with("Sort  (")
                    && lines[i + 1..]
                        .iter()
                        .take_while(|below| depth(below) > depth(l))
                        .any(|below| below.contains(" on conversations cv"))
            });
            assert!(!sorted, "a walk sorts none of the organization's conversations: {lines:#?}");
            tx.rollback().await.unwrap();
            // Within an export's transaction that set sorting off itself, it stays off after.
            let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
            sqlx::query("SET LOCAL enable_sort = off").execute(&mut *tx).await.unwrap();
            let rows = super::list(&mut tx, backend, &me, &filter, &walk, None, Way::Older, 26).await.unwrap();
            assert_eq!(rows.len(), 26, "a page of the group's");
            let after: String = sqlx::query_scalar("SHOW enable_sort").fetch_one(&mut *tx).await.unwrap();
            assert_eq!(after, "off", "as the transaction had it");
            tx.rollback().await.unwrap();
            let sorting: String = sqlx::query_scalar("SHOW enable_sort").fetch_one(&mut conn).await.unwrap();
            assert_eq!(sorting, "on", "the connection as it was");
        }
        let filter = InboxFilter { q: "+44207990001".into(), ..Default::default() };
        let planned = plan(&mut conn, backend, "group", &filter, 100, 100).await.unwrap();
        assert_eq!(planned, Plan::Gather, "ten of its guests");
    }

    /// A search is planned for its own organization and text every time it runs: PostgreSQL plans a
    /// statement kept on the connection, from its sixth run, once for any values (its generic plan),
    /// with which the organization of 50 conversations gathered its guests through the guest indexes'
    /// entries of every organization (about 14 ms at ten million messages, against 0.4 ms along its
    /// own conversations). A gather reads without parallel workers ([`super::list`]), and leaves the
    /// connection's setting as it was. On both databases: what each search finds.
    #[tokio::test]
    async fn a_search_is_planned_for_its_own_organization_and_text_every_time() {
        let (mut conn, backend) = crate::db::migrated_any().await;
        two_organizations(&mut conn, backend).await;
        const WORKERS: &str = "SHOW max_parallel_workers_per_gather";
        let before: Option<String> = match backend {
            Backend::Postgres => Some(sqlx::query_scalar(WORKERS).fetch_one(&mut conn).await.unwrap()),
            Backend::Sqlite => None,
        };
        for _ in 0..8 {
            for (org, q, expected) in [("quiet", "+1555", "c0"), ("busy", "ana lima", "c3")] {
                let filter = InboxFilter { q: q.into(), ..Default::default() };
                let plan = plan(&mut conn, backend, org, &filter, 100, 100).await.unwrap();
                assert_eq!(plan, Plan::Gather, "{org}: {q}");
                let rows =
                    super::list(&mut conn, backend, &admin(org), &filter, &plan, None, Way::Older, 26).await.unwrap();
                let found: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
                assert_eq!(found, [expected], "{org}: {q}");
            }
        }
        if backend == Backend::Postgres {
            // The list's statements kept on the connection and planned once for any values.
            let generic: Vec<String> = sqlx::query_scalar(
                "SELECT statement FROM pg_prepared_statements WHERE generic_plans > 0 AND statement LIKE 'SELECT cv.id %'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            assert!(generic.is_empty(), "planned once for any values: {generic:#?}");
            // A gather reads without parallel workers, and the connection is left as it was.
            let after: String = sqlx::query_scalar(WORKERS).fetch_one(&mut conn).await.unwrap();
            assert_eq!(Some(after), before);
            // The same within a transaction already open (an export's snapshot), whatever it set.
            let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
            sqlx::query("SET LOCAL max_parallel_workers_per_gather = 1").execute(&mut *tx).await.unwrap();
            let filter = InboxFilter { q: "+1555".into(), ..Default::default() };
            let rows = super::list(&mut tx, backend, &admin("quiet"), &filter, &Plan::Gather, None, Way::Older, 26)
                .await
                .unwrap();
            assert_eq!(rows.len(), 1);
            let within: String = sqlx::query_scalar(WORKERS).fetch_one(&mut *tx).await.unwrap();
            assert_eq!(within, "1", "the export's later reads keep their workers");
            tx.rollback().await.unwrap();
        }
    }

    /// Two organizations, `quiet` and `busy`, each with a connector and a number, and their guests:
    /// three of the quiet one's, and 124 of the busy one's (`c0`…`c6`, `b000`…`b119`), indexed.
    async fn two_organizations(conn: &mut sqlx::AnyConnection, backend: Backend) {
        for org in ["quiet", "busy"] {
            organization(conn, org, &format!("+1415555{}", org.len())).await;
        }
        // Three of the quiet organization's guests and four of the busy one's (120 more below).
        let guests = [
            ("quiet", "+15550000001", "Ana"),
            ("quiet", "+442071234567", "Zoé"),
            ("quiet", "+442071234568", "Olga"),
            ("busy", "+15550000002", "Ana Lima"),
            ("busy", "+15550000003", "Ben"),
            ("busy", "+15550000004", "Zoe"),
            ("busy", "+15550000005", ""),
        ];
        // And 120 more of the busy organization's, so that a walk from 100 guests has a side to
        // take (and PostgreSQL's statistics have enough of them to go by).
        let more: Vec<(String, String, String)> =
            (0..120).map(|i| (format!("b{i:03}"), format!("+15557{i:06}"), format!("Guest {i}"))).collect();
        let all = guests
            .iter()
            .enumerate()
            .map(|(i, (org, guest, name))| (format!("c{i}"), *org, guest.to_string(), name.to_string()))
            .chain(more.into_iter().map(|(id, guest, name)| (id, "busy", guest, name)));
        for (i, (id, org, guest, name)) in all.enumerate() {
            sqlx::query(
                "INSERT INTO conversations (id, number_id, guest_address, guest_name, created_at, last_activity_at) \
                 VALUES ($1, $2, $3, $4, 0, $5)",
            )
            .bind(id)
            .bind(org)
            .bind(guest)
            .bind(name)
            .bind(i as i64)
            .execute(&mut *conn)
            .await
            .unwrap();
        }
        indexed(conn, backend).await;
    }

    /// The organization `org`, with a connector and an SMS number `number`, each with the
    /// organization's id.
    async fn organization(conn: &mut sqlx::AnyConnection, org: &str, number: &str) {
        sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $1, 0)")
            .bind(org)
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO connectors (id, org_id, name, account_sid, auth_token_enc, receive_inbound, state, health, \
             webhook_key, created_at, updated_at) VALUES ($1, $1, $1, 'AC', $2, 1, 'active', 'connected', $1, 0, 0)",
        )
        .bind(org)
        .bind(vec![0u8; 32])
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO numbers (id, connector_id, address, phone_number, provider, provider_sid, active, \
             created_at) VALUES ($1, $1, $2, $2, 'sms', $1, 1, 0)",
        )
        .bind(org)
        .bind(number)
        .execute(&mut *conn)
        .await
        .unwrap();
    }

    /// An admin of the organization `org`.
    fn admin(org: &str) -> Me {
        Me {
            user_id: "u".into(),
            org_id: org.into(),
            org_name: org.into(),
            email: "a@example.com".into(),
            role: Role::OrgAdmin,
            token: None,
        }
    }

    /// The guests as a search finds them: SQLite's index of them brought up to date, PostgreSQL's
    /// statistics.
    async fn indexed(conn: &mut sqlx::AnyConnection, backend: Backend) {
        match backend {
            // As the indexer does (the conversations' inserts queued them).
            Backend::Sqlite => {
                for statement in super::super::search::index_queued(1_000) {
                    statement.run(&mut *conn).await.unwrap();
                }
            }
            // The statistics of each organization's share, as autovacuum keeps them.
            Backend::Postgres => {
                sqlx::query("ANALYZE conversations").execute(&mut *conn).await.unwrap();
            }
        }
    }

    /// PostgreSQL's estimate of an organization's guests holding a text, from the first thousand of
    /// its conversations: all of them when it has fewer; else in proportion, of at least as many
    /// as were read, whatever the statistics expect.
    #[test]
    fn a_sample_of_the_first_conversations_says_how_many_hold_a_text() {
        assert_eq!(super::sampled(3, 4, 0), 3, "every one of its conversations read");
        assert_eq!(super::sampled(20, 1_000, 500_000), 10_000);
        assert_eq!(super::sampled(0, 1_000, 500_000), 0);
        assert_eq!(super::sampled(1_000, 1_000, 1), 1_000, "an organization the statistics have not seen");
    }

    #[test]
    fn postgres_plans_are_read_for_the_rows_they_expect() {
        let line = "Bitmap Heap Scan on messages  (cost=1234.56..98765.43 rows=1250000 width=4)";
        assert_eq!(estimated_rows(line), Some(1_250_000));
        assert_eq!(estimated_rows("Seq Scan on messages  (cost=0.00..1.00 rows=1 width=4)"), Some(1));
        assert_eq!(estimated_rows("Result"), None);
    }

    /// The organization's list reads each state's conversations along the index of its own, in the
    /// list's order, and sorts nothing but the merged page: a plan that sorted the organization's
    /// conversations (`USE TEMP B-TREE FOR ORDER BY` in a state's read) made the first page take
    /// 11 s at ten million messages in the inbox benchmark, and one along the index of every
    /// organization's conversations read past all of another's.
    #[tokio::test]
    async fn a_page_walks_the_conversations_index_and_sorts_only_the_page() {
        let mut conn = crate::db::migrated_in_memory().await;
        let me = Me {
            user_id: "u".into(),
            org_id: "o".into(),
            org_name: "O".into(),
            email: "a@example.com".into(),
            role: Role::OrgAdmin,
            token: None,
        };
        // A search for words many messages hold walks the same way (its plan chosen by `plan`).
        let search = |q: &str, state| InboxFilter { q: q.into(), state, ..Default::default() };
        let filters = [
            (InboxFilter::default(), Plan::Gather),
            (InboxFilter { state: Some(ConversationState::Ended), ..Default::default() }, Plan::Gather),
            (InboxFilter { provider: Some(app::connectors::Provider::Sms), ..Default::default() }, Plan::Gather),
            (search("towels", None), Plan::Walk(Walk::Gathered)),
            (search("towels", None), Plan::Walk(Walk::Asked("(\"towels\")".into()))),
            (search("late check", Some(ConversationState::Ended)), Plan::Walk(Walk::Gathered)),
            (search("+1555", None), Plan::WalkGuests(Walk::Gathered)),
            (search("an", Some(ConversationState::Live)), Plan::WalkGuests(Walk::Gathered)),
            (search("towels", None), Plan::WalkGuests(Walk::Asked("(\"towels\")".into()))),
        ];
        for (filter, plan_of) in &filters {
            for (from_place, way) in [(false, Way::Older), (true, Way::Older), (true, Way::Newer)] {
                let (sql, _) = list_sql(Backend::Sqlite, &me, filter, plan_of, from_place, way, 26);
                let plan = crate::db::query_plan(&mut conn, &sql).await;
                let states = if filter.state.is_some() { 1 } else { 2 };
                let walks = plan
                    .iter()
                    .filter(|d| {
                        d.starts_with("SEARCH cv USING INDEX conversations_org_state_activity (org_id=? AND state=?")
                    })
                    .count();
                assert_eq!(walks, states, "each state read along the organization's index\n{sql}\n{plan:#?}");
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
                if let Plan::Walk(Walk::Asked(_)) | Plan::WalkGuests(Walk::Asked(_)) = plan_of {
                    // Each message is looked up in the index by its rowid (`=`), with the words.
                    assert!(plan.iter().any(|d| d.starts_with("SCAN ms VIRTUAL TABLE INDEX 0:=M")), "{plan:#?}");
                }
                if matches!(plan_of, Plan::WalkGuests(_)) && filter.q.chars().count() >= 3 {
                    // Each guest is looked up in the index of guests by its rowid, with the text.
                    assert!(plan.iter().any(|d| d.starts_with("SCAN gs VIRTUAL TABLE INDEX 0:=M")), "{plan:#?}");
                }
            }
        }
    }
}
