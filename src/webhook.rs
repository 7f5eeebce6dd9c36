//! Twilio's webhooks: inbound messages and status callbacks. Each request is checked against
//! the connector's Auth Token and the exact URL Switchboard registered, stored, and answered
//! at once; the agent's turn happens later, off the request path.

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};

use crate::{
    crypto::Secret,
    mask_address, new_id, now_ms,
    state::AppState,
    twilio::signature::{self, Algorithm},
};

/// Twilio answers bodies over 64 kB with its own error; nothing legitimate is larger.
const BODY_LIMIT: usize = 64 * 1024;

const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/twilio/inbound/{key}", post(inbound))
        .route("/twilio/status/{key}", post(status))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

struct Connector {
    id: String,
    receive_inbound: bool,
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

fn reject(status: StatusCode, message: &'static str) -> Response {
    (status, message).into_response()
}

/// Finds the connector, checks the request's form and signature, and returns its parameters.
async fn authenticate(
    state: &AppState,
    key: &str,
    url: String,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Connector, Params), Response> {
    let row: Option<(String, String, Vec<u8>, i64)> = sqlx::query_as(
        "SELECT id, account_sid, auth_token_enc, receive_inbound FROM connectors WHERE webhook_key = $1",
    )
    .bind(key)
    .fetch_optional(&state.db.pool)
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "webhook: database unavailable");
        reject(StatusCode::SERVICE_UNAVAILABLE, "try again")
    })?;
    let Some((id, account_sid, sealed, receive_inbound)) = row else {
        return Err(reject(StatusCode::NOT_FOUND, "unknown webhook"));
    };
    let form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !form {
        return Err(reject(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected application/x-www-form-urlencoded"));
    }
    let params: Params = url::form_urlencoded::parse(body).into_owned().collect();
    let token: Secret = state.secrets.open(&sealed, &id).map_err(|e| {
        tracing::error!(connector_id = %id, error = %e, "webhook: cannot open the connector's Auth Token");
        reject(StatusCode::INTERNAL_SERVER_ERROR, "server error")
    })?;
    let algorithm = Algorithm::from_settings_header(
        headers.get("x-twilio-webhooks-signature-settings").and_then(|v| v.to_str().ok()),
    );
    let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok());
    let valid = match (algorithm, signature) {
        // SharedKey signatures need a key Switchboard is not given yet; they cannot validate.
        (Some(Algorithm::HmacSha1), Some(sig)) => {
            signature::validate(Algorithm::HmacSha1, token.expose(), &url, &params, sig)
        }
        _ => false,
    };
    if !valid {
        tracing::warn!(connector_id = %id, signature_present = signature.is_some(), "webhook: signature check failed");
        return Err(reject(StatusCode::FORBIDDEN, "invalid signature"));
    }
    if param(&params, "AccountSid").is_some_and(|sid| sid != account_sid) {
        tracing::warn!(connector_id = %id, "webhook: AccountSid does not match the connector");
        return Err(reject(StatusCode::FORBIDDEN, "wrong account"));
    }
    Ok((Connector { id, receive_inbound: receive_inbound != 0 }, params))
}

fn twiml_ack() -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], EMPTY_TWIML).into_response()
}

async fn inbound(State(state): State<AppState>, Path(key): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let url = state.inbound_webhook_url(&key);
    let (connector, params) = match authenticate(&state, &key, url, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let (Some(sid), Some(from), Some(to)) =
        (param(&params, "MessageSid"), param(&params, "From"), param(&params, "To"))
    else {
        return reject(StatusCode::BAD_REQUEST, "MessageSid, From and To are required");
    };
    let span =
        tracing::info_span!("inbound", connector_id = %connector.id, message_sid = %sid, from = %mask_address(from));
    let _enter = span.enter();
    match store_inbound(&state, &connector, &params, sid, from, to).await {
        Ok(Stored::New { turn: true }) => {
            state.wake_turns().await;
            tracing::info!("inbound message stored");
        }
        Ok(Stored::New { turn: false }) => tracing::info!("inbound message stored; not delivered to an agent"),
        Ok(Stored::Duplicate) => tracing::info!("duplicate delivery acknowledged"),
        Ok(Stored::UnknownNumber) => {
            tracing::warn!(to = %mask_address(to), "message to a number this connector does not know")
        }
        Err(e) => {
            tracing::error!(error = %e, "inbound message not stored");
            // Not acknowledged: Twilio's fallback URL (if any) gets the message instead.
            return reject(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    }
    twiml_ack()
}

enum Stored {
    New { turn: bool },
    Duplicate,
    UnknownNumber,
}

/// Stores the message and the job that will answer it in one transaction; a delivery of a
/// MessageSid already stored changes nothing.
async fn store_inbound(
    state: &AppState,
    connector: &Connector,
    params: &Params,
    sid: &str,
    from: &str,
    to: &str,
) -> sqlx::Result<Stored> {
    let number: Option<(String, i64)> =
        sqlx::query_as("SELECT id, active FROM numbers WHERE connector_id = $1 AND address = $2")
            .bind(&connector.id)
            .bind(to)
            .fetch_optional(&state.db.pool)
            .await?;
    let Some((number_id, active)) = number else { return Ok(Stored::UnknownNumber) };
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let (conversation_id,): (String,) = sqlx::query_as(
        "INSERT INTO conversations (id, number_id, guest_address, guest_name, agent_id, last_inbound_at, created_at) \
         VALUES ($1, $2, $3, $4, (SELECT agent_id FROM channels WHERE number_id = $2), $5, $5) \
         ON CONFLICT (number_id, guest_address) DO UPDATE SET \
           guest_name = COALESCE(excluded.guest_name, conversations.guest_name), \
           agent_id = excluded.agent_id, last_inbound_at = excluded.last_inbound_at \
         RETURNING id",
    )
    .bind(new_id())
    .bind(&number_id)
    .bind(from)
    .bind(param(params, "ProfileName"))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let turn = connector.receive_inbound && active != 0;
    let all_params = serde_json::to_string(params).unwrap_or_default();
    let inserted = sqlx::query(
        "INSERT INTO messages (id, conversation_id, connector_id, direction, body, twilio_sid, status, params, answered, \
         created_at) VALUES ($1, $2, $3, 'inbound', $4, $5, 'received', $6, $7, $8) \
         ON CONFLICT (connector_id, twilio_sid) DO NOTHING",
    )
    .bind(new_id())
    .bind(&conversation_id)
    .bind(&connector.id)
    .bind(param(params, "Body").unwrap_or(""))
    .bind(sid)
    .bind(all_params)
    .bind(i64::from(!turn))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(Stored::Duplicate);
    }
    if turn {
        // The conversation owes the guest a turn. A turn under way sees the new generation and
        // leaves the row pending, so this message is answered by the next turn.
        sqlx::query(
            "INSERT INTO turns (conversation_id, state, generation, run_at, updated_at) VALUES ($1, 'pending', 1, $2, $2) \
             ON CONFLICT (conversation_id) DO UPDATE SET state = 'pending', generation = turns.generation + 1, \
             run_at = CASE WHEN turns.state = 'idle' THEN excluded.run_at ELSE turns.run_at END, \
             updated_at = excluded.updated_at",
        )
        .bind(&conversation_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Stored::New { turn })
}

/// Twilio's delivery states in order; a callback never moves a message backwards.
pub fn status_rank(status: &str) -> i64 {
    match status {
        "accepted" | "scheduled" | "queued" => 1,
        "sending" => 2,
        "sent" => 3,
        "failed" | "undelivered" | "canceled" => 4,
        "delivered" => 5,
        "read" => 6,
        _ => 0,
    }
}

async fn status(
    State(state): State<AppState>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Switchboard registers the status URL with `?m=<message id>`; the signature covers it.
    let url = match &query {
        Some(q) => format!("{}?{q}", state.status_callback_url(&key)),
        None => state.status_callback_url(&key),
    };
    let message_id = query
        .as_deref()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "m").map(|(_, v)| v.into_owned()));
    let (connector, params) = match authenticate(&state, &key, url, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let (Some(sid), Some(status)) = (param(&params, "MessageSid"), param(&params, "MessageStatus")) else {
        return reject(StatusCode::BAD_REQUEST, "MessageSid and MessageStatus are required");
    };
    let code: Option<i64> = param(&params, "ErrorCode").and_then(|c| c.parse().ok());
    let meaning = code
        .map(|c| crate::twilio::errors::describe(c).map(str::to_string).unwrap_or_else(|| format!("Twilio error {c}")));
    match apply_status(&state, &connector.id, message_id.as_deref(), sid, status, code, meaning).await {
        Ok(applied) => {
            tracing::info!(connector_id = %connector.id, message_sid = %sid, status, applied, "status callback")
        }
        Err(e) => {
            tracing::error!(error = %e, "status callback not stored");
            return reject(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    }
    StatusCode::OK.into_response()
}

/// Moves the message forward to `status` (never backwards); 63016 also closes the
/// conversation's window. The message is found by the id in the callback URL, which works even
/// before the send has recorded Twilio's SID, or else by that SID.
async fn apply_status(
    state: &AppState,
    connector_id: &str,
    message_id: Option<&str>,
    sid: &str,
    status: &str,
    code: Option<i64>,
    meaning: Option<String>,
) -> sqlx::Result<bool> {
    let mut tx = state.db.begin_write().await?;
    let target: Option<(String, String)> = match message_id {
        Some(id) => {
            sqlx::query_as(
                "SELECT id, conversation_id FROM messages WHERE id = $1 AND connector_id = $2 AND direction = 'outbound' \
                 AND (twilio_sid IS NULL OR twilio_sid = $3)",
            )
            .bind(id)
            .bind(connector_id)
            .bind(sid)
            .fetch_optional(&mut *tx)
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT id, conversation_id FROM messages WHERE connector_id = $1 AND twilio_sid = $2 AND direction = 'outbound'",
            )
            .bind(connector_id)
            .bind(sid)
            .fetch_optional(&mut *tx)
            .await?
        }
    };
    let Some((id, conversation_id)) = target else { return Ok(false) };
    let updated = sqlx::query(
        "UPDATE messages SET twilio_sid = COALESCE(twilio_sid, $1), status = $2, status_rank = $3, \
         error_code = COALESCE($4, error_code), error_message = COALESCE($5, error_message) \
         WHERE id = $6 AND status_rank < $3",
    )
    .bind(sid)
    .bind(status)
    .bind(status_rank(status))
    .bind(code)
    .bind(meaning)
    .bind(&id)
    .execute(&mut *tx)
    .await?;
    if code == Some(63016) {
        sqlx::query("UPDATE conversations SET window_closed_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(&conversation_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(updated.rows_affected() == 1)
}
