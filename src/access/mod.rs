//! Who may talk to an agent. Guests prove an email address with `/login` (a 6-digit code sent
//! by email); the agent's policy decides what that must be (nothing, a verified address, an
//! address on its shared list) and onboarding holds new senders until their number is approved.
//! The commands are answered here and never reach the brain.

mod port;

use std::time::Duration;

use app::{
    accounts::Me,
    sharing::{AccessPolicy, AccessRequestRow, AccessSettings, RequestKind, SharedEmail, SharingView, VerifiedGuest},
    AppError,
};

use crate::{error::Result, mask_address, new_id, now_ms, pipeline::outbox::Outgoing, state::AppState};

/// How long a code may be used.
pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// Wrong tries before a code is spent.
pub const MAX_ATTEMPTS: i64 = 5;
/// Codes one number may ask for within the window.
pub const CODES_PER_NUMBER: (i64, Duration) = (3, Duration::from_secs(15 * 60));
/// Codes one email address may receive within the window, whichever numbers ask.
pub const CODES_PER_EMAIL: (i64, Duration) = (5, Duration::from_secs(60 * 60));
/// Codes one organization sends at most in an hour, whatever numbers and addresses ask: a flood
/// from many numbers cannot turn the organization's mail server into a spam cannon.
pub const CODES_PER_ORG: (i64, Duration) = (200, Duration::from_secs(60 * 60));

pub const HELP: &str = "Commands:\n\
/login you@example.com: get a 6-digit code by email\n\
/login 123456: confirm that code\n\
/logout: unlink your email address from this number\n\
/whoami: the email address verified on this number\n\
/help: this list";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    LoginEmail(String),
    LoginCode(String),
    /// `/login` without a usable argument.
    LoginUsage,
    Logout,
    Whoami,
    Help,
}

/// The guest command a message is, if any. Other texts starting with `/` go to the agent.
pub fn parse(body: &str) -> Option<Command> {
    let mut words = body.split_whitespace();
    let head = words.next()?.to_ascii_lowercase();
    let rest: Vec<&str> = words.collect();
    Some(match head.as_str() {
        "/login" => match rest.as_slice() {
            [arg] if arg.bytes().all(|b| b.is_ascii_digit()) => Command::LoginCode(arg.to_string()),
            [arg] if arg.contains('@') => Command::LoginEmail(arg.to_string()),
            _ => Command::LoginUsage,
        },
        "/logout" => Command::Logout,
        "/whoami" => Command::Whoami,
        "/help" => Command::Help,
        _ => return None,
    })
}

impl Command {
    /// The text stored in place of the message once handled: a code is not kept.
    pub fn stored_text(&self) -> Option<&'static str> {
        matches!(self, Command::LoginCode(_)).then_some("/login ••••••")
    }
}

/// A plausible email address, lower-cased: one `@`, a dotted domain, no spaces, at most 254 characters.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().trim_matches(|c| c == '<' || c == '>').to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && email.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"(),:;<>[\\]\"".contains(c));
    ok.then_some(email)
}

/// The guest one turn answers, and the agent they wrote to.
#[derive(Debug, Clone)]
pub struct Guest {
    pub org_id: String,
    pub org_name: String,
    pub agent_id: String,
    pub agent_name: String,
    pub address: String,
    pub name: Option<String>,
    pub conversation_id: String,
    /// The agent's access settings.
    pub access: AccessSettings,
}

impl Guest {
    pub async fn load(
        state: &AppState,
        agent_id: &str,
        address: &str,
        name: Option<&str>,
        conversation_id: &str,
    ) -> Result<Self> {
        type Row = (String, String, String, String, i64, String);
        let (org_id, org_name, agent_name, policy, onboarding, onboarding_message): Row = sqlx::query_as(
            "SELECT a.org_id, o.name, a.name, a.access_policy, a.onboarding, a.onboarding_message \
             FROM agents a JOIN organizations o ON o.id = a.org_id WHERE a.id = $1",
        )
        .bind(agent_id)
        .fetch_one(&state.db.pool)
        .await?;
        Ok(Self {
            org_id,
            org_name,
            agent_id: agent_id.to_string(),
            agent_name,
            address: address.to_string(),
            name: name.map(str::to_string),
            conversation_id: conversation_id.to_string(),
            access: settings(&policy, onboarding, onboarding_message),
        })
    }
}

/// The access settings as stored.
pub fn settings(policy: &str, onboarding: i64, onboarding_message: String) -> AccessSettings {
    AccessSettings {
        policy: AccessPolicy::parse(policy).unwrap_or_default(),
        onboarding: onboarding != 0,
        onboarding_message,
    }
}

/// Answers a guest command. `message_id` is the command's message: a turn retried after a
/// crash answers the same way and sends no second email.
pub async fn command(state: &AppState, guest: &Guest, message_id: &str, command: Command) -> Result<String> {
    match command {
        Command::Help => Ok(HELP.to_string()),
        Command::LoginUsage => {
            Ok("To verify your email address, send /login followed by it, e.g. /login you@example.com. \
                                   You will receive a 6-digit code to send back here as /login 123456."
                .to_string())
        }
        Command::Whoami => Ok(match identity(state, guest).await? {
            Some(email) => format!("This number is verified as {email}."),
            None => "No email address is verified on this number. Send /login you@example.com to verify one.".into(),
        }),
        Command::Logout => {
            let email = identity(state, guest).await?;
            let mut tx = state.db.begin_write().await?;
            sqlx::query("DELETE FROM guest_identities WHERE org_id = $1 AND guest_address = $2")
                .bind(&guest.org_id)
                .bind(&guest.address)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(match email {
                Some(email) => format!("Done: {email} is no longer linked to this number."),
                None => "No email address was linked to this number.".into(),
            })
        }
        // An agent open to everyone has nothing to verify: no code goes out for it.
        Command::LoginEmail(_) | Command::LoginCode(_) if guest.access.policy == AccessPolicy::Open => {
            Ok(format!("{} talks with everyone: there is no email address to verify here.", guest.agent_name))
        }
        Command::LoginEmail(raw) => send_code(state, guest, message_id, &raw).await,
        Command::LoginCode(code) => check_code(state, guest, message_id, &code).await,
    }
}

async fn identity(state: &AppState, guest: &Guest) -> Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT email FROM guest_identities WHERE org_id = $1 AND guest_address = $2")
            .bind(&guest.org_id)
            .bind(&guest.address)
            .fetch_optional(&state.db.pool)
            .await?;
    Ok(row.map(|r| r.0))
}

fn code_hash(state: &AppState, code_id: &str, code: &str) -> String {
    state.secrets.sign_link(&format!("login-code:{code_id}:{code}"))
}

async fn send_code(state: &AppState, guest: &Guest, message_id: &str, raw: &str) -> Result<String> {
    let Some(email) = normalize_email(raw) else {
        return Ok(format!(
            "{raw:?} does not look like an email address. Send /login followed by your address, e.g. /login you@example.com."
        ));
    };
    let Some(mailer) = state.mailer.clone() else {
        return Ok("Email verification is not set up on this service, so no code can be sent. \
                   Please contact the business another way."
            .into());
    };
    let sent_text = format!(
        "We sent a 6-digit code to {email}. Send it here as /login 123456 (with your code). It expires in {} minutes.",
        CODE_TTL.as_secs() / 60
    );
    let now = now_ms();
    // A retried turn: the code this message asked for went out already, or must go again.
    let earlier: Option<(String, String)> = sqlx::query_as("SELECT id, state FROM login_codes WHERE message_id = $1")
        .bind(message_id)
        .fetch_optional(&state.db.pool)
        .await?;
    let code_id = match earlier {
        Some((_, code_state)) if code_state != "unsent" => return Ok(sent_text),
        Some((id, _)) => id,
        None => {
            let count = |column: &'static str, value: String, window: Duration| {
                let pool = state.db.pool.clone();
                let org = guest.org_id.clone();
                async move {
                    let sql = format!(
                        "SELECT COUNT(*) FROM login_codes WHERE org_id = $1 AND {column} = $2 AND created_at > $3"
                    );
                    let (n,): (i64,) = sqlx::query_as(&sql)
                        .bind(org)
                        .bind(value)
                        .bind(now - window.as_millis() as i64)
                        .fetch_one(&pool)
                        .await?;
                    Ok::<_, sqlx::Error>(n)
                }
            };
            if count("guest_address", guest.address.clone(), CODES_PER_NUMBER.1).await? >= CODES_PER_NUMBER.0 {
                tracing::warn!(guest = %mask_address(&guest.address), "login codes rate-limited for a number");
                return Ok(format!(
                    "Too many codes were asked for from this number. Wait {} minutes and try again.",
                    CODES_PER_NUMBER.1.as_secs() / 60
                ));
            }
            let (org_codes,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM login_codes WHERE org_id = $1 AND created_at > $2")
                    .bind(&guest.org_id)
                    .bind(now - CODES_PER_ORG.1.as_millis() as i64)
                    .fetch_one(&state.db.pool)
                    .await?;
            if org_codes >= CODES_PER_ORG.0 {
                tracing::warn!(org_id = %guest.org_id, "login codes rate-limited for the organization");
                return Ok("Too many codes were asked for here just now. Please try again in an hour.".into());
            }
            if count("email", email.clone(), CODES_PER_EMAIL.1).await? >= CODES_PER_EMAIL.0 {
                tracing::warn!("login codes rate-limited for an email address");
                return Ok("Too many codes were sent to this email address recently. Try again in an hour.".into());
            }
            let id = new_id();
            let mut tx = state.db.begin_write().await?;
            // Only the newest code of a number works.
            sqlx::query(
                "UPDATE login_codes SET state = 'replaced' WHERE org_id = $1 AND guest_address = $2 AND state = 'open'",
            )
            .bind(&guest.org_id)
            .bind(&guest.address)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO login_codes (id, org_id, guest_address, email, code_hash, message_id, state, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, '', $5, 'unsent', $6, $7)",
            )
            .bind(&id)
            .bind(&guest.org_id)
            .bind(&guest.address)
            .bind(&email)
            .bind(message_id)
            .bind(now)
            .bind(now + CODE_TTL.as_millis() as i64)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        }
    };
    let code = {
        use rand::Rng;
        format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
    };
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE login_codes SET code_hash = $1, expires_at = $2 WHERE id = $3")
        .bind(code_hash(state, &code_id, &code))
        .bind(now_ms() + CODE_TTL.as_millis() as i64)
        .bind(&code_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let body = format!(
        "Your code for chatting with {agent} ({org}) on WhatsApp is:\n\n    {code}\n\n\
         Send it in the chat as /login {code}. It expires in {minutes} minutes.\n\n\
         If you did not ask for it, ignore this email: someone typed your address by mistake, and nothing happens \
         without the code.\n",
        agent = guest.agent_name,
        org = guest.org_name,
        minutes = CODE_TTL.as_secs() / 60,
    );
    match mailer.send(&email, &format!("Your verification code: {code}"), body).await {
        Ok(()) => {
            let mut tx = state.db.begin_write().await?;
            sqlx::query("UPDATE login_codes SET state = 'open' WHERE id = $1 AND state = 'unsent'")
                .bind(&code_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(guest = %mask_address(&guest.address), "login code sent by email");
            Ok(sent_text)
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "could not send a login code");
            Ok("The code could not be sent just now. Please try again in a few minutes.".into())
        }
    }
}

async fn check_code(state: &AppState, guest: &Guest, message_id: &str, code: &str) -> Result<String> {
    let ask_again = "Ask for a new one with /login you@example.com.";
    // A retried turn: this message verified the code already.
    let done: Option<(String,)> = sqlx::query_as("SELECT email FROM login_codes WHERE consumed_by = $1")
        .bind(message_id)
        .fetch_optional(&state.db.pool)
        .await?;
    if let Some((email,)) = done {
        return verified(state, guest, &email).await;
    }
    let latest: Option<(String, String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT id, email, code_hash, state, attempts, expires_at FROM login_codes \
         WHERE org_id = $1 AND guest_address = $2 AND state IN ('open', 'spent') ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(&guest.org_id)
    .bind(&guest.address)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((id, email, hash, code_state, attempts, expires_at)) = latest else {
        return Ok("There is no code waiting for this number. Send /login you@example.com first.".into());
    };
    if code_state == "spent" {
        return Ok(format!("That code was tried too many times. {ask_again}"));
    }
    if expires_at < now_ms() {
        return Ok(format!("That code has expired (codes last {} minutes). {ask_again}", CODE_TTL.as_secs() / 60));
    }
    if code.len() != 6 {
        return Ok("A code has 6 digits: send it as /login 123456.".into());
    }
    let right = state.secrets.verify_link(&format!("login-code:{id}:{code}"), &hash);
    let mut tx = state.db.begin_write().await?;
    if !right {
        let left = MAX_ATTEMPTS - attempts - 1;
        sqlx::query(
            "UPDATE login_codes SET attempts = attempts + 1, state = CASE WHEN attempts + 1 >= $1 THEN 'spent' ELSE state END \
             WHERE id = $2",
        )
        .bind(MAX_ATTEMPTS)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(guest = %mask_address(&guest.address), left, "wrong login code");
        return Ok(if left > 0 {
            format!("That code is not right. {left} {} left.", if left == 1 { "try" } else { "tries" })
        } else {
            format!("That code is not right, and that was the last try. {ask_again}")
        });
    }
    let used = sqlx::query("UPDATE login_codes SET state = 'used', consumed_by = $1 WHERE id = $2 AND state = 'open'")
        .bind(message_id)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    if used.rows_affected() == 0 {
        return Ok(format!("That code can no longer be used. {ask_again}"));
    }
    sqlx::query(
        "INSERT INTO guest_identities (org_id, guest_address, email, verified_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, guest_address) DO UPDATE SET email = excluded.email, verified_at = excluded.verified_at",
    )
    .bind(&guest.org_id)
    .bind(&guest.address)
    .bind(&email)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(guest = %mask_address(&guest.address), "email address verified");
    verified(state, guest, &email).await
}

/// What a guest hears once verified: whether they may chat now or wait for approval.
async fn verified(state: &AppState, guest: &Guest, email: &str) -> Result<String> {
    let mut text = format!("Verified: this number is now linked to {email}.");
    match gate(state, guest).await? {
        Gate::Allow => text.push_str(&format!(" You can chat with {} now.", guest.agent_name)),
        Gate::Reply(more) => {
            text.push(' ');
            text.push_str(&more);
        }
    }
    Ok(text)
}

/// Whether the agent may answer this guest, or what the guest is told instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Allow,
    Reply(String),
}

pub async fn gate(state: &AppState, guest: &Guest) -> Result<Gate> {
    let AccessSettings { policy, onboarding, onboarding_message } = &guest.access;
    let agent = &guest.agent_name;
    let declined = format!("Your request to chat with {agent} was declined.");
    if *onboarding {
        let (request_state, new) = request(state, guest, RequestKind::Number, &guest.address).await?;
        match request_state.as_str() {
            "approved" => {}
            "denied" => return Ok(Gate::Reply(declined)),
            _ if new => {
                let text = onboarding_message.trim();
                return Ok(Gate::Reply(if text.is_empty() {
                    format!(
                        "Thanks for writing! {agent} answers approved guests only. Your request has been sent; \
                         you will get a message here once it is approved."
                    )
                } else {
                    text.to_string()
                }));
            }
            _ => {
                return Ok(Gate::Reply(
                    "Your request is still waiting for approval. You will get a message here once it is decided."
                        .into(),
                ))
            }
        }
    }
    let policy = *policy;
    if policy == AccessPolicy::Open {
        return Ok(Gate::Allow);
    }
    let Some(email) = identity(state, guest).await? else {
        return Ok(Gate::Reply(format!(
            "{agent} needs to know who you are first. Send /login followed by your email address \
             (e.g. /login you@example.com) and you will receive a 6-digit code by email."
        )));
    };
    if policy == AccessPolicy::RequireEmail {
        return Ok(Gate::Allow);
    }
    let (shared,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM shared_emails WHERE agent_id = $1 AND email = $2")
        .bind(&guest.agent_id)
        .bind(&email)
        .fetch_one(&state.db.pool)
        .await?;
    if shared > 0 {
        return Ok(Gate::Allow);
    }
    let (request_state, _) = request(state, guest, RequestKind::Email, &email).await?;
    Ok(Gate::Reply(match request_state.as_str() {
        "denied" => declined,
        _ => format!(
            "Your request to chat with {agent} as {email} is waiting for approval. \
             You will get a message here once it is decided."
        ),
    }))
}

/// The guest's access request of this kind, created (pending) if there is none; an approved
/// email request whose address has left the shared list since is pending again. Returns its
/// state and whether it was created now.
async fn request(state: &AppState, guest: &Guest, kind: RequestKind, subject: &str) -> Result<(String, bool)> {
    let kind = kind_str(kind);
    let mut tx = state.db.begin_write().await?;
    let created = sqlx::query(
        "INSERT INTO access_requests (id, agent_id, kind, subject, guest_address, guest_name, conversation_id, state, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8) ON CONFLICT (agent_id, kind, subject) DO NOTHING",
    )
    .bind(new_id())
    .bind(&guest.agent_id)
    .bind(kind)
    .bind(subject)
    .bind(&guest.address)
    .bind(&guest.name)
    .bind(&guest.conversation_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if kind == "email" {
        // Approved before, but no longer on the list: asked again.
        sqlx::query(
            "UPDATE access_requests SET state = 'pending', guest_address = $1, conversation_id = $2, created_at = $3, \
             decided_at = NULL, decided_by = NULL WHERE agent_id = $4 AND kind = 'email' AND subject = $5 AND state = 'approved'",
        )
        .bind(&guest.address)
        .bind(&guest.conversation_id)
        .bind(now_ms())
        .bind(&guest.agent_id)
        .bind(subject)
        .execute(&mut *tx)
        .await?;
    }
    let (request_state,): (String,) =
        sqlx::query_as("SELECT state FROM access_requests WHERE agent_id = $1 AND kind = $2 AND subject = $3")
            .bind(&guest.agent_id)
            .bind(kind)
            .bind(subject)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    if created {
        tracing::info!(agent_id = %guest.agent_id, kind, guest = %mask_address(&guest.address), "access request created");
    }
    Ok((request_state, created))
}

fn kind_str(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Email => "email",
        RequestKind::Number => "number",
    }
}

// --- The Sharing page ---

pub async fn sharing(state: &AppState, me: &Me, agent_id: &str) -> Result<SharingView> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let (policy, onboarding, onboarding_message): (String, i64, String) =
        sqlx::query_as("SELECT access_policy, onboarding, onboarding_message FROM agents WHERE id = $1")
            .bind(agent_id)
            .fetch_one(&state.db.pool)
            .await?;
    let settings = AccessSettings {
        policy: AccessPolicy::parse(&policy).unwrap_or_default(),
        onboarding: onboarding != 0,
        onboarding_message,
    };
    let show = |address: &str| crate::inbox::shown(me, address);
    let shared: Vec<(String, i64)> =
        sqlx::query_as("SELECT email, added_at FROM shared_emails WHERE agent_id = $1 ORDER BY email")
            .bind(agent_id)
            .fetch_all(&state.db.pool)
            .await?;
    type RequestRow = (String, String, String, String, Option<String>, String, i64, Option<i64>, Option<String>);
    let requests: Vec<RequestRow> = sqlx::query_as(
        "SELECT r.id, r.kind, r.subject, r.guest_address, r.guest_name, r.state, r.created_at, r.decided_at, u.email \
         FROM access_requests r LEFT JOIN users u ON u.id = r.decided_by WHERE r.agent_id = $1 \
         ORDER BY CASE r.state WHEN 'pending' THEN 0 ELSE 1 END, r.created_at DESC LIMIT 200",
    )
    .bind(agent_id)
    .fetch_all(&state.db.pool)
    .await?;
    let verified = verified_guests(state, agent_id).await?;
    let email_warning = (state.mailer.is_none() && settings.policy != AccessPolicy::Open).then(|| {
        "No SMTP server is configured (SWITCHBOARD_SMTP_HOST), so guests cannot receive /login codes and cannot \
         verify an email address. Ask the operator to configure one."
            .to_string()
    });
    Ok(SharingView {
        settings,
        shared: shared.into_iter().map(|(email, added_at_ms)| SharedEmail { email, added_at_ms }).collect(),
        requests: requests
            .into_iter()
            .map(|(id, kind, subject, guest, guest_name, state, created_at_ms, decided_at_ms, decided_by)| {
                let kind = if kind == "email" { RequestKind::Email } else { RequestKind::Number };
                AccessRequestRow {
                    id,
                    email: (kind == RequestKind::Email).then_some(subject),
                    kind,
                    guest: show(&guest),
                    guest_name,
                    state,
                    created_at_ms,
                    decided_at_ms,
                    decided_by,
                }
            })
            .collect(),
        verified: verified
            .into_iter()
            .map(|(address, email, verified_at_ms)| VerifiedGuest {
                guest: show(&address),
                key: guest_key(state, agent_id, &address),
                email,
                verified_at_ms,
            })
            .collect(),
        email_warning,
    })
}

pub async fn set_access(state: &AppState, me: &Me, agent_id: &str, settings: AccessSettings) -> Result<()> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let message = settings.onboarding_message.trim();
    if message.chars().count() > 1000 {
        return Err(
            AppError::invalid("onboarding_message", "Keep the onboarding message under 1,000 characters.").into()
        );
    }
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE agents SET access_policy = $1, onboarding = $2, onboarding_message = $3 WHERE id = $4")
        .bind(settings.policy.as_str())
        .bind(i64::from(settings.onboarding))
        .bind(message)
        .bind(agent_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        agent_id,
        policy = settings.policy.as_str(),
        onboarding = settings.onboarding,
        "access policy saved"
    );
    Ok(())
}

pub async fn add_shared_email(state: &AppState, me: &Me, agent_id: &str, email: &str) -> Result<()> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let Some(email) = normalize_email(email) else {
        return Err(AppError::invalid("email", "Give an email address, e.g. guest@example.com.").into());
    };
    let mut tx = state.db.begin_write().await?;
    if !share(&mut tx, agent_id, &email, &me.user_id).await? {
        return Err(AppError::invalid("email", format!("{email} is already on the list.")).into());
    }
    tx.commit().await?;
    Ok(())
}

/// Puts an address on the agent's shared list; false when it was there already.
async fn share(tx: &mut crate::db::WriteTx, agent_id: &str, email: &str, by: &str) -> sqlx::Result<bool> {
    let added = sqlx::query(
        "INSERT INTO shared_emails (agent_id, email, added_at, added_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (agent_id, email) DO NOTHING",
    )
    .bind(agent_id)
    .bind(email)
    .bind(now_ms())
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(added.rows_affected() > 0)
}

pub async fn remove_shared_email(state: &AppState, me: &Me, agent_id: &str, email: &str) -> Result<()> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let mut tx = state.db.begin_write().await?;
    let removed = sqlx::query("DELETE FROM shared_emails WHERE agent_id = $1 AND email = $2")
        .bind(agent_id)
        .bind(email)
        .execute(&mut *tx)
        .await?;
    if removed.rows_affected() == 0 {
        return Err(AppError::NotFound("Shared email address".into()).into());
    }
    tx.commit().await?;
    Ok(())
}

/// How the Sharing page names a verified guest to act on: a keyed hash of the number, so an
/// agent owner, who sees numbers masked, is not handed them whole.
fn guest_key(state: &AppState, agent_id: &str, address: &str) -> String {
    state.secrets.sign_link(&guest_key_message(agent_id, address))
}

fn guest_key_message(agent_id: &str, address: &str) -> String {
    format!("verified-guest:{agent_id}:{address}")
}

/// The verified guests of an agent: those with a conversation with it. Their number, email and
/// when they verified.
async fn verified_guests(state: &AppState, agent_id: &str) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "SELECT gi.guest_address, gi.email, gi.verified_at FROM guest_identities gi JOIN agents a ON a.org_id = gi.org_id \
         WHERE a.id = $1 AND EXISTS (SELECT 1 FROM conversations cv WHERE cv.agent_id = a.id AND cv.guest_address = gi.guest_address) \
         ORDER BY gi.verified_at DESC",
    )
    .bind(agent_id)
    .fetch_all(&state.db.pool)
    .await
}

/// Unlinks a verified guest's email, named by the key the Sharing page gives (an admin may also
/// give the number itself).
pub async fn revoke(state: &AppState, me: &Me, agent_id: &str, guest_key_or_number: &str) -> Result<()> {
    crate::agents::require_agent(state, me, agent_id).await?;
    let verified = verified_guests(state, agent_id).await?;
    let found = verified.into_iter().map(|(address, ..)| address).find(|address| {
        state.secrets.verify_link(&guest_key_message(agent_id, address), guest_key_or_number)
            || (me.role == app::accounts::Role::OrgAdmin && address == guest_key_or_number)
    });
    let Some(guest_address) = found else {
        return Err(AppError::NotFound("Verified guest".into()).into());
    };
    let guest_address = guest_address.as_str();
    let mut tx = state.db.begin_write().await?;
    let removed = sqlx::query(
        // Only a guest of this agent (the ones its Sharing page lists): an owner may not unlink
        // the email of a guest who talks only to other owners' agents.
        "DELETE FROM guest_identities WHERE guest_address = $1 AND org_id = (SELECT org_id FROM agents WHERE id = $2) \
         AND EXISTS (SELECT 1 FROM conversations cv WHERE cv.agent_id = $2 AND cv.guest_address = $1)",
    )
    .bind(guest_address)
    .bind(agent_id)
    .execute(&mut *tx)
    .await?;
    if removed.rows_affected() == 0 {
        return Err(AppError::NotFound("Verified guest".into()).into());
    }
    tx.commit().await?;
    tracing::info!(agent_id, guest = %mask_address(guest_address), "verified email unlinked by staff");
    Ok(())
}

/// Approves or denies a request and tells the guest on the number they wrote to, under the
/// sender's rules: free text inside their 24-hour window, the agent's approved template outside
/// it. Returns what happened, for the page to say.
pub async fn decide(state: &AppState, me: &Me, agent_id: &str, request_id: &str, approve: bool) -> Result<String> {
    let (agent_name, _) = crate::agents::require_agent(state, me, agent_id).await?;
    let row: Option<(String, String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT kind, subject, guest_address, conversation_id, state FROM access_requests WHERE id = $1 AND agent_id = $2",
    )
    .bind(request_id)
    .bind(agent_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((kind, subject, guest_address, conversation_id, current)) = row else {
        return Err(AppError::NotFound("Access request".into()).into());
    };
    let target = if approve { "approved" } else { "denied" };
    if current == target {
        return Err(AppError::Conflict(format!("This request is {target} already.")).into());
    }
    // The conversation to tell the guest in, and whether a message can reach them there.
    type Conv = (String, String, String, Option<i64>, Option<i64>, Option<String>);
    let conv: Option<Conv> = sqlx::query_as(
        "SELECT cv.id, n.connector_id, n.address, cv.last_inbound_at, cv.window_closed_at, \
         CASE WHEN a.template_connector_id = n.connector_id THEN a.template_sid END \
         FROM conversations cv JOIN numbers n ON n.id = cv.number_id JOIN agents a ON a.id = $1 \
         LEFT JOIN channels ch ON ch.number_id = n.id \
         WHERE cv.guest_address = $2 AND (cv.id = $3 OR ch.agent_id = $1) AND n.active = 1 \
         ORDER BY CASE WHEN cv.id = $3 THEN 0 ELSE 1 END, cv.last_inbound_at DESC LIMIT 1",
    )
    .bind(agent_id)
    .bind(&guest_address)
    .bind(conversation_id.as_deref().unwrap_or(""))
    .fetch_optional(&state.db.pool)
    .await?;
    let text = match (approve, kind.as_str()) {
        (true, "email") => format!("Good news: your request was approved. You can chat with {agent_name} now."),
        (true, _) => format!("Good news: you have been approved. {agent_name} will answer you from now on."),
        (false, _) => format!("Your request to chat with {agent_name} was declined."),
    };
    let now = now_ms();
    let (tell, outcome) = match &conv {
        None => (
            false,
            "The guest could not be told: their conversation is gone or its number is no longer active.".to_string(),
        ),
        Some((_, _, address, last_inbound, closed, template)) => {
            if crate::pipeline::sender::window_open(address, now, *last_inbound, *closed) {
                (true, "The guest was told in their chat.".to_string())
            } else if template.is_some() {
                (
                    true,
                    "The guest's 24-hour window has closed: they are told with the agent's approved template."
                        .to_string(),
                )
            } else {
                (
                    false,
                    "The guest could not be told: their 24-hour window has closed and the agent has no approved \
                     template. They will find out when they next write."
                        .to_string(),
                )
            }
        }
    };
    let mut tx = state.db.begin_write().await?;
    if let (true, Some((conversation_id, connector_id, ..))) = (tell, &conv) {
        let message = Outgoing {
            origin: Some("switchboard"),
            note: Some(format!("Access request {target} by {}.", me.email)),
            ..Outgoing::text(text)
        };
        crate::pipeline::outbox::queue(&mut tx, conversation_id, connector_id, &[message], now).await?;
    }
    sqlx::query("UPDATE access_requests SET state = $1, decided_at = $2, decided_by = $3 WHERE id = $4")
        .bind(target)
        .bind(now)
        .bind(&me.user_id)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    if approve && kind == "email" {
        share(&mut tx, agent_id, &subject, &me.user_id).await?;
    }
    tx.commit().await?;
    if tell {
        state.wake_sends().await;
    }
    if let Some((conversation_id, ..)) = &conv {
        state.events.changed(conversation_id);
    }
    tracing::info!(agent_id, request_id, decision = target, told = tell, "access request decided");
    let what = match (approve, kind.as_str()) {
        (true, "email") => format!("Approved: {subject} is on the shared list."),
        (true, _) => "Approved.".to_string(),
        (false, _) => "Denied.".to_string(),
    };
    Ok(format!("{what} {outcome}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_other_slashes_do_not() {
        assert_eq!(parse("/login Guest@Example.com"), Some(Command::LoginEmail("Guest@Example.com".into())));
        assert_eq!(parse("  /LOGIN 123456 "), Some(Command::LoginCode("123456".into())));
        assert_eq!(parse("/login"), Some(Command::LoginUsage));
        assert_eq!(parse("/login me at home"), Some(Command::LoginUsage));
        assert_eq!(parse("/logout"), Some(Command::Logout));
        assert_eq!(parse("/whoami"), Some(Command::Whoami));
        assert_eq!(parse("/help"), Some(Command::Help));
        assert_eq!(parse("/menu please"), None);
        assert_eq!(parse("login 123456"), None);
        assert_eq!(parse(""), None);
        assert_eq!(Command::LoginCode("123456".into()).stored_text(), Some("/login ••••••"));
        assert_eq!(Command::Whoami.stored_text(), None);
    }

    #[test]
    fn email_addresses_are_checked_and_lower_cased() {
        assert_eq!(normalize_email(" Guest@Example.COM "), Some("guest@example.com".into()));
        assert_eq!(normalize_email("<a.b+c@mail.example.org>"), Some("a.b+c@mail.example.org".into()));
        for bad in [
            "",
            "guest",
            "guest@",
            "@example.com",
            "guest@localhost",
            "a@b@c.com",
            "gu est@example.com",
            "a@.com",
            "a@b..com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }
}
