//! The guest commands, answered here and never by the brain: `/login` with an email address
//! (a 6-digit code sent by email, limited per number, address and organization) and with the code,
//! `/logout`, `/whoami`, `/forget` (privacy), `/help`.

use super::*;

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
        Command::Forget => crate::privacy::requested(state, &guest.org_id, &guest.org_name, &guest.address).await,
        Command::Logout => {
            let email = identity(state, guest).await?;
            let mut tx = state.db.begin_write().await?;
            store::unlink_identity(&mut tx, &guest.org_id, &guest.address).await?;
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
    let db = &state.db.pool;
    let recent =
        |asker, window: Duration| store::codes_since(db, &guest.org_id, asker, now - window.as_millis() as i64);
    let code_id = match store::code_for_message(db, message_id).await? {
        Some(earlier) if earlier.state != "unsent" => return Ok(sent_text),
        Some(earlier) => earlier.id,
        None => {
            if recent(store::Asker::Number(&guest.address), CODES_PER_NUMBER.1).await? >= CODES_PER_NUMBER.0 {
                tracing::warn!(guest = %mask_address(&guest.address), "login codes rate-limited for a number");
                return Ok(format!(
                    "Too many codes were asked for from this number. Wait {} minutes and try again.",
                    CODES_PER_NUMBER.1.as_secs() / 60
                ));
            }
            if recent(store::Asker::Organization, CODES_PER_ORG.1).await? >= CODES_PER_ORG.0 {
                tracing::warn!(org_id = %guest.org_id, "login codes rate-limited for the organization");
                return Ok("Too many codes were asked for here just now. Please try again in an hour.".into());
            }
            if recent(store::Asker::Email(&email), CODES_PER_EMAIL.1).await? >= CODES_PER_EMAIL.0 {
                tracing::warn!("login codes rate-limited for an email address");
                return Ok("Too many codes were sent to this email address recently. Try again in an hour.".into());
            }
            let id = new_id();
            let mut tx = state.db.begin_write().await?;
            let code = store::NewCode {
                id: &id,
                org_id: &guest.org_id,
                guest_address: &guest.address,
                email: &email,
                message_id,
                expires_at: now + CODE_TTL.as_millis() as i64,
            };
            store::create_code(&mut tx, code, now).await?;
            tx.commit().await?;
            id
        }
    };
    let code = {
        use rand::Rng;
        format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
    };
    let mut tx = state.db.begin_write().await?;
    let hash = code_hash(state, &code_id, &code);
    store::set_code_hash(&mut tx, &code_id, &hash, now_ms() + CODE_TTL.as_millis() as i64).await?;
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
            store::mark_sent(&mut tx, &code_id).await?;
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
    if let Some(email) = store::verified_by(&state.db.pool, message_id).await? {
        return verified(state, guest, &email).await;
    }
    let Some(latest) = store::latest_code(&state.db.pool, &guest.org_id, &guest.address).await? else {
        return Ok("There is no code waiting for this number. Send /login you@example.com first.".into());
    };
    let store::Latest { id, email, code_hash: hash, state: code_state, attempts, expires_at } = latest;
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
        store::wrong_try(&mut tx, &id, MAX_ATTEMPTS).await?;
        tx.commit().await?;
        tracing::info!(guest = %mask_address(&guest.address), left, "wrong login code");
        return Ok(if left > 0 {
            format!("That code is not right. {left} {} left.", if left == 1 { "try" } else { "tries" })
        } else {
            format!("That code is not right, and that was the last try. {ask_again}")
        });
    }
    if !store::use_code(&mut tx, &id, message_id).await? {
        return Ok(format!("That code can no longer be used. {ask_again}"));
    }
    store::link_identity(&mut tx, &guest.org_id, &guest.address, &email, now_ms()).await?;
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
