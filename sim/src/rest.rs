//! The REST API subset, as Twilio serves it.

// Helpers answer a request's error as the `Response` a handler returns, as axum's own
// extractors do; boxing it would only add an allocation to each error.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

use rand::Rng;

use crate::{now_ms, rfc2822, sid, webhooks, Account, Message, Number, Sender, Sim, Webhook};

/// Twilio's legacy error body.
pub(crate) fn error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
}

fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, 20404, &format!("The requested resource {what} was not found"))
}

/// The account whose SID and Auth Token are in the Basic auth header.
fn authenticate(sim: &Sim, headers: &HeaderMap) -> Result<Account, Response> {
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(unauthorized)?;
    let (user, pass) = creds.split_once(':').ok_or_else(unauthorized)?;
    let world = sim.world.lock().unwrap();
    match world.accounts.get(user) {
        Some(a) if a.auth_token == pass => Ok(a.clone()),
        _ => Err(unauthorized()),
    }
}

/// Authenticates and checks that the path's account is the caller's.
fn authorize(sim: &Sim, headers: &HeaderMap, path_sid: &str) -> Result<Account, Response> {
    let account = authenticate(sim, headers)?;
    if account.sid != path_sid {
        return Err(error(StatusCode::FORBIDDEN, 20003, "Authenticate"));
    }
    Ok(account)
}

fn account_json(a: &Account) -> Value {
    json!({
        "auth_token": a.auth_token,
        "date_created": a.created,
        "date_updated": a.created,
        "friendly_name": a.friendly_name,
        "owner_account_sid": a.sid,
        "sid": a.sid,
        "status": "active",
        "subresource_uris": {
            "incoming_phone_numbers": format!("/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json", a.sid),
            "messages": format!("/2010-04-01/Accounts/{}/Messages.json", a.sid),
        },
        "type": a.kind,
        "uri": format!("/2010-04-01/Accounts/{}.json", a.sid),
    })
}

pub(crate) async fn fetch_account(State(sim): State<Sim>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(path_sid) = file.strip_suffix(".json") else { return not_found(&file) };
    match authorize(&sim, &headers, path_sid) {
        Ok(a) => Json(account_json(&a)).into_response(),
        Err(r) => r,
    }
}

fn number_json(account_sid: &str, n: &Number) -> Value {
    json!({
        "account_sid": account_sid,
        "address_requirements": "none",
        "address_sid": null,
        "api_version": "2010-04-01",
        "beta": false,
        "capabilities": { "fax": false, "mms": n.sms, "sms": n.sms, "voice": true },
        "date_created": n.created,
        "date_updated": n.created,
        "emergency_status": "Inactive",
        "friendly_name": n.friendly_name,
        "identity_sid": null,
        "origin": "twilio",
        "phone_number": n.phone_number,
        "sid": n.sid,
        "sms_application_sid": n.sms_application_sid,
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": n.sms_method,
        "sms_url": n.sms_url,
        "status": "in-use",
        "status_callback": "",
        "status_callback_method": "POST",
        "uri": format!("/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{}.json", n.sid),
        "voice_method": "POST",
        "voice_url": "",
    })
}

/// PageSize, Page and PageToken as Twilio takes them.
fn paging(q: &HashMap<String, String>, default_size: usize) -> Result<(usize, usize), Response> {
    let size = match q.get("PageSize") {
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, 20001, "PageSize must be between 1 and 1000"))?,
        None => default_size,
    };
    let page = q.get("Page").and_then(|p| p.parse().ok()).unwrap_or(0);
    Ok((size, page))
}

pub(crate) async fn list_numbers(
    State(sim): State<Sim>,
    Path(path_sid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let account = match authorize(&sim, &headers, &path_sid) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (size, page) = match paging(&q, 50) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let base = format!("/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json", account.sid);
    let items: Vec<Value> =
        account.numbers.iter().skip(page * size).take(size).map(|n| number_json(&account.sid, n)).collect();
    let more = (page + 1) * size < account.numbers.len();
    let page_uri = |p: usize| format!("{base}?PageSize={size}&Page={p}&PageToken=PA{p}");
    Json(json!({
        "end": page * size + items.len().saturating_sub(1),
        "first_page_uri": format!("{base}?PageSize={size}&Page=0"),
        "next_page_uri": if more { Value::from(page_uri(page + 1)) } else { Value::Null },
        "page": page,
        "page_size": size,
        "previous_page_uri": if page > 0 { Value::from(page_uri(page - 1)) } else { Value::Null },
        "start": page * size,
        "uri": page_uri(page),
        "incoming_phone_numbers": items,
    }))
    .into_response()
}

fn find_number(account: &Account, file: &str) -> Option<Number> {
    let sid = file.strip_suffix(".json")?;
    account.numbers.iter().find(|n| n.sid == sid).cloned()
}

pub(crate) async fn fetch_number(
    State(sim): State<Sim>,
    Path((path_sid, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let account = match authorize(&sim, &headers, &path_sid) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match find_number(&account, &file) {
        Some(n) => Json(number_json(&account.sid, &n)).into_response(),
        None => not_found(&file),
    }
}

fn form(headers: &HeaderMap, body: &Bytes) -> Result<Vec<(String, String)>, Response> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            20001,
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(crate) async fn update_number(
    State(sim): State<Sim>,
    Path((path_sid, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account = match authorize(&sim, &headers, &path_sid) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let form = match form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(number) = find_number(&account, &file) else { return not_found(&file) };
    if let Some(m) = field(&form, "SmsMethod") {
        if m != "GET" && m != "POST" {
            return error(StatusCode::BAD_REQUEST, 21626, "SmsMethod must be GET or POST");
        }
    }
    let mut world = sim.world.lock().unwrap();
    let a = world.accounts.get_mut(&account.sid).expect("authenticated account exists");
    let n = a.numbers.iter_mut().find(|n| n.sid == number.sid).expect("number found above");
    if let Some(u) = field(&form, "SmsUrl") {
        n.sms_url = u.to_string();
    }
    if let Some(m) = field(&form, "SmsMethod") {
        n.sms_method = m.to_string();
    }
    if let Some(s) = field(&form, "SmsApplicationSid") {
        n.sms_application_sid = s.to_string();
    }
    Json(number_json(&account.sid, n)).into_response()
}

/// The `meta` envelope of the Messaging and Content APIs; `prefix` is the list URL up to its paging
/// parameters (ending in `?` or `&`). Page URLs are absolute, as Twilio gives them.
fn page_meta(prefix: &str, key: &str, page: usize, size: usize, more: bool) -> Value {
    let url = |p: usize| format!("{prefix}PageSize={size}&Page={p}&PageToken=PT{p}");
    json!({
        "page": page,
        "page_size": size,
        "first_page_url": format!("{prefix}PageSize={size}&Page=0"),
        "previous_page_url": if page > 0 { Value::from(url(page - 1)) } else { Value::Null },
        "url": url(page),
        "next_page_url": if more { Value::from(url(page + 1)) } else { Value::Null },
        "key": key,
    })
}

fn sender_json(sim: &Sim, s: &Sender) -> Value {
    json!({
        "sid": s.sid,
        "status": s.status,
        "sender_id": s.sender_id,
        "configuration": { "waba_id": "123456789012345", "verification_method": "sms", "verification_code": null, "voice_application_sid": null },
        "webhook": s.webhook,
        "profile": { "name": s.display_name, "about": null, "address": null, "description": null, "logo_url": null,
                     "banner_url": null, "privacy_url": null, "terms_of_service_url": null, "accent_color": null,
                     "vertical": null, "websites": null, "emails": null, "phone_numbers": null },
        "properties": { "quality_rating": "HIGH", "messaging_limit": "1K Customers/24hr" },
        "offline_reasons": null,
        "url": format!("{}/v2/Channels/Senders/{}", sim.base_url, s.sid),
    })
}

pub(crate) async fn list_senders(
    State(sim): State<Sim>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let account = match authenticate(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match q.get("Channel").map(String::as_str) {
        Some("whatsapp") => {}
        Some("rcs") => return Json(
            json!({ "senders": [], "meta": { "key": "senders", "page": 0, "page_size": 20, "next_page_url": null } }),
        )
        .into_response(),
        _ => return error(StatusCode::BAD_REQUEST, 20001, "Channel is required: whatsapp or rcs"),
    }
    let (size, page) = match paging(&q, 20) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items: Vec<Value> = account.senders.iter().skip(page * size).take(size).map(|s| sender_json(&sim, s)).collect();
    let more = (page + 1) * size < account.senders.len();
    let meta =
        page_meta(&format!("{}/v2/Channels/Senders?Channel=whatsapp&", sim.base_url), "senders", page, size, more);
    Json(json!({ "senders": items, "meta": meta })).into_response()
}

pub(crate) async fn fetch_sender(
    State(sim): State<Sim>,
    Path(sender_sid): Path<String>,
    headers: HeaderMap,
) -> Response {
    let account = match authenticate(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match account.senders.iter().find(|s| s.sid == sender_sid) {
        Some(s) => Json(sender_json(&sim, s)).into_response(),
        None => not_found(&sender_sid),
    }
}

/// Sender updates take a JSON body and are applied a moment later, as Twilio does (202).
pub(crate) async fn update_sender(
    State(sim): State<Sim>,
    Path(sender_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account = match authenticate(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, 20001, "Content-Type must be application/json");
    }
    let Ok(Value::Object(update)) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, 20001, "The body must be a JSON object");
    };
    if let Some(k) = update.keys().find(|k| !["configuration", "webhook", "profile"].contains(&k.as_str())) {
        return error(StatusCode::BAD_REQUEST, 20001, &format!("Unknown field {k}"));
    }
    if !account.senders.iter().any(|s| s.sid == sender_sid) {
        return not_found(&sender_sid);
    }
    let mut webhook_update = None;
    if let Some(w) = update.get("webhook") {
        let Value::Object(w) = w else { return error(StatusCode::BAD_REQUEST, 20001, "webhook must be an object") };
        for method in ["callback_method", "fallback_method"] {
            if let Some(m) = w.get(method).filter(|m| !m.is_null()) {
                if m != "POST" && m != "PUT" {
                    return error(StatusCode::BAD_REQUEST, 20001, &format!("{method} must be POST or PUT"));
                }
            }
        }
        webhook_update = Some(w.clone());
    }
    let response = {
        let mut world = sim.world.lock().unwrap();
        let sender = world
            .accounts
            .get_mut(&account.sid)
            .and_then(|a| a.senders.iter_mut().find(|s| s.sid == sender_sid))
            .expect("sender checked above");
        if sender.status == "ONLINE" {
            sender.status = "ONLINE:UPDATING".into();
        }
        sender_json(&sim, sender)
    };
    let sim2 = sim.clone();
    let (account_sid, delay) = (account.sid.clone(), sim.options.sender_update_delay);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let mut world = sim2.world.lock().unwrap();
        if let Some(sender) =
            world.accounts.get_mut(&account_sid).and_then(|a| a.senders.iter_mut().find(|s| s.sid == sender_sid))
        {
            if let Some(w) = webhook_update {
                apply_webhook(&mut sender.webhook, &w);
            }
            if sender.status == "ONLINE:UPDATING" {
                sender.status = "ONLINE".into();
            }
        }
    });
    (StatusCode::ACCEPTED, Json(response)).into_response()
}

fn apply_webhook(webhook: &mut Webhook, w: &serde_json::Map<String, Value>) {
    let text = |k: &str| w.get(k).map(|v| v.as_str().map(str::to_string));
    if let Some(v) = text("callback_url") {
        webhook.callback_url = v;
    }
    if let Some(Some(v)) = text("callback_method") {
        webhook.callback_method = v;
    }
    if let Some(v) = text("fallback_url") {
        webhook.fallback_url = v;
    }
    if let Some(Some(v)) = text("fallback_method") {
        webhook.fallback_method = v;
    }
    if let Some(v) = text("status_callback_url") {
        webhook.status_callback_url = v;
    }
    if let Some(Some(v)) = text("status_callback_method") {
        webhook.status_callback_method = v;
    }
}

fn message_json(m: &Message) -> Value {
    json!({
        "account_sid": m.account_sid,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": rfc2822(m.created_ms),
        "date_sent": null,
        "date_updated": rfc2822(m.created_ms),
        "direction": m.direction,
        "error_code": null,
        "error_message": null,
        "from": m.from,
        "messaging_service_sid": null,
        "num_media": "0",
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "sid": m.sid,
        "status": m.status,
        "subresource_uris": { "media": format!("/2010-04-01/Accounts/{}/Messages/{}/Media.json", m.account_sid, m.sid) },
        "to": m.to,
        "uri": format!("/2010-04-01/Accounts/{}/Messages/{}.json", m.account_sid, m.sid),
    })
}

pub(crate) async fn create_message(
    State(sim): State<Sim>,
    Path(path_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account = match authorize(&sim, &headers, &path_sid) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let form = match form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(to) = field(&form, "To").filter(|t| !t.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, 21604, "A 'To' phone number is required.");
    };
    let Some(from) = field(&form, "From").filter(|t| !t.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, 21603, "A 'From' phone number is required.");
    };
    let mut text = field(&form, "Body").unwrap_or("").to_string();
    let mut created =
        field(&form, "ContentSid").and_then(|sid| account.contents.iter().find(|c| c.sid == sid)).cloned();
    if let Some(content) = &mut created {
        // Session content: its text is the body of its one type, its variables filled in.
        let variables: HashMap<String, String> = match field(&form, "ContentVariables") {
            Some(v) => match serde_json::from_str(v) {
                Ok(vars) => vars,
                Err(_) => return error(StatusCode::BAD_REQUEST, 21656, "The ContentVariables Parameter is invalid"),
            },
            None => HashMap::new(),
        };
        let filled = variables.iter().fold(content.types.to_string(), |types, (k, v)| {
            let value = serde_json::to_string(v).unwrap_or_default();
            types.replace(&format!("{{{{{k}}}}}"), value.trim_matches('"'))
        });
        content.types = serde_json::from_str(&filled).unwrap_or_else(|_| content.types.clone());
        let body = content.types.as_object().and_then(|o| o.values().next()).and_then(|t| t["body"].as_str());
        text = body.unwrap_or_default().to_string();
    } else if let Some(content_sid) = field(&form, "ContentSid") {
        let Some(template) = account.templates.iter().find(|t| t.sid.as_deref() == Some(content_sid)) else {
            return error(StatusCode::BAD_REQUEST, 21655, "The ContentSid is Invalid");
        };
        if from.starts_with("whatsapp:") && template.status != "approved" {
            return error(StatusCode::BAD_REQUEST, 63027, "Template does not exist for a language and locale");
        }
        let variables: HashMap<String, String> = match field(&form, "ContentVariables") {
            Some(v) => match serde_json::from_str(v) {
                Ok(vars) => vars,
                Err(_) => return error(StatusCode::BAD_REQUEST, 21656, "The ContentVariables Parameter is invalid"),
            },
            None => HashMap::new(),
        };
        text = variables.iter().fold(template.body.clone(), |body, (k, v)| body.replace(&format!("{{{{{k}}}}}"), v));
    }
    let text = text.as_str();
    if text.is_empty() && field(&form, "MediaUrl").is_none() && field(&form, "ContentSid").is_none() {
        return error(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    }
    if text.chars().count() > 1600 {
        return error(
            StatusCode::BAD_REQUEST,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    if let Some(from_number) = from.strip_prefix("whatsapp:") {
        let _ = from_number;
        if from == crate::SANDBOX_NUMBER {
            if !account.sandbox.members.iter().any(|m| m == to) {
                return error(StatusCode::BAD_REQUEST, 63015, "Recipient has not joined the Sandbox");
            }
        } else if !account.senders.iter().any(|s| s.sender_id == from) {
            return error(
                StatusCode::BAD_REQUEST,
                63007,
                "Twilio could not find a Channel with the specified From address",
            );
        }
        if !to.starts_with("whatsapp:") {
            return error(StatusCode::BAD_REQUEST, 21211, "Invalid 'To' Phone Number");
        }
    } else if !account.numbers.iter().any(|n| n.phone_number == from && n.sms) {
        return error(
            StatusCode::BAD_REQUEST,
            21606,
            "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination.",
        );
    }
    if to == from {
        return error(StatusCode::BAD_REQUEST, 63031, "Channels message cannot have the same From and To");
    }
    let faults = sim.world.lock().unwrap().faults.clone();
    if faults.slow_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.slow_ms)).await;
    }
    let attempt = |status: u16| {
        let at_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or_default();
        crate::SendAttempt { to: to.to_string(), from: from.to_string(), at_ms: at_us / 1000, at_us, status }
    };
    if let Some(code) = faults.reject_code.filter(|_| faults.reject_matching.as_ref().is_none_or(|m| text.contains(m)))
    {
        sim.world.lock().unwrap().attempts.push(attempt(400));
        return error(StatusCode::BAD_REQUEST, code, "Rejected by the simulator's fault injection");
    }
    let roll: f64 = match sim.world.lock().unwrap().rolls.as_mut() {
        Some(rolls) => rolls.gen(),
        None => rand::thread_rng().gen(),
    };
    if roll < faults.throttle_rate {
        sim.world.lock().unwrap().attempts.push(attempt(429));
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
        r.headers_mut().insert(header::RETRY_AFTER, faults.retry_after_secs.max(1).into());
        return r;
    }
    if roll < faults.throttle_rate + faults.fail_rate {
        sim.world.lock().unwrap().attempts.push(attempt(500));
        return error(StatusCode::INTERNAL_SERVER_ERROR, 20500, "Internal Server Error");
    }
    let cut = faults.throttle_rate + faults.fail_rate + faults.phantom_rate;
    if roll >= cut && roll < cut + faults.reset_rate {
        sim.world.lock().unwrap().attempts.push(attempt(0));
        return cut_connection();
    }
    let phantom = roll < cut;
    sim.world.lock().unwrap().attempts.push(attempt(if phantom { 500 } else { 201 }));
    let status_callback = field(&form, "StatusCallback").filter(|s| !s.is_empty()).map(str::to_string);
    // Twilio fetches the media from the URL given (publicly reachable, no credentials).
    let media = match field(&form, "MediaUrl") {
        Some(url) => Some(match sim.http.get(url).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let content_type =
                    r.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let size = r.bytes().await.map(|b| b.len()).unwrap_or(0);
                (status, content_type, size)
            }
            Err(_) => (0, String::new(), 0),
        }),
        None => None,
    };
    let message = Message {
        sid: sid("SM"),
        account_sid: account.sid.clone(),
        direction: "outbound-api".into(),
        from: from.to_string(),
        to: to.to_string(),
        body: text.to_string(),
        status: "queued".into(),
        status_callback: status_callback.clone(),
        webhook_url: None,
        webhook_status: None,
        error: None,
        created_ms: now_ms(),
        media,
        content: created.map(|c| c.types),
    };
    let response = message_json(&message);
    sim.world.lock().unwrap().messages.push(message.clone());
    tokio::spawn(webhooks::progress_status(sim.clone(), account, message));
    if phantom {
        // Twilio took the message but the answer is lost: the client sees only a 500.
        return error(StatusCode::INTERNAL_SERVER_ERROR, 20500, "Internal Server Error");
    }
    (StatusCode::CREATED, Json(response)).into_response()
}

/// `GET …/Messages.json` with the `To` and `From` filters, newest first.
pub(crate) async fn list_messages(
    State(sim): State<Sim>,
    Path(path_sid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let account = match authorize(&sim, &headers, &path_sid) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (size, page) = match paging(&q, 50) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut mine: Vec<Message> = sim
        .messages()
        .into_iter()
        .filter(|m| m.account_sid == account.sid)
        .filter(|m| q.get("To").is_none_or(|to| &m.to == to) && q.get("From").is_none_or(|from| &m.from == from))
        .collect();
    mine.reverse();
    let base = format!("/2010-04-01/Accounts/{}/Messages.json", account.sid);
    let more = (page + 1) * size < mine.len();
    let items: Vec<Value> = mine.iter().skip(page * size).take(size).map(message_json).collect();
    Json(json!({
        "messages": items,
        "page": page,
        "page_size": size,
        "first_page_uri": format!("{base}?PageSize={size}&Page=0"),
        "next_page_uri": if more { Value::from(format!("{base}?PageSize={size}&Page={}&PageToken=PA{}", page + 1, page + 1)) } else { Value::Null },
        "previous_page_uri": Value::Null,
        "uri": format!("{base}?PageSize={size}&Page={page}"),
        "start": page * size,
        "end": page * size + items.len().saturating_sub(1),
    }))
    .into_response()
}

/// `GET /v1/ContentAndApprovals` of the Content API: templates with their WhatsApp approval.
/// `POST /v1/Content`: creates session content. The simulator knows the kinds Switchboard creates
/// (`twilio/text`, `twilio/quick-reply`, `twilio/list-picker`) and refuses what WhatsApp could
/// not show: more than 3 buttons or 10 items, titles over 20 (buttons) or 24 (items) characters.
pub(crate) async fn create_content(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let account = match authenticate(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, 20001, "The request body is not JSON");
    };
    let (Some(language), Some(types)) = (request["language"].as_str(), request["types"].as_object()) else {
        return error(StatusCode::BAD_REQUEST, 20001, "Missing required parameter language or types");
    };
    let chars = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    let fine =
        |t: &Value, max_body: usize| t["body"].as_str().is_some_and(|b| !b.is_empty()) && chars(&t["body"]) <= max_body;
    for (kind, t) in types {
        let valid = match kind.as_str() {
            "twilio/text" => fine(t, 1600),
            "twilio/quick-reply" => {
                let actions = t["actions"].as_array().cloned().unwrap_or_default();
                fine(t, 1024)
                    && (1..=3).contains(&actions.len())
                    && actions.iter().all(|a| (1..=20).contains(&chars(&a["title"])) && chars(&a["id"]) <= 200)
            }
            "twilio/list-picker" => {
                let items = t["items"].as_array().cloned().unwrap_or_default();
                fine(t, 1024)
                    && (1..=20).contains(&chars(&t["button"]))
                    && (1..=10).contains(&items.len())
                    && items.iter().all(|i| {
                        (1..=24).contains(&chars(&i["item"]))
                            && (1..=200).contains(&chars(&i["id"]))
                            && chars(&i["description"]) <= 72
                    })
            }
            _ => false,
        };
        if !valid {
            return error(StatusCode::BAD_REQUEST, 20001, &format!("Invalid content for type {kind}"));
        }
    }
    let content = crate::Content {
        sid: sid("HX"),
        friendly_name: request["friendly_name"].as_str().unwrap_or_default().to_string(),
        language: language.to_string(),
        types: Value::Object(types.clone()),
    };
    let answer = json!({
        "sid": content.sid,
        "account_sid": account.sid,
        "friendly_name": content.friendly_name,
        "language": content.language,
        "variables": {},
        "types": content.types,
        "url": format!("{}/v1/Content/{}", sim.base_url, content.sid),
        "date_created": "2026-01-01T00:00:00Z",
        "date_updated": "2026-01-01T00:00:00Z",
        "links": {},
    });
    if let Some(a) = sim.world.lock().unwrap().accounts.get_mut(&account.sid) {
        a.contents.push(content);
    }
    (StatusCode::CREATED, Json(answer)).into_response()
}

pub(crate) async fn content_and_approvals(
    State(sim): State<Sim>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let account = match authenticate(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (size, page) = match paging(&q, 50) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items: Vec<Value> = account
        .templates
        .iter()
        .skip(page * size)
        .take(size)
        .map(|t| {
            json!({
                "sid": t.sid,
                "account_sid": account.sid,
                "friendly_name": t.friendly_name,
                "language": t.language,
                "variables": { "1": "there" },
                "types": { "twilio/text": { "body": t.body } },
                "approval_requests": {
                    "name": t.friendly_name,
                    "category": "UTILITY",
                    "content_type": "twilio/text",
                    "status": t.status,
                    "rejection_reason": if t.status == "rejected" { "Promotional content in a utility template" } else { "" },
                    "allow_category_change": true,
                },
                "date_created": "2026-01-05T10:00:00Z",
                "date_updated": "2026-01-05T10:00:00Z",
            })
        })
        .collect();
    let more = (page + 1) * size < account.templates.len();
    let meta = page_meta(&format!("{}/v1/ContentAndApprovals?", sim.base_url), "contents", page, size, more);
    Json(json!({ "contents": items, "meta": meta })).into_response()
}

pub(crate) async fn typing(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authenticate(&sim, &headers) {
        return r;
    }
    let form = match form(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if field(&form, "channel") != Some("whatsapp") || field(&form, "messageId").is_none() {
        return error(StatusCode::BAD_REQUEST, 20001, "channel=whatsapp and messageId are required");
    }
    Json(json!({ "success": true })).into_response()
}

/// A message's media file: with the account's credentials, a redirect to the file on the CDN
/// (as Twilio answers; the CDN needs no credentials).
pub(crate) async fn fetch_media(
    State(sim): State<Sim>,
    Path((sid, _message, media)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = authorize(&sim, &headers, &sid) {
        return response;
    }
    let owned = sim.world.lock().unwrap().media.get(&media).is_some_and(|(account, _)| account == &sid);
    if !owned {
        return error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found");
    }
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, format!("{}/_sim/cdn/{media}", sim.base_url))]).into_response()
}

pub(crate) async fn cdn_media(State(sim): State<Sim>, Path(media): Path<String>) -> Response {
    let delay = sim.world.lock().unwrap().faults.media_delay_ms;
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let mut world = sim.world.lock().unwrap();
    let Some((_, file)) = world.media.get(&media).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    *world.media_fetches.entry(media).or_default() += 1;
    ([(header::CONTENT_TYPE, file.content_type)], file.data).into_response()
}

/// Calls kept for contract tests; older ones beyond this are not recorded (long load runs).
const RECORD_LIMIT: usize = 20_000;

/// Headers go out, then the connection breaks before any body: the client sees a failed request.
fn cut_connection() -> Response {
    let broken = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection cut"))
    });
    Response::new(axum::body::Body::from_stream(broken))
}

/// Records each REST call as it arrived, and cuts the connection during an outage.
pub(crate) async fn record(
    State(sim): State<Sim>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, 20001, "Request too large");
    };
    let outage = {
        let mut world = sim.world.lock().unwrap();
        if world.requests.len() < RECORD_LIMIT {
            world.requests.push(crate::RecordedRequest {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().map(str::to_string),
                content_type: parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        world.faults.outage
    };
    if outage {
        return cut_connection();
    }
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

fn service_json(sim: &Sim, account_sid: &str, s: &crate::Service) -> Value {
    json!({
        "sid": s.sid,
        "account_sid": account_sid,
        "friendly_name": s.seed.friendly_name,
        "inbound_request_url": s.seed.inbound_request_url,
        "inbound_method": "POST",
        "fallback_url": null,
        "fallback_method": "POST",
        "status_callback": null,
        "sticky_sender": true,
        "use_inbound_webhook_on_number": s.seed.use_inbound_webhook_on_number,
        "url": format!("{}/v1/Services/{}", sim.base_url, s.sid),
    })
}

/// `GET /v1/Services`: the account's Messaging Services, paged like the Messaging API.
pub(crate) async fn list_services(
    State(sim): State<Sim>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let account = match authenticate(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (size, page) = match paging(&q, 50) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items: Vec<Value> =
        account.services.iter().skip(page * size).take(size).map(|s| service_json(&sim, &account.sid, s)).collect();
    let more = (page + 1) * size < account.services.len();
    let meta = page_meta(&format!("{}/v1/Services?", sim.base_url), "services", page, size, more);
    Json(json!({ "services": items, "meta": meta })).into_response()
}

/// `GET /v1/Services/{MG}/PhoneNumbers/{PN}` and `…/ChannelSenders/{XE}`: 200 when the
/// service holds that number or sender, 404 otherwise.
pub(crate) async fn service_member(
    State(sim): State<Sim>,
    Path((service_sid, member)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let account = match authenticate(&sim, &headers) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(service) = account.services.iter().find(|s| s.sid == service_sid) else { return not_found(&service_sid) };
    let phone = account.numbers.iter().find(|n| n.sid == member).map(|n| n.phone_number.clone()).or_else(|| {
        account
            .senders
            .iter()
            .find(|s| s.sid == member)
            .map(|s| s.sender_id.trim_start_matches("whatsapp:").to_string())
    });
    match phone.filter(|p| service.seed.numbers.contains(p)) {
        Some(phone) => Json(json!({
            "sid": member,
            "account_sid": account.sid,
            "service_sid": service.sid,
            "phone_number": phone,
            "country_code": "US",
            "capabilities": ["SMS"],
            "url": format!("{}/v1/Services/{}/PhoneNumbers/{}", sim.base_url, service.sid, member),
        }))
        .into_response(),
        None => not_found(&member),
    }
}
