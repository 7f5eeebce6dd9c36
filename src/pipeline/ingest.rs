//! Storing inbound messages, batched: webhook requests that arrive together are written in one
//! transaction of a few statements (group commit, see [`super::batch`]).

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::{
    batch::{values, GroupWrite},
    jobs::{Inbound, Stored},
};
use crate::{db::Statement, new_id, now_ms, state::AppState};

/// Writes inbound messages in batches.
pub struct IngestWriter {
    pub state: AppState,
}

impl GroupWrite for IngestWriter {
    type Job = Inbound;
    type Outcome = Stored;

    async fn write(&self, jobs: &[&Inbound]) -> sqlx::Result<Vec<Stored>> {
        store_batch(&self.state, jobs).await
    }

    async fn written(&self, jobs: &[&Inbound], outcomes: &[Result<Stored, String>]) {
        // Only a new message with files has work for the media worker (its claim is a write).
        let new_media =
            jobs.iter().zip(outcomes).any(|(j, o)| !j.media.is_empty() && matches!(o, Ok(Stored::New { .. })));
        if new_media {
            self.state.wake.media.notify_one();
        }
        if outcomes.iter().any(|o| matches!(o, Ok(Stored::New { turn: true }))) {
            self.state.wake_turns().await;
        }
    }
}

/// The messages (of `fresh`) of guests who switch identities in the batch: a user id that comes
/// from two addresses of a number, or an address that brings two ids, with every message of those
/// ids and from those addresses.
fn switching(items: &[&Inbound], fresh: &[usize]) -> HashSet<usize> {
    let mut addresses = HashMap::<(&str, &str), Vec<&str>>::new();
    let mut users = HashMap::<(&str, &str), Vec<&str>>::new();
    for m in fresh.iter().map(|&i| items[i]) {
        let Some(user) = m.external_user_id.as_deref() else { continue };
        let known = addresses.entry((&m.number_id, user)).or_default();
        if !known.contains(&m.from.as_str()) {
            known.push(&m.from);
        }
        let known = users.entry((&m.number_id, &m.from)).or_default();
        if !known.contains(&user) {
            known.push(user);
        }
    }
    let mut crossing_users: HashSet<(&str, &str)> =
        addresses.iter().filter(|(_, at)| at.len() > 1).map(|(key, _)| *key).collect();
    let mut crossing_addresses = HashSet::<(&str, &str)>::new();
    for (&(number, address), ids) in users.iter().filter(|(_, ids)| ids.len() > 1) {
        crossing_addresses.insert((number, address));
        crossing_users.extend(ids.iter().map(|&user| (number, user)));
    }
    for &(number, user) in &crossing_users {
        crossing_addresses.extend(addresses[&(number, user)].iter().map(|&at| (number, at)));
    }
    fresh
        .iter()
        .copied()
        .filter(|&i| {
            let m = items[i];
            m.external_user_id.as_deref().is_some_and(|user| crossing_users.contains(&(m.number_id.as_str(), user)))
                || crossing_addresses.contains(&(m.number_id.as_str(), m.from.as_str()))
        })
        .collect()
}

/// Stores the messages and marks their conversations' turns pending: one transaction of four
/// statements whatever the batch size (and one per file attached), one round trip on SQLite; a
/// transaction per webhook for a guest who switches identities in the batch ([`switching`]).
/// A MessageSid already stored stores nothing.
async fn store_batch(state: &AppState, items: &[&Inbound]) -> sqlx::Result<Vec<Stored>> {
    let now = now_ms();
    // Twilio's retry can arrive in the same batch as the original: the first one stands.
    let mut seen = HashSet::new();
    let fresh: Vec<usize> =
        (0..items.len()).filter(|&i| seen.insert((&items[i].connector_id, &items[i].message_sid))).collect();
    // A guest WhatsApp knows by a user id who writes from two addresses in one batch (their number
    // hidden or shown again between two messages), or two ids from one address: which conversation
    // a message joins depends on what the one before it changed, so their webhooks are written one
    // at a time, in the order they came, as they would be a second apart, after the others' batch.
    // Rare: a guest switching within the few milliseconds a batch gathers. A retry in the same batch
    // stays a duplicate, as in a batch (it would move the conversation back to its address). Only
    // what the batch links counts, not what is stored: a number whose conversation holds another
    // guest's id (recycled) can still link a webhook of the others' batch to one written alone.
    let alone = if fresh.len() > 1 { switching(items, &fresh) } else { HashSet::new() };
    if !alone.is_empty() {
        let mut outcomes = vec![Stored::Duplicate; items.len()];
        let (one_at_a_time, together): (Vec<usize>, Vec<usize>) = fresh.iter().partition(|i| alone.contains(i));
        if !together.is_empty() {
            let batch: Vec<&Inbound> = together.iter().map(|&i| items[i]).collect();
            for (&i, outcome) in together.iter().zip(Box::pin(store_batch(state, &batch)).await?) {
                outcomes[i] = outcome;
            }
        }
        for i in one_at_a_time {
            match Box::pin(store_batch(state, &[items[i]])).await {
                Ok(one) => outcomes[i] = one[0],
                Err(e) => {
                    // The batch is written again a webhook at a time, and those written here come
                    // back as duplicates, which wake nothing: their turns and files are woken now.
                    if outcomes.iter().any(|o| matches!(o, Stored::New { .. })) {
                        state.wake.media.notify_one();
                        state.wake_turns().await;
                    }
                    return Err(e);
                }
            }
        }
        return Ok(outcomes);
    }
    // One conversation row per guest and number, named by the last message that has a profile name.
    let mut guests: Vec<(&str, &str, Option<&str>, Option<&str>)> = Vec::new();
    for &i in &fresh {
        let m = items[i];
        match guests.iter_mut().find(|g| g.0 == m.number_id && g.1 == m.from) {
            Some(g) => {
                g.2 = m.profile_name.as_deref().or(g.2);
                g.3 = m.external_user_id.as_deref().or(g.3);
            }
            None => guests.push((&m.number_id, &m.from, m.profile_name.as_deref(), m.external_user_id.as_deref())),
        }
    }
    // Every row this transaction locks, it locks in one order that every batch follows (guests by
    // number and address, the dashboard's counters by connector and shard, turns by conversation):
    // on PostgreSQL two instances' batches that share a guest or a counter would otherwise each
    // hold what the other waits for, and one of them is cancelled a second later as a deadlock
    // (two instances behind one proxy stored 221 webhooks a second instead of thousands).
    guests.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

    // A guest WhatsApp knows by a user id (a username) is one conversation whatever address Twilio
    // gives: the conversation that has seen the id takes the new address (their phone number hidden,
    // or shown again), unless another conversation holds it; else the conversation at this address
    // learns the id, unless another holds it. Replies go to exactly the address Twilio gave.
    let mut readdress = Vec::new();
    for (number_id, guest, _, user) in &guests {
        let Some(user) = user else { continue };
        readdress.push(
            Statement::new(
                "UPDATE conversations SET guest_address = $1 WHERE number_id = $2 AND guest_user_id = $3 \
                 AND guest_address <> $1 AND NOT EXISTS \
                 (SELECT 1 FROM conversations c WHERE c.number_id = $2 AND c.guest_address = $1)",
            )
            .bind(*guest)
            .bind(*number_id)
            .bind(*user),
        );
        readdress.push(
            Statement::new(
                "UPDATE conversations SET guest_user_id = $3 WHERE number_id = $2 AND guest_address = $1 \
                 AND guest_user_id IS NULL AND NOT EXISTS \
                 (SELECT 1 FROM conversations c WHERE c.number_id = $2 AND c.guest_user_id = $3)",
            )
            .bind(*guest)
            .bind(*number_id)
            .bind(*user),
        );
    }

    let mut conversations = Statement::new(format!(
        "INSERT INTO conversations (id, number_id, guest_address, guest_name, guest_user_id, agent_id, last_inbound_at, \
         last_activity_at, created_at) VALUES {} ON CONFLICT (number_id, guest_address) DO UPDATE SET \
           guest_name = COALESCE(excluded.guest_name, conversations.guest_name), \
           agent_id = excluded.agent_id, last_inbound_at = excluded.last_inbound_at, \
           last_activity_at = excluded.last_inbound_at, state = 'live', ended_at = NULL",
        values(guests.len(), 5, 1, |n| format!(
            "(${}, ${}, ${}, ${}, ${}, (SELECT agent_id FROM channels WHERE number_id = ${}), $1, $1, $1)",
            n[0], n[1], n[2], n[3], n[4], n[1]
        ))
    ))
    .bind(now);
    for (number_id, guest, name, user) in &guests {
        conversations = conversations.bind(new_id()).bind(*number_id).bind(*guest).bind(*name).bind(*user);
    }

    // Message ids are made here, so the turns statement can find the rows this batch inserted.
    // The messages go in by connector and by the id's last character: the dashboard's counter
    // each one adds to (migration 0024's shard).
    let mut rows: Vec<(usize, String)> = fresh.iter().map(|&i| (i, new_id())).collect();
    rows.sort_unstable_by(|a, b| {
        (&items[a.0].connector_id, a.1.chars().last()).cmp(&(&items[b.0].connector_id, b.1.chars().last()))
    });
    let (fresh, ids): (Vec<usize>, Vec<String>) = rows.into_iter().unzip();
    let mut messages = Statement::new(format!(
        "INSERT INTO messages (id, conversation_id, connector_id, direction, body, twilio_sid, status, params, answered, \
         created_at) VALUES {} ON CONFLICT (connector_id, twilio_sid) DO NOTHING",
        values(fresh.len(), 8, 1, |n| format!(
            "(${}, (SELECT id FROM conversations WHERE number_id = ${} AND guest_address = ${}), ${}, 'inbound', ${}, ${}, \
             'received', ${}, ${}, $1)",
            n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]
        ))
    ))
    .bind(now);
    for (&i, id) in fresh.iter().zip(&ids) {
        let m = items[i];
        messages = messages
            .bind(id.as_str())
            .bind(m.number_id.as_str())
            .bind(m.from.as_str())
            .bind(m.connector_id.as_str())
            .bind(m.body.as_str())
            .bind(m.message_sid.as_str())
            .bind(m.params.as_str())
            .bind(i64::from(!m.turn));
    }

    let mut script = readdress;
    script.extend([conversations, messages]);
    for (&i, id) in fresh.iter().zip(&ids) {
        for (position, (url, content_type)) in items[i].media.iter().enumerate() {
            // Only for a message this batch inserted (not a duplicate delivery).
            script.push(
                Statement::new(
                    "INSERT INTO media (id, message_id, position, url, content_type, state, run_at, created_at) \
                     SELECT $1, $2, $3, $4, $5, 'pending', $6, $6 WHERE EXISTS (SELECT 1 FROM messages WHERE id = $2)",
                )
                .bind(new_id())
                .bind(id.as_str())
                .bind(position as i64)
                .bind(url.as_str())
                .bind(content_type.as_str())
                .bind(now),
            );
        }
    }
    let owed: Vec<&String> = fresh.iter().zip(&ids).filter(|(&i, _)| items[i].turn).map(|(_, id)| id).collect();
    if !owed.is_empty() {
        // Each conversation with a new message owes the guest a turn. A turn under way sees the
        // new generation and leaves the row pending, so these messages go to the next turn.
        let mut turns = Statement::new(format!(
            "INSERT INTO turns (conversation_id, state, generation, run_at, updated_at) \
             SELECT DISTINCT conversation_id, 'pending', 1, $1, $1 FROM messages WHERE id IN ({}) \
             ORDER BY conversation_id ON CONFLICT (conversation_id) DO UPDATE SET state = 'pending', generation = turns.generation + 1, \
             run_at = CASE WHEN turns.state = 'idle' THEN excluded.run_at ELSE turns.run_at END, \
             updated_at = excluded.updated_at",
            values(owed.len(), 1, 1, |n| format!("${}", n[0]))
        ))
        .bind(now);
        for id in owed {
            turns = turns.bind(id.as_str());
        }
        script.push(turns);
    }

    // The rows this batch inserted (a duplicate delivery's id was never stored), as one row:
    // a row each would cross from SQLite's thread one by one.
    let mut inserted = Statement::new(format!(
        "SELECT string_agg(id || ' ' || conversation_id, ',') FROM messages WHERE id IN ({})",
        values(ids.len(), 1, 0, |n| format!("${}", n[0]))
    ));
    for id in &ids {
        inserted = inserted.bind(id.as_str());
    }
    script.push(inserted);

    let rows = state.db.write_script(script, true).await?;
    let inserted: Option<String> = match rows.first() {
        Some(row) => row.try_get(0)?,
        None => None,
    };
    let mut new = HashSet::new();
    for pair in inserted.as_deref().unwrap_or("").split(',').filter(|p| !p.is_empty()) {
        let (id, conversation_id) = pair.split_once(' ').unwrap_or((pair, ""));
        new.insert(id);
        state.events.changed(conversation_id);
    }
    let mut outcomes = vec![Stored::Duplicate; items.len()];
    for (&i, id) in fresh.iter().zip(&ids) {
        if new.contains(id.as_str()) {
            outcomes[i] = Stored::New { turn: items[i].turn };
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(from: &str, user: Option<&str>) -> Inbound {
        Inbound {
            connector_id: "c".into(),
            number_id: "n".into(),
            turn: true,
            message_sid: format!("SM{from}{user:?}"),
            from: from.into(),
            external_user_id: user.map(str::to_string),
            profile_name: None,
            body: String::new(),
            params: "{}".into(),
            media: vec![],
        }
    }

    #[test]
    fn only_the_guests_who_switch_identities_are_written_one_at_a_time() {
        let batch = [
            webhook("whatsapp:+15550000001", None),
            webhook("whatsapp:+15550000002", Some("whatsapp:US.2")),
            webhook("whatsapp:US.2", Some("whatsapp:US.2")),
            webhook("whatsapp:+15550000003", Some("whatsapp:US.3")),
            webhook("whatsapp:+15550000002", None),
            webhook("whatsapp:+15550000004", Some("whatsapp:US.4")),
            webhook("whatsapp:+15550000004", Some("whatsapp:US.5")),
            webhook("whatsapp:US.5", Some("whatsapp:US.5")),
            webhook("+15550000006", None),
        ];
        let items: Vec<&Inbound> = batch.iter().collect();
        let fresh: Vec<usize> = (0..items.len()).collect();
        let mut alone: Vec<usize> = switching(&items, &fresh).into_iter().collect();
        alone.sort_unstable();
        // US.2 by phone and username (and a message without the id from that phone); +…04
        // bringing two ids, and one of them again by username. Not: a guest without an id, US.3
        // from one address, an SMS.
        assert_eq!(alone, [1, 2, 4, 5, 6, 7]);
        let single: Vec<&Inbound> = vec![&batch[3]];
        assert!(switching(&single, &[0]).is_empty());
    }
}
