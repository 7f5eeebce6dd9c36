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
use tracing::Instrument;

use std::sync::Arc;

use super::{
    hooks::HookConnector,
    jobs::{Inbound, StatusUpdate, Stored},
};
use crate::{
    mask_address,
    state::AppState,
    twilio::{
        inbound::{param, Params},
        signature::{self, Algorithm},
    },
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

/// A webhook request refused: its status and a word on why (as plain text).
struct Refused(StatusCode, &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

/// Finds the connector, checks the request's form and signature, and returns its parameters.
async fn authenticate(
    state: &AppState,
    key: &str,
    url: String,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Arc<HookConnector>, Params), Refused> {
    if !crate::connectors::account::is_webhook_key(key) {
        return Err(Refused(StatusCode::NOT_FOUND, "unknown webhook"));
    }
    let connector = state.hooks.connector(&state.db, &state.secrets, key).await.map_err(|e| {
        tracing::error!(error = %e, "webhook: cannot look up the connector");
        Refused(StatusCode::SERVICE_UNAVAILABLE, "try again")
    })?;
    let Some(connector) = connector else {
        return Err(Refused(StatusCode::NOT_FOUND, "unknown webhook"));
    };
    let form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !form {
        return Err(Refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected application/x-www-form-urlencoded"));
    }
    let params: Params = url::form_urlencoded::parse(body).into_owned().collect();
    let algorithm = Algorithm::from_settings_header(
        headers.get("x-twilio-webhooks-signature-settings").and_then(|v| v.to_str().ok()),
    );
    let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok());
    let valid = match (algorithm, signature) {
        // SharedKey signatures need a key Switchboard is not given yet; they cannot validate.
        (Some(Algorithm::HmacSha1), Some(sig)) => {
            signature::validate(Algorithm::HmacSha1, connector.auth_token.expose(), &url, &params, sig)
        }
        _ => false,
    };
    if !valid {
        tracing::warn!(connector_id = %connector.id, signature_present = signature.is_some(), "webhook: signature check failed");
        state.rejections.note(&connector.id, "bad_signature");
        return Err(Refused(StatusCode::FORBIDDEN, "invalid signature"));
    }
    if param(&params, "AccountSid").is_some_and(|sid| sid != connector.account_sid) {
        tracing::warn!(connector_id = %connector.id, "webhook: AccountSid does not match the connector");
        state.rejections.note(&connector.id, "wrong_account");
        return Err(Refused(StatusCode::FORBIDDEN, "wrong account"));
    }
    Ok((connector, params))
}

fn twiml_ack() -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], EMPTY_TWIML).into_response()
}

/// What a refused webhook request counts as, by its status.
fn refusal(refused: &Refused) -> &'static str {
    match refused.0 {
        StatusCode::NOT_FOUND => "unknown_webhook",
        StatusCode::FORBIDDEN => "bad_signature",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "not_a_form",
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        _ => "unavailable",
    }
}

/// While shutting down, new webhooks are refused with 503 (Twilio retries, or uses the fallback
/// URL); the ones already in flight are stored and acknowledged.
fn shutting_down() -> Response {
    ([(header::RETRY_AFTER, "1")], Refused(StatusCode::SERVICE_UNAVAILABLE, "shutting down")).into_response()
}

async fn inbound(State(state): State<AppState>, Path(key): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if state.workers.stopping() {
        state.metrics.webhook("inbound", "shutting_down", std::time::Duration::ZERO);
        return shutting_down();
    }
    let started = std::time::Instant::now();
    let (response, outcome) = match receive(&state, &key, &headers, &body).await {
        Ok(outcome) => (twiml_ack(), outcome),
        Err(refused) => {
            let outcome = refusal(&refused);
            (refused.into_response(), outcome)
        }
    };
    let took = started.elapsed();
    state.metrics.webhook("inbound", outcome, took);
    if took > std::time::Duration::from_millis(50) {
        tracing::warn!(ms = took.as_millis() as u64, outcome, "an inbound webhook took long to answer");
    }
    response
}

async fn receive(state: &AppState, key: &str, headers: &HeaderMap, body: &Bytes) -> Result<&'static str, Refused> {
    let url = state.inbound_webhook_url(key);
    let (connector, params) = authenticate(state, key, url, headers, body).await?;
    let (Some(sid), Some(from), Some(to)) =
        (param(&params, "MessageSid"), param(&params, "From"), param(&params, "To"))
    else {
        return Err(Refused(StatusCode::BAD_REQUEST, "MessageSid, From and To are required"));
    };
    let span =
        tracing::info_span!("inbound", connector_id = %connector.id, message_sid = %sid, from = %mask_address(from));
    async {
        let number = match state.hooks.number(&state.db, &connector.id, to).await {
            Ok(number) => number,
            Err(e) => {
                tracing::error!(error = %e, "inbound message not stored");
                return Err(Refused(StatusCode::SERVICE_UNAVAILABLE, "try again"));
            }
        };
        let Some(number) = number else {
            tracing::warn!(to = %mask_address(to), "message to a number this connector does not know");
            state.rejections.note(&connector.id, "unknown_number");
            return Ok("unknown_number");
        };
        // The channel's inbound route: only this guest reaches the agent, named by their phone
        // number or their WhatsApp user id, whichever of the two Twilio gives.
        let external_user_id = param(&params, "ExternalUserId");
        let routed = number.inbound_from.as_deref().is_none_or(|only| {
            [Some(from), external_user_id]
                .into_iter()
                .flatten()
                .any(|a| a.trim().trim_start_matches("whatsapp:") == only)
        });
        let inbound = Inbound {
            connector_id: connector.id.clone(),
            number_id: number.id,
            turn: connector.receive_inbound && number.active && routed,
            message_sid: sid.to_string(),
            from: from.to_string(),
            external_user_id: external_user_id.map(|id| user_id(id, from)),
            profile_name: param(&params, "ProfileName").map(str::to_string),
            body: param(&params, "Body").unwrap_or("").to_string(),
            params: serde_json::to_string(&params).unwrap_or_default(),
            media: media_items(&params),
        };
        let stored = state.ingest.submit(inbound).await;
        match &stored {
            Ok(_) => state.db_health.wrote(),
            Err(e) => state.db_health.failed(e),
        }
        match stored {
            Ok(Stored::New { turn: true }) => {
                tracing::info!("inbound message stored");
                Ok("stored")
            }
            Ok(Stored::New { turn: false }) => {
                tracing::info!("inbound message stored; not delivered to an agent");
                Ok("stored_not_delivered")
            }
            Ok(Stored::Duplicate) => {
                tracing::info!("duplicate delivery acknowledged");
                Ok("duplicate")
            }
            Err(e) => {
                tracing::error!(error = %e, "inbound message not stored");
                // Not acknowledged: Twilio's fallback URL (if any) gets the message instead.
                Err(Refused(StatusCode::SERVICE_UNAVAILABLE, "try again"))
            }
        }
    }
    .instrument(span)
    .await
}

/// A guest's WhatsApp user id as conversations keep it: with the channel's prefix, as Twilio writes
/// it (`whatsapp:US.1349…`), whether or not this request carried the prefix.
fn user_id(id: &str, from: &str) -> String {
    let id: String = id.trim().chars().take(200).collect();
    match from.split_once(':') {
        Some((channel, _)) if !id.contains(':') => format!("{channel}:{id}"),
        _ => id,
    }
}

/// The files of an inbound message: `NumMedia` items of `MediaUrl{N}` and `MediaContentType{N}`
/// (Twilio sends at most 10).
fn media_items(params: &Params) -> Vec<(String, String)> {
    let count: usize = param(params, "NumMedia").and_then(|n| n.parse().ok()).unwrap_or(0);
    (0..count.min(10))
        .filter_map(|i| {
            let url = param(params, &format!("MediaUrl{i}"))?;
            let content_type = param(params, &format!("MediaContentType{i}")).unwrap_or("application/octet-stream");
            Some((url.to_string(), content_type.to_string()))
        })
        .collect()
}

async fn status(
    State(state): State<AppState>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.workers.stopping() {
        state.metrics.webhook("status", "shutting_down", std::time::Duration::ZERO);
        return shutting_down();
    }
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
        Err(refused) => {
            state.metrics.webhook("status", refusal(&refused), std::time::Duration::ZERO);
            return refused.into_response();
        }
    };
    let (Some(sid), Some(status)) = (param(&params, "MessageSid"), param(&params, "MessageStatus")) else {
        return Refused(StatusCode::BAD_REQUEST, "MessageSid and MessageStatus are required").into_response();
    };
    let code: Option<i64> = param(&params, "ErrorCode").and_then(|c| c.parse().ok());
    let meaning = code
        .map(|c| crate::twilio::errors::describe(c).map(str::to_string).unwrap_or_else(|| format!("Twilio error {c}")));
    let update = StatusUpdate {
        connector_id: connector.id.clone(),
        message_id,
        sid: sid.to_string(),
        status: status.to_string(),
        code,
        meaning,
    };
    match state.statuses.submit(update).await {
        Ok(applied) => {
            state.db_health.wrote();
            tracing::info!(connector_id = %connector.id, message_sid = %sid, status, applied, "status callback");
            state.metrics.webhook("status", "stored", std::time::Duration::ZERO);
            state.metrics.status_callback(status);
        }
        Err(e) => {
            state.db_health.failed(&e);
            tracing::error!(error = %e, "status callback not stored");
            return Refused(StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
        }
    }
    StatusCode::OK.into_response()
}
