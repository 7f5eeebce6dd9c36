//! Who may talk to an agent. Guests prove an email address with `/login` (a 6-digit code sent
//! by email); the agent's policy decides what that must be (nothing, a verified address, an
//! address on its shared list) and onboarding holds new senders until their number is approved.
//! The commands are answered here and never reach the brain.

pub mod commands;
mod port;
pub mod sharing;
mod store;

use std::time::Duration;

use app::{
    accounts::Me,
    sharing::{AccessPolicy, AccessRequestRow, AccessSettings, RequestKind, SharingView, VerifiedGuest},
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
/forget: ask for your messages and details to be deleted\n\
/help: this list";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    LoginEmail(String),
    LoginCode(String),
    /// `/login` without a usable argument.
    LoginUsage,
    Logout,
    Whoami,
    /// The guest asks to be forgotten.
    Forget,
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
        "/forget" => Command::Forget,
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
        let row = store::guest_agent(&state.db.pool, agent_id).await?;
        Ok(Self {
            access: row.settings(),
            org_id: row.org_id,
            org_name: row.org_name,
            agent_id: agent_id.to_string(),
            agent_name: row.agent_name,
            address: address.to_string(),
            name: name.map(str::to_string),
            conversation_id: conversation_id.to_string(),
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

async fn identity(state: &AppState, guest: &Guest) -> Result<Option<String>> {
    Ok(store::identity(&state.db.pool, &guest.org_id, &guest.address).await?)
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
    if store::is_shared(&state.db.pool, &guest.agent_id, &email).await? {
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
    let new = store::NewRequest {
        agent_id: &guest.agent_id,
        kind,
        subject,
        guest_address: &guest.address,
        guest_name: guest.name.as_deref(),
        conversation_id: &guest.conversation_id,
    };
    let (request_state, created) = store::request(&mut tx, new, now_ms()).await?;
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
