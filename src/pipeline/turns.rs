//! The agent's turns. Each conversation has one row in `turns`: an inbound message marks it
//! pending (and bumps its generation) in the transaction that stores the message. A worker
//! leases the row, so one guest never has two turns at once; the turn answers every message
//! that arrived since the last one, and if more arrived while the agent was thinking, the row
//! stays pending for the next turn.

use std::{collections::HashMap, time::Duration};

use sqlx::Row;
use tracing::Instrument;

use app::agents::ChatLine;

use super::outbox::{self, Outgoing};
use crate::{
    access,
    brain::{choices::Choices, split_body, Attachment, GuestMessage, Mind, TurnInput},
    connectors,
    db::{Condition, Statement},
    mask_address, new_id, now_ms,
    state::AppState,
};

#[derive(Debug)]
struct Claim {
    conversation_id: String,
    generation: i64,
    attempts: i64,
}

pub async fn run(state: AppState) {
    // On shutdown the worker leaves between jobs; a job it holds is finished first.
    let mut woken = true;
    let mut errors = crate::state::ClaimErrors::new("turns");
    while !state.workers.stopping() {
        let claimed = claim(&state, !woken).await;
        if claimed.is_ok() {
            errors.cleared();
        }
        match claimed {
            Ok(Some(claim)) => {
                woken = true;
                let _held = state.held.hold("turns", &claim.conversation_id);
                if let Err(e) = take_turn(&state, &claim).await {
                    tracing::error!(conversation_id = %claim.conversation_id, error = ?e, "turn failed; it will be retried");
                    let _ = retry_later(&state, &claim, &format!("{e:#}")).await;
                }
            }
            Ok(None) => woken = state.wake.wait_for_turns(state.tuning.idle_poll).await,
            Err(e) => errors.failed(&e, state.tuning.idle_poll).await,
        }
    }
}

/// Claims the turn due first, if any. With `look_first` (a poll that no news prompted, so most
/// likely idle), a read looks for one first: an empty claim would still take the write turn
/// that webhooks wait for.
async fn claim(state: &AppState, look_first: bool) -> sqlx::Result<Option<Claim>> {
    let now = now_ms();
    if look_first && !state.db.has_due("turns", now).await? {
        return Ok(None);
    }
    let statement = Statement::new(
        "UPDATE turns SET lease_until = $1, attempts = attempts + 1, lease_owner = $3 \
         WHERE conversation_id = (SELECT conversation_id FROM turns WHERE state = 'pending' AND run_at <= $2 \
                                  AND (lease_until IS NULL OR lease_until < $2) ORDER BY run_at LIMIT 1) \
           AND state = 'pending' AND (lease_until IS NULL OR lease_until < $2) \
         RETURNING conversation_id, generation, attempts",
    )
    .bind(now + state.tuning.lease.as_millis() as i64)
    .bind(now)
    .bind(&*state.instance_id);
    let rows = state.db.write_script(vec![statement], false).await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let claim = Claim { conversation_id: row.try_get(0)?, generation: row.try_get(1)?, attempts: row.try_get(2)? };
    let undo = || {
        Statement::new("UPDATE turns SET lease_until = NULL WHERE conversation_id = $1 AND attempts = $2")
            .bind(claim.conversation_id.as_str())
            .bind(claim.attempts)
    };
    if crate::state::give_back_if_stale(
        &state.db,
        now,
        state.tuning.lease,
        undo,
        &state.wake.turns,
        &claim.conversation_id,
    )
    .await?
    {
        return Ok(None);
    }
    Ok(Some(claim))
}

async fn retry_later(state: &AppState, claim: &Claim, error: &str) -> sqlx::Result<()> {
    let (failures,): (i64,) = sqlx::query_as("SELECT failures FROM turns WHERE conversation_id = $1")
        .bind(&claim.conversation_id)
        .fetch_one(&state.db.pool)
        .await?;
    let delay =
        (state.tuning.retry_base * 2u32.saturating_pow(failures.clamp(0, 10) as u32)).min(Duration::from_secs(300));
    let mut tx = state.db.begin_write().await?;
    sqlx::query(
        "UPDATE turns SET lease_until = NULL, run_at = $1, last_error = $2, failures = failures + 1 \
         WHERE conversation_id = $3 AND attempts = $4",
    )
    .bind(now_ms() + delay.as_millis() as i64)
    .bind(error)
    .bind(&claim.conversation_id)
    .bind(claim.attempts)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

struct Context {
    agent_id: Option<String>,
    connector_id: String,
    guest: String,
    guest_name: Option<String>,
    number_id: String,
    /// Where replies go when the channel routes them to a fixed number.
    reply_to: Option<String>,
    number_address: String,
}

/// Where a channel's outbound route sends replies: the fixed number; for a WhatsApp user id, the
/// address Twilio last gave for the guest who has it (their phone number when they have one, else
/// the id), so replies go to the conversation they write in. None when that is this
/// conversation's own guest.
async fn route_target(
    state: &AppState,
    number_id: &str,
    number_address: &str,
    conversation_id: &str,
    fixed: String,
) -> sqlx::Result<Option<String>> {
    if !number_address.starts_with("whatsapp:") {
        return Ok(Some(fixed));
    }
    let address = format!("whatsapp:{fixed}");
    if !crate::is_whatsapp_user_id(&fixed) {
        return Ok(Some(address));
    }
    let known: Option<(String, String)> =
        sqlx::query_as("SELECT id, guest_address FROM conversations WHERE number_id = $1 AND guest_user_id = $2")
            .bind(number_id)
            .bind(&address)
            .fetch_optional(&state.db.pool)
            .await?;
    Ok(match known {
        Some((id, _)) if id == conversation_id => None,
        Some((_, at)) => Some(at),
        None => Some(address),
    })
}

async fn take_turn(state: &AppState, claim: &Claim) -> crate::error::Result<()> {
    // Everything the turn needs to know about the conversation, its number and its agent, in one read.
    type Row = (
        Option<String>,
        String,
        String,
        Option<String>,
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let (
        agent_id,
        connector_id,
        guest,
        guest_name,
        number_address,
        number_id,
        outbound_to,
        paused_at,
        org_id,
        org_name,
        agent_name,
        policy,
        onboarding,
        onboarding_message,
        mind_revision,
    ): Row = sqlx::query_as(
        "SELECT cv.agent_id, n.connector_id, cv.guest_address, cv.guest_name, n.address, n.id, ch.outbound_to, \
         cv.paused_at, a.org_id, o.name, a.name, a.access_policy, a.onboarding, a.onboarding_message, a.mind_revision \
         FROM conversations cv JOIN numbers n ON n.id = cv.number_id LEFT JOIN channels ch ON ch.number_id = n.id \
         LEFT JOIN agents a ON a.id = cv.agent_id LEFT JOIN organizations o ON o.id = a.org_id WHERE cv.id = $1",
    )
    .bind(&claim.conversation_id)
    .fetch_one(&state.db.pool)
    .await?;
    // The channel's outbound route: replies go to a fixed recipient instead of the guest.
    let reply_to = match outbound_to {
        Some(fixed) => route_target(state, &number_id, &number_address, &claim.conversation_id, fixed).await?,
        None => None,
    }
    .filter(|fixed| *fixed != guest);
    let ctx = Context { agent_id, connector_id, guest, guest_name, number_address, number_id, reply_to };
    let inbound: Vec<Received> = sqlx::query_as(
        "SELECT id, body, twilio_sid, params, created_at FROM messages WHERE conversation_id = $1 \
         AND direction = 'inbound' AND answered = 0 ORDER BY created_at, id",
    )
    .bind(&claim.conversation_id)
    .fetch_all(&state.db.pool)
    .await?;
    let span = tracing::info_span!("turn", conversation_id = %claim.conversation_id, guest = %mask_address(&ctx.guest));
    async {
        let Some(agent_id) = ctx.agent_id.clone() else {
            let done = Handled { note: Some("No agent answers on this number.".into()), ..Handled::default() };
            finish(state, claim, &ctx, &inbound, done).await?;
            return Ok(());
        };
        if inbound.is_empty() {
            finish(state, claim, &ctx, &inbound, Handled::default()).await?;
            return Ok(());
        }
        // Taken over by staff: the agent stays out of it until it is handed back.
        if paused_at.is_some() {
            let done = Handled { note: Some("Staff have taken this conversation over.".into()), ..Handled::default() };
            finish(state, claim, &ctx, &inbound, done).await?;
            return Ok(());
        }
        // The brain gets the guest's files: while one is still being downloaded, the turn waits
        // for it (the media worker brings the turn forward when it is done), for a while.
        let files = files_of(state, &with_files(inbound.iter().map(|m| (m.id.as_str(), m.params.as_deref())))).await?;
        let waited_since = crate::now_ms() - state.tuning.media_wait.as_millis() as i64;
        let on_the_way = inbound.iter().any(|m| {
            m.created_at > waited_since && files.get(&m.id).is_some_and(|f| f.iter().any(|f| f.state == "pending"))
        });
        if on_the_way {
            wait_for_files(state, claim).await?;
            return Ok(());
        }
        // Guest commands are Switchboard's to answer; the rest is the agent's, if the guest may
        // talk to it.
        let guest = access::Guest {
            org_id: org_id.clone().unwrap_or_default(),
            org_name: org_name.clone().unwrap_or_default(),
            agent_id: agent_id.clone(),
            agent_name: agent_name.clone().unwrap_or_default(),
            address: ctx.guest.clone(),
            name: ctx.guest_name.clone(),
            conversation_id: claim.conversation_id.clone(),
            access: access::settings(
                policy.as_deref().unwrap_or("open"),
                onboarding.unwrap_or(0),
                onboarding_message.clone().unwrap_or_default(),
            ),
        };
        let mut done = Handled::default();
        let mut for_agent = Vec::new();
        for m in &inbound {
            match access::parse(&m.body) {
                Some(command) => {
                    done.commands.push((m.id.clone(), command.stored_text()));
                    let answer = access::commands::command(state, &guest, &m.id, command).await?;
                    done.replies.push(switchboard_says(answer));
                }
                None => for_agent.push(m),
            }
        }
        if !for_agent.is_empty() {
            match access::gate(state, &guest).await? {
                access::Gate::Reply(text) => done.replies.push(switchboard_says(text)),
                access::Gate::Allow => {
                    let revision = mind_revision.unwrap_or_default();
                    let (replies, execution) = think(
                        state,
                        claim,
                        &ctx,
                        (&agent_id, revision),
                        &inbound,
                        Asked { messages: &for_agent, files },
                    )
                    .await?;
                    done.replies.extend(replies);
                    done.note = execution.error.clone();
                    done.execution = Some(execution);
                }
            }
        }
        finish(state, claim, &ctx, &inbound, done).await
    }
    .instrument(span)
    .await
}

/// A guest's message not answered yet.
#[derive(sqlx::FromRow)]
struct Received {
    id: String,
    body: String,
    twilio_sid: Option<String>,
    /// Twilio's webhook parameters, as JSON.
    params: Option<String>,
    created_at: i64,
}

/// A file of a guest's message.
#[derive(sqlx::FromRow)]
struct File {
    message_id: String,
    id: String,
    content_type: String,
    /// Twilio's address of it, and its place in the message: its name ([`crate::media::file_name`]).
    url: String,
    position: i64,
    /// pending, stored or failed
    state: String,
    transcript: Option<String>,
    transcript_error: Option<String>,
}

impl File {
    fn name(&self) -> String {
        crate::media::file_name(&self.url, &self.content_type, self.position)
    }
}

/// Of guests' messages (id, Twilio's parameters), those that came with files (`NumMedia`): the
/// only ones [`files_of`] needs to ask about, so a turn of text asks nothing.
fn with_files<'a>(messages: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> Vec<&'a str> {
    messages
        .filter(|(_, params)| {
            let params = crate::twilio::inbound::stored(*params);
            crate::twilio::inbound::param(&params, "NumMedia").is_some_and(|n| n != "0")
        })
        .map(|(id, _)| id)
        .collect()
}

/// The files of the guest's messages `ids`, by message, in order.
async fn files_of(state: &AppState, ids: &[&str]) -> sqlx::Result<HashMap<String, Vec<File>>> {
    let mut files = HashMap::<String, Vec<File>>::new();
    if ids.is_empty() {
        return Ok(files);
    }
    let placeholders = crate::pipeline::batch::values(ids.len(), 1, 0, |n| format!("${}", n[0]));
    let sql = format!(
        "SELECT message_id, id, content_type, url, position, state, transcript, transcript_error FROM media \
         WHERE message_id IN ({placeholders}) ORDER BY message_id, position"
    );
    let mut query = sqlx::query_as::<_, File>(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    for file in query.fetch_all(&state.db.pool).await? {
        files.entry(file.message_id.clone()).or_default().push(file);
    }
    Ok(files)
}

/// Gives the turn back, to be taken again in a moment (or as soon as a file is settled).
async fn wait_for_files(state: &AppState, claim: &Claim) -> sqlx::Result<()> {
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE turns SET lease_until = NULL, run_at = $1 WHERE conversation_id = $2 AND attempts = $3")
        .bind(now_ms() + 1000)
        .bind(&claim.conversation_id)
        .bind(claim.attempts)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::debug!("the turn waits for the guest's files");
    Ok(())
}

/// A guest's message as its brain is told it: the text, and what Twilio's parameters say the
/// message also holds.
fn guest_message(body: &str, params: Option<&str>, media: Vec<Attachment>) -> GuestMessage {
    let params = crate::twilio::inbound::stored(params);
    GuestMessage {
        text: body.to_string(),
        location: crate::twilio::inbound::location(&params),
        choice: crate::twilio::inbound::choice(&params),
        media,
        kind: crate::twilio::inbound::param(&params, "MessageType").map(str::to_string),
    }
}

/// The largest photo given to a model inline (WhatsApp's own limit for images is 5 MB).
const MAX_INLINE_IMAGE_BYTES: usize = 10 * 1024 * 1024;

/// The guest's messages of a turn with their files (a stored one with a link the brain can
/// fetch it by, a voice note with its words, a photo's bytes when the brain takes them inline),
/// in order.
async fn guest_messages(
    state: &AppState,
    mind: &Mind,
    received: &[&Received],
    mut files: HashMap<String, Vec<File>>,
) -> Vec<GuestMessage> {
    let mut messages = Vec::with_capacity(received.len());
    for m in received {
        let mut attached = Vec::new();
        for f in files.remove(&m.id).unwrap_or_default() {
            let stored = f.state == "stored";
            let mut file = Attachment {
                name: f.name(),
                url: stored.then(|| crate::media::inbound_link(state, &f.id)),
                transcript: f.transcript,
                content_type: f.content_type,
                data: None,
            };
            if stored && mind.images_inline && file.is_image() {
                file.data = state.media.load(&state.db, &f.id).await.filter(|b| b.len() <= MAX_INLINE_IMAGE_BYTES);
            }
            attached.push(file);
        }
        messages.push(guest_message(&m.body, m.params.as_deref(), attached));
    }
    messages
}

/// Transcribes the turn's voice notes not transcribed yet, when the agent transcribes them; the
/// words (or why there are none) are kept with the file, for the inbox and the turns after. Gives
/// each transcription for the execution record: its type, how long it took, and what became of it.
async fn hear(
    state: &AppState,
    mind: &Mind,
    files: &mut HashMap<String, Vec<File>>,
) -> crate::error::Result<Vec<serde_json::Value>> {
    let mut done = Vec::new();
    let Some(hearing) = &mind.hearing else { return Ok(done) };
    for file in files.values_mut().flatten() {
        let untouched = file.transcript.is_none() && file.transcript_error.is_none();
        if !(file.state == "stored" && file.content_type.starts_with("audio/") && untouched) {
            continue;
        }
        let started = std::time::Instant::now();
        let audio = state.media.load(&state.db, &file.id).await;
        let heard = match &audio {
            Some(audio) => hearing.transcribe(audio, &file.content_type).await.map_err(|e| format!("{e:#}")),
            None => Err("the file is no longer stored".to_string()),
        };
        done.push(serde_json::json!({
            "content_type": file.content_type,
            "seconds": audio.as_deref().and_then(crate::brain::hearing::audio_seconds),
            "latency_ms": started.elapsed().as_millis() as u64,
            "error": heard.as_ref().err(),
        }));
        match heard {
            Ok(words) => file.transcript = Some(words),
            Err(error) => {
                tracing::warn!(media_id = %file.id, %error, "voice note not transcribed");
                file.transcript_error = Some(error);
            }
        }
        let mut tx = state.db.begin_write().await?;
        sqlx::query("UPDATE media SET transcript = $1, transcript_error = $2 WHERE id = $3")
            .bind(file.transcript.as_deref())
            .bind(file.transcript_error.as_deref())
            .bind(&file.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(done)
}

/// A guest who answers by a number (SMS) picks that option of the agent's last reply's choices.
/// Asked only when a message is a bare number.
async fn pick_by_number(state: &AppState, conversation_id: &str, messages: &mut [GuestMessage]) -> sqlx::Result<()> {
    let numbers = |m: &GuestMessage| m.choice.is_none() && m.text.trim().trim_end_matches('.').parse::<usize>().is_ok();
    if !messages.iter().any(numbers) {
        return Ok(());
    }
    // The agent's last reply is the parts queued together (one time): the choices are on one of them.
    let offered: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT choices FROM messages WHERE conversation_id = $1 AND direction = 'outbound' AND origin IS NULL \
         AND choices IS NOT NULL AND created_at = (SELECT MAX(l.created_at) FROM messages l \
         WHERE l.conversation_id = $1 AND l.direction = 'outbound' AND l.origin IS NULL) LIMIT 1",
    )
    .bind(conversation_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(offered) = offered.and_then(|(c,)| serde_json::from_str::<Choices>(c.as_deref()?).ok()) else {
        return Ok(());
    };
    for message in messages.iter_mut().filter(|m| numbers(m)) {
        if let Some(option) = offered.picked(&message.text) {
            message.choice = Some(app::inbox::Choice { text: option.title.clone(), id: Some(option.id.clone()) });
        }
    }
    Ok(())
}

fn switchboard_says(text: String) -> Outgoing {
    Outgoing { origin: Some("switchboard"), ..Outgoing::text(text) }
}

/// What a turn did: the replies to queue, the commands it answered (with the text kept in
/// place of a code), and a note on the turn (the brain's fallback, say).
#[derive(Default)]
struct Handled {
    replies: Vec<Outgoing>,
    commands: Vec<(String, Option<&'static str>)>,
    note: Option<String>,
    execution: Option<Execution>,
}

/// What the brain did on a turn, kept for debugging (the execution record).
struct Execution {
    id: String,
    agent_id: String,
    brain: String,
    input: String,
    output: String,
    /// Why the fallback reply went out instead, when it did.
    error: Option<String>,
    latency_ms: i64,
}

/// The guest's messages for the agent on a turn (not commands), and the files of the turn's messages.
struct Asked<'a> {
    messages: &'a [&'a Received],
    files: HashMap<String, Vec<File>>,
}

/// The agent's brain on the guest's new messages: the reply's parts (the welcome message first
/// in a new conversation) and the execution record (with a note when the fallback reply stood in).
async fn think(
    state: &AppState,
    claim: &Claim,
    ctx: &Context,
    (agent_id, revision): (&str, i64),
    inbound: &[Received],
    asked: Asked<'_>,
) -> crate::error::Result<(Vec<Outgoing>, Execution)> {
    let Asked { messages, mut files } = asked;
    let mind = state.minds.get(agent_id, revision, || crate::agents::mind_at(state, agent_id)).await?;
    let transcriptions = hear(state, &mind, &mut files).await?;
    let mut messages = guest_messages(state, &mind, messages, files).await;
    pick_by_number(state, &claim.conversation_id, &mut messages).await?;
    // The conversation so far (the last 20 messages before this turn), oldest first; commands
    // and Switchboard's own answers are not part of it.
    let earlier: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, direction, body, params FROM messages WHERE conversation_id = $1 \
         AND (direction = 'outbound' OR answered = 1) AND origin IS NULL ORDER BY created_at DESC, id DESC LIMIT 20",
    )
    .bind(&claim.conversation_id)
    .fetch_all(&state.db.pool)
    .await?;
    let greeted = earlier.iter().any(|(_, direction, ..)| direction == "outbound");
    let guests = earlier.iter().filter(|m| m.1 == "inbound").map(|m| (m.0.as_str(), m.3.as_deref()));
    let mut earlier_files = files_of(state, &with_files(guests)).await?;
    let input = TurnInput {
        agent: mind.name.clone(),
        instructions: mind.instructions.clone(),
        conversation_id: Some(claim.conversation_id.clone()),
        guest_address: Some(ctx.guest.clone()),
        guest_name: ctx.guest_name.clone(),
        history: earlier
            .into_iter()
            .rev()
            .map(|(id, direction, body, params)| match direction.as_str() {
                "inbound" => {
                    // Its files as words: a voice note's transcript, a photo's type.
                    let said = earlier_files.remove(&id).unwrap_or_default().into_iter().map(|f| Attachment {
                        name: f.name(),
                        content_type: f.content_type,
                        transcript: f.transcript,
                        ..Attachment::default()
                    });
                    ChatLine {
                        from_guest: true,
                        text: guest_message(&body, params.as_deref(), said.collect()).as_text(),
                    }
                }
                _ => ChatLine { from_guest: false, text: body },
            })
            .collect(),
        messages,
    };
    let record = serde_json::json!({
        "agent": input.agent,
        "instructions": input.instructions,
        "conversation_id": input.conversation_id,
        "guest": mask_address(&ctx.guest),
        "guest_name": input.guest_name,
        "history": input.history.iter().map(|l| serde_json::json!({
            "from": if l.from_guest { "guest" } else { "agent" },
            "text": l.text,
        })).collect::<Vec<_>>(),
        "messages": input.messages.iter().map(GuestMessage::as_text).collect::<Vec<_>>(),
        "transcriptions": transcriptions,
    });
    // "Typing…" while a brain that calls out thinks (one that answers at once needs none), sent
    // beside the call and done before the reply is queued, so it can never land after the reply.
    let typing = async {
        if let Some(sid) = inbound.last().and_then(|m| m.twilio_sid.as_deref()).filter(|_| mind.calls_out) {
            typing_indicator(state, ctx, sid).await;
        }
    };
    let thinking = async {
        let started = std::time::Instant::now();
        let answer = mind.answer(&input).await;
        (answer, started.elapsed())
    };
    let (((answer, note), latency), ()) = tokio::join!(thinking, typing);
    state.metrics.turn(latency);
    if let Some(note) = &note {
        tracing::warn!(%note, "turn used the fallback reply");
    }
    // A new conversation hears the agent's welcome message first.
    let mut parts = match mind.welcome.as_deref().filter(|_| !greeted) {
        Some(welcome) => split_body(welcome),
        None => Vec::new(),
    };
    let execution = Execution {
        id: new_id(),
        agent_id: agent_id.to_string(),
        brain: mind.kind.clone(),
        input: record.to_string(),
        output: answer.shown(),
        error: note,
        latency_ms: latency.as_millis() as i64,
    };
    // Choices go with the reply's last message: on WhatsApp as buttons or a list, on SMS as
    // numbered lines the guest answers with a number.
    let mut text = answer.text;
    if let (Some(choices), false) = (&answer.choices, ctx.number_address.starts_with("whatsapp:")) {
        text = format!("{text}\n\n{}", choices.numbered());
    }
    parts.extend(split_body(&text));
    let last = parts.len() - 1;
    let choices = answer.choices.as_ref().and_then(|c| serde_json::to_string(c).ok());
    let replies = parts
        .into_iter()
        .enumerate()
        .map(|(i, body)| Outgoing {
            note: execution.error.clone(),
            execution_id: Some(execution.id.clone()),
            choices: choices.clone().filter(|_| i == last),
            ..Outgoing::text(body)
        })
        .collect();
    Ok((replies, execution))
}

/// Closes the turn: marks the messages answered and queues the replies, in one transaction
/// (one round trip on SQLite), only while this worker's lease is current: every statement is
/// conditioned on it, so a worker that lost the lease changes nothing.
async fn finish(
    state: &AppState,
    claim: &Claim,
    ctx: &Context,
    inbound: &[Received],
    done: Handled,
) -> crate::error::Result<()> {
    let now = now_ms();
    // Another worker's claim would have counted one more attempt.
    let lease = Condition::new(
        "EXISTS (SELECT 1 FROM turns WHERE conversation_id = $1 AND attempts = $2)",
        vec![claim.conversation_id.as_str().into(), claim.attempts.into()],
    );
    let (held, k) = (&lease.sql, lease.next());
    let parts = done.replies;
    // Replies go into the guest's conversation, or into the fixed recipient's when the channel
    // routes them there (the same rules apply to it, the 24-hour window included). Switchboard's
    // own answers always go to the guest.
    let routed = ctx.reply_to.is_some() && parts.iter().any(|p| p.origin.is_none());
    let target = match ctx.reply_to.as_deref().filter(|_| routed) {
        None => claim.conversation_id.clone(),
        Some(address) => outbox::open(state, &ctx.number_id, address, ctx.agent_id.as_deref()).await?,
    };
    let (own, agents): (Vec<Outgoing>, Vec<Outgoing>) = parts.into_iter().partition(|p| p.origin.is_some());
    let to = ctx.reply_to.as_deref().filter(|_| routed).unwrap_or(&ctx.guest);
    let queues = in_lock_order([
        (ctx.guest.as_str(), claim.conversation_id.as_str(), own.as_slice()),
        (to, target.as_str(), agents.as_slice()),
    ]);
    let mut script = outbox::queue_statements(&queues, &ctx.connector_id, now, &lease);
    let mut touched: Vec<String> = Vec::new();
    for (conversation, messages) in queues {
        if !messages.is_empty() && !touched.iter().any(|t| t == conversation) {
            touched.push(conversation.to_string());
        }
    }
    if !inbound.is_empty() {
        let ids = crate::pipeline::batch::values(inbound.len(), 1, k - 1, |n| format!("${}", n[0]));
        let mut answered = lease.statement(format!("UPDATE messages SET answered = 1 WHERE id IN ({ids}) AND {held}"));
        for m in inbound {
            answered = answered.bind(m.id.as_str());
        }
        script.push(answered);
    }
    for (id, stored_text) in &done.commands {
        script.push(
            lease
                .statement(format!(
                    "UPDATE messages SET origin = 'command', body = COALESCE(${k}, body) WHERE id = ${} AND {held}",
                    k + 1
                ))
                .bind(*stored_text)
                .bind(id.as_str()),
        );
    }
    if let Some(e) = &done.execution {
        // The execution's id, then its fields from agent_id on.
        let fields: Vec<String> = (k + 1..k + 8).map(|n| format!("${n}")).collect();
        script.push(
            lease
                .statement(format!(
                    "INSERT INTO executions (id, conversation_id, agent_id, brain, input, output, error, latency_ms, \
                     created_at) SELECT ${k}, $1, {} WHERE {held}",
                    fields.join(", ")
                ))
                .bind(e.id.as_str())
                .bind(e.agent_id.as_str())
                .bind(e.brain.as_str())
                .bind(e.input.as_str())
                .bind(e.output.as_str())
                .bind(e.error.as_deref())
                .bind(e.latency_ms)
                .bind(now),
        );
    }
    script.push(
        lease
            .statement(format!(
                "UPDATE turns SET state = CASE WHEN generation = ${k} THEN 'idle' ELSE 'pending' END, \
                 lease_until = NULL, failures = 0, run_at = ${}, last_error = ${}, updated_at = ${} \
                 WHERE conversation_id = $1 AND attempts = $2 RETURNING conversation_id",
                k + 1,
                k + 2,
                k + 1
            ))
            .bind(claim.generation)
            .bind(now)
            .bind(done.note.as_deref()),
    );
    let closed = state.db.write_script(script, false).await?;
    if closed.is_empty() {
        tracing::warn!("lost the lease on a turn; leaving it to its new owner");
        return Ok(());
    }
    if !touched.is_empty() {
        state.wake_sends().await;
    }
    state.events.changed(&claim.conversation_id);
    for conversation in touched {
        state.events.changed(&conversation);
    }
    Ok(())
}

/// A turn's two queues of replies (Switchboard's own to the guest, the agent's to the guest or to
/// the number the channel routes them to), each with its conversation's guest address, in the
/// order a batch of webhooks locks conversations: by their guest's address (both are on the
/// turn's number), then the turn. Two transactions taking the same two conversations the other
/// way round would each wait for the other until PostgreSQL cancelled one as a deadlock. The
/// guest's own queue stays first when both are the same conversation (its messages keep their
/// order), whatever the addresses read (the guest's may have changed since the turn began).
fn in_lock_order<'a, T>(queues: [(&'a str, &'a str, &'a [T]); 2]) -> [(&'a str, &'a [T]); 2] {
    let [(first_address, first, mine), (second_address, second, theirs)] = queues;
    if second != first && second_address < first_address {
        [(second, theirs), (first, mine)]
    } else {
        [(first, mine), (second, theirs)]
    }
}

/// WhatsApp's "typing…" while the agent thinks. Best effort: a failure only costs the dots.
async fn typing_indicator(state: &AppState, ctx: &Context, inbound_sid: &str) {
    if !ctx.number_address.starts_with("whatsapp:") {
        return;
    }
    let result = async {
        let creds = connectors::account::credentials(state, &ctx.connector_id).await?;
        state.twilio.typing_indicator(&creds, inbound_sid).await.map_err(anyhow::Error::from)?;
        Ok::<_, crate::error::Error>(())
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "typing indicator not shown");
    }
}

#[cfg(test)]
mod tests {
    use super::in_lock_order;

    /// A reply routed to a number whose address comes before the guest's is queued first, as a
    /// batch of webhooks from both would lock their conversations; otherwise the guest's first.
    #[test]
    fn replies_are_queued_in_the_order_webhooks_lock_conversations() {
        let (own, agents) = (["welcome"], ["answer"]);
        let guest = "whatsapp:+15550001111";
        let routed = [(guest, "guest", &own[..]), ("whatsapp:+14155550000", "manager", &agents[..])];
        assert_eq!(in_lock_order(routed), [("manager", &agents[..]), ("guest", &own[..])]);
        let routed = [(guest, "guest", &own[..]), ("whatsapp:+16505550000", "manager", &agents[..])];
        assert_eq!(in_lock_order(routed), [("guest", &own[..]), ("manager", &agents[..])]);
        let own_conversation = [(guest, "guest", &own[..]), (guest, "guest", &agents[..])];
        assert_eq!(in_lock_order(own_conversation), [("guest", &own[..]), ("guest", &agents[..])]);
        // The same conversation under a guest address that changed meanwhile (a WhatsApp username
        // given a new number): Switchboard's own message still goes first.
        let readdressed = [(guest, "guest", &own[..]), ("whatsapp:+14155550000", "guest", &agents[..])];
        assert_eq!(in_lock_order(readdressed), [("guest", &own[..]), ("guest", &agents[..])]);
    }
}
