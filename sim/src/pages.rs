//! The guest's phone page and the small JSON API tests drive the simulator with.

use std::collections::HashMap;

use axum::{
    extract::{Form, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    Json,
};
use serde::Deserialize;

use crate::{webhooks::Inbound, SeedAccount, Sim};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub(crate) async fn phone(State(sim): State<Sim>, Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let guest = q.get("from").cloned().unwrap_or_else(|| "whatsapp:+15551230001".into());
    let (accounts, numbers) = {
        let world = sim.world.lock().unwrap();
        let accounts: Vec<(String, String, String, String, String)> = world
            .accounts
            .values()
            .map(|a| {
                (
                    a.sid.clone(),
                    a.auth_token.clone(),
                    a.friendly_name.clone(),
                    a.sandbox.keyword.clone(),
                    a.sandbox.webhook_url.clone().unwrap_or_default(),
                )
            })
            .collect();
        let mut numbers: Vec<(String, String)> = Vec::new();
        for a in world.accounts.values() {
            for s in &a.senders {
                numbers.push((
                    s.sender_id.clone(),
                    format!("{} · WhatsApp · {}", s.sender_id, s.display_name.clone().unwrap_or_default()),
                ));
            }
            for n in a.numbers.iter().filter(|n| n.sms) {
                numbers.push((n.phone_number.clone(), format!("{} · SMS · {}", n.phone_number, n.friendly_name)));
            }
        }
        numbers.push((crate::SANDBOX_NUMBER.to_string(), format!("{} · WhatsApp sandbox", crate::SANDBOX_NUMBER)));
        (accounts, numbers)
    };
    let to = q.get("to").cloned().or_else(|| numbers.first().map(|n| n.0.clone())).unwrap_or_default();
    let options: String = numbers
        .iter()
        .map(|(v, label)| {
            format!(r#"<option value="{}"{}>{}</option>"#, esc(v), if *v == to { " selected" } else { "" }, esc(label))
        })
        .collect();
    let account_rows: String = accounts
        .iter()
        .map(|(sid, token, name, keyword, sandbox_url)| {
            format!(
                r#"<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>join {}</code>
<form method="post" action="/phone/sandbox" class="sandbox"><input type="hidden" name="account_sid" value="{}">
<label>Sandbox webhook URL <input name="webhook_url" value="{}" size="40"></label><button type="submit">Save sandbox settings</button></form></td></tr>"#,
                esc(name),
                esc(sid),
                esc(token),
                esc(keyword),
                esc(sid),
                esc(sandbox_url)
            )
        })
        .collect();
    let notice = q.get("error").map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, esc(e))).unwrap_or_default();
    Html(format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Twilio simulator · guest phone</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; padding: 0 1rem; max-width: 46rem; color: #1f2933; }}
.accounts {{ overflow-x: auto; }}
.phone {{ border: 1px solid #cbd2d9; border-radius: 1.5rem; padding: 1rem; background: #efeae2; min-height: 14rem; }}
.msg {{ max-width: 75%; margin: .4rem 0; padding: .5rem .75rem; border-radius: .75rem; background: #fff; }}
.msg.guest {{ margin-left: auto; background: #d9fdd3; }}
.meta {{ font-size: .75rem; color: #52606d; }}
.msg[data-status=read] .meta {{ color: #1a5fa3; }} .msg[data-status=failed] .meta, .msg[data-status=undelivered] .meta {{ color: #b42318; }}
.error {{ color: #b42318; }}
form {{ display: flex; gap: .5rem; margin-top: 1rem; flex-wrap: wrap; }}
input[name=body] {{ flex: 1; }}
.mailbox pre {{ white-space: pre-wrap; background: #f5f7fa; padding: .5rem; }}
.msg p {{ white-space: pre-wrap; margin: 0 0 .25rem; }}
.choices {{ display: flex; flex-wrap: wrap; gap: .4rem; margin: .25rem 0; }}
.choices button {{ border: 1px solid #1a5fa3; color: #1a5fa3; background: #fff; border-radius: 1rem; padding: .3rem .8rem; }}
table {{ border-collapse: collapse; font-size: .85rem; }} td {{ padding: .2rem .6rem; border-bottom: 1px solid #e4e7eb; }}
</style></head>
<body>
<h1>Guest phone</h1>
<p>This page is a stand-in for WhatsApp: write as a guest to a number of the simulated Twilio account.
The simulator posts the message to the webhook set on that number, signed like Twilio, and shows the replies that come back through Twilio's Messages API.</p>
{notice}
<form method="post" action="/phone/send" id="send">
  <label>From (you) <input name="from" value="{guest}" size="24"></label>
  <label>To <select name="to">{options}</select></label>
  <label>WhatsApp user id <input name="external_user_id" id="user-id" value="{user}" size="24" placeholder="US.1349… (a username)"></label>
  <input name="body" placeholder="Type a message" aria-label="Message" required autocomplete="off">
  <button type="submit">Send</button>
</form>
<p id="notice" class="error" role="alert"></p>
<div class="phone" id="thread" data-guest="{guest}" data-to="{to}" aria-live="polite"></div>
<form id="attach">
  <label>Voice note, photo or file <input type="file" id="file" accept="audio/*,image/*,video/*,application/pdf" required></label>
  <input id="caption" placeholder="Caption" aria-label="Caption" autocomplete="off">
  <button type="submit">Upload file</button>
</form>
<p class="record"><button type="button" id="record">Record voice note</button>
  <span id="recording" role="status"></span> <span id="recorded" aria-hidden="true"></span></p>
<form id="place">
  <label>Latitude <input id="latitude" value="48.8584" size="9" inputmode="decimal"></label>
  <label>Longitude <input id="longitude" value="2.2945" size="9" inputmode="decimal"></label>
  <label>Place <input id="label" value="Tour Eiffel" size="14"></label>
  <button type="submit">Share location</button>
</form>
<h2>Mailbox</h2>
<p>Emails sent to the simulator's SMTP server, newest first (the codes of <code>/login</code> arrive here).</p>
<ol id="mailbox" class="mailbox" aria-live="polite"></ol>
<h2>Simulated Twilio accounts</h2>
<p>Use these in Switchboard's "New connector" form.</p>
<div class="accounts"><table><tr><th>Name</th><th>Account SID</th><th>Auth Token</th><th>WhatsApp sandbox (Console settings)</th></tr>{account_rows}</table></div>
<script>
const thread = document.getElementById('thread');
const notice = document.getElementById('notice');
// What a guest sends besides text goes through the simulator's JSON API, as Twilio would post it.
async function post(extra) {{
  const userId = document.getElementById('user-id').value.trim();
  const message = Object.assign({{ to: thread.dataset.to, from: thread.dataset.guest, body: '', profile_name: 'Guest',
    external_user_id: userId || null }}, extra);
  const r = await fetch('/_sim/inbound', {{ method: 'POST', headers: {{ 'content-type': 'application/json' }}, body: JSON.stringify(message) }});
  const answer = await r.json().catch(() => ({{}}));
  notice.textContent = !r.ok ? (answer.error || 'not sent')
    : (answer.status < 200 || answer.status >= 300) ? `Switchboard answered the webhook with HTTP ${{answer.status}} — ${{answer.body}}` : '';
  refresh();
}}
function tap(text, id, list) {{ post({{ body: text, tap: {{ text, id, list }} }}); }}
// A file or recording as base64, as the simulator's JSON API takes media.
function base64(blob) {{
  return new Promise(done => {{
    const reader = new FileReader();
    reader.onload = () => done(String(reader.result).split(',')[1] || '');
    reader.readAsDataURL(blob);
  }});
}}
document.getElementById('attach').addEventListener('submit', async ev => {{
  ev.preventDefault();
  const file = document.getElementById('file').files[0];
  if (!file) return;
  const data = await base64(file);
  post({{ body: document.getElementById('caption').value, media: [{{ content_type: file.type || 'application/octet-stream', data }}] }});
  ev.target.reset();
}});
// A voice note from the microphone, in a format WhatsApp sends (Ogg Opus where the browser records
// it, as Firefox does; else MP4, as Chromium and Safari do). Pressed again, it is sent.
// The status says when recording starts and stops (a screen reader reads it once); the seconds
// beside it are for the eye.
const record = document.getElementById('record');
const recording = document.getElementById('recording');
const recorded = document.getElementById('recorded');
let recorder = null;
record.addEventListener('click', async () => {{
  if (recorder) {{ recorder.stop(); return; }}
  if (record.disabled) return;
  const type = ['audio/ogg;codecs=opus', 'audio/mp4'].find(t => window.MediaRecorder && MediaRecorder.isTypeSupported(t));
  if (!navigator.mediaDevices || !type) {{
    notice.textContent = !navigator.mediaDevices
      ? 'Recording needs this page opened on localhost or over HTTPS: upload a file instead.'
      : 'This browser records no format WhatsApp sends (Ogg or MP4): upload a file instead.';
    return;
  }}
  record.disabled = true;
  let stream = null, clock = null;
  const done = () => {{
    if (stream) stream.getTracks().forEach(t => t.stop());
    clearInterval(clock);
    recorder = null;
    record.disabled = false;
    record.textContent = 'Record voice note';
    recorded.textContent = '';
  }};
  try {{
    stream = await navigator.mediaDevices.getUserMedia({{ audio: true }});
    const chunks = [];
    const started = Date.now();
    recorder = new MediaRecorder(stream, {{ mimeType: type }});
    recorder.ondataavailable = e => {{ if (e.data.size) chunks.push(e.data); }};
    recorder.onstop = async () => {{
      done();
      recording.textContent = 'Voice note sent.';
      const data = await base64(new Blob(chunks, {{ type }}));
      post({{ media: [{{ content_type: type.split(';')[0], data }}] }});
    }};
    recorder.start(250);
    clock = setInterval(() => {{ recorded.textContent = `${{Math.floor((Date.now() - started) / 1000)}} s`; }}, 500);
  }} catch (e) {{
    done();
    notice.textContent = 'Cannot record: ' + e.message;
    return;
  }}
  notice.textContent = '';
  recording.textContent = 'Recording…';
  recorded.textContent = '0 s';
  record.textContent = 'Stop and send';
  record.disabled = false;
}});
document.getElementById('place').addEventListener('submit', ev => {{
  ev.preventDefault();
  const value = id => document.getElementById(id).value.trim();
  post({{ location: {{ latitude: parseFloat(value('latitude')), longitude: parseFloat(value('longitude')), label: value('label') || null }} }});
}});
// The buttons or list a reply offers, to tap as a guest would.
function choices(content) {{
  const buttons = content && content['twilio/quick-reply'];
  const list = content && content['twilio/list-picker'];
  const row = document.createElement('div'); row.className = 'choices';
  const option = (title, id, isList) => {{
    const b = document.createElement('button'); b.type = 'button'; b.textContent = title;
    b.addEventListener('click', () => tap(title, id || title, isList)); return b;
  }};
  if (buttons) buttons.actions.forEach(a => row.appendChild(option(a.title, a.id, false)));
  if (list) {{
    const box = document.createElement('details'); const summary = document.createElement('summary');
    summary.textContent = list.button; box.appendChild(summary);
    list.items.forEach(i => box.appendChild(option(i.item, i.id, true))); row.appendChild(box);
  }}
  return (buttons || list) ? row : null;
}}
let shown = '';
async function refresh() {{
  const guest = thread.dataset.guest, to = thread.dataset.to;
  const r = await fetch('/_sim/messages');
  const all = await r.json();
  const userId = document.getElementById('user-id').value.trim();
  const me = [guest, userId && 'whatsapp:' + userId.replace(/^whatsapp:/, '')].filter(Boolean);
  const mine = all.filter(m => (me.includes(m.from) && m.to === to) || (m.from === to && me.includes(m.to)));
  // Drawn anew only when something changed, so a button stays put while it is tapped.
  const now = JSON.stringify(mine);
  if (now === shown) return;
  shown = now;
  thread.replaceChildren(...mine.map(m => {{
    const div = document.createElement('div');
    div.className = 'msg' + (m.direction === 'inbound' ? ' guest' : m.direction === 'outbound-reply' ? ' system' : ' reply');
    div.dataset.status = m.status;
    const p = document.createElement('p'); p.textContent = m.body; div.appendChild(p);
    const offered = choices(m.content); if (offered) div.appendChild(offered);
    const meta = document.createElement('span'); meta.className = 'meta';
    const ticks = {{ queued: '🕓', accepted: '🕓', sending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!', undelivered: '!' }};
    meta.textContent = m.direction === 'inbound'
      ? (m.error ? m.error : 'webhook ' + m.webhook_status)
      : ((ticks[m.status] || '') + ' ' + m.status).trim();
    div.appendChild(meta);
    return div;
  }}));
}}
const mailbox = document.getElementById('mailbox');
async function refreshMail() {{
  const r = await fetch('/_sim/mail');
  const mails = (await r.json()).reverse();
  mailbox.replaceChildren(...mails.map(m => {{
    const li = document.createElement('li');
    li.className = 'mail';
    li.dataset.to = m.to.join(', ');
    const h = document.createElement('strong'); h.textContent = m.subject; li.appendChild(h);
    const meta = document.createElement('span'); meta.className = 'meta'; meta.textContent = ' to ' + m.to.join(', ') + ' from ' + m.from; li.appendChild(meta);
    const pre = document.createElement('pre'); pre.textContent = m.body; li.appendChild(pre);
    return li;
  }}));
}}
refresh(); refreshMail(); setInterval(() => {{ refresh(); refreshMail(); }}, 700);
</script>
</body></html>"#,
        guest = esc(&guest),
        to = esc(&to),
        user = esc(q.get("user").map(String::as_str).unwrap_or_default()),
    ))
}

#[derive(Deserialize)]
pub(crate) struct SendForm {
    from: String,
    to: String,
    body: String,
    /// The guest's WhatsApp user id (`ExternalUserId`), for a guest with a username.
    #[serde(default)]
    external_user_id: String,
}

pub(crate) async fn send(State(sim): State<Sim>, Form(f): Form<SendForm>) -> Redirect {
    let back = |error: Option<String>| {
        let mut query = vec![("from", f.from.clone()), ("to", f.to.clone())];
        if let Some(e) = error {
            query.push(("error", e));
        }
        Redirect::to(&format!("/?{}", serde_urlencoded::to_string(&query).unwrap_or_default()))
    };
    let inbound = Inbound {
        to: f.to.clone(),
        from: f.from.clone(),
        body: f.body.clone(),
        profile_name: Some("Guest".into()),
        external_user_id: Some(f.external_user_id.trim().to_string()).filter(|u| !u.is_empty()),
        ..Default::default()
    };
    match sim.guest_message(inbound).await {
        Ok(d) if (200..300).contains(&d.status) => back(None),
        Ok(d) => back(Some(format!("Switchboard answered the webhook with HTTP {} — {}", d.status, d.body))),
        Err(e) => back(Some(e)),
    }
}

pub(crate) async fn api_inbound(State(sim): State<Sim>, Json(inbound): Json<Inbound>) -> Response {
    match sim.guest_message(inbound).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({ "error": e }))).into_response(),
    }
}

pub(crate) async fn api_messages(State(sim): State<Sim>) -> Response {
    Json(sim.messages()).into_response()
}

pub(crate) async fn api_mail(State(sim): State<Sim>) -> Response {
    Json(sim.mails()).into_response()
}

pub(crate) async fn api_faults(State(sim): State<Sim>, Json(faults): Json<crate::Faults>) -> Response {
    sim.set_faults(faults);
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn api_add_account(State(sim): State<Sim>, Json(account): Json<SeedAccount>) -> Response {
    sim.add_account(&account);
    StatusCode::CREATED.into_response()
}

#[derive(serde::Deserialize)]
pub(crate) struct SandboxSettings {
    account_sid: String,
    webhook_url: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SandboxForm {
    account_sid: String,
    webhook_url: String,
}

/// The sandbox settings form of the accounts table.
pub(crate) async fn sandbox_form(State(sim): State<Sim>, Form(f): Form<SandboxForm>) -> Redirect {
    let url = f.webhook_url.trim();
    sim.set_sandbox_webhook(&f.account_sid, (!url.is_empty()).then_some(url));
    Redirect::to(&format!("/?{}", serde_urlencoded::to_string([("to", crate::SANDBOX_NUMBER)]).unwrap_or_default()))
}

/// The Console's sandbox settings: "When a message comes in".
pub(crate) async fn api_sandbox(State(sim): State<Sim>, Json(settings): Json<SandboxSettings>) -> Response {
    sim.set_sandbox_webhook(&settings.account_sid, settings.webhook_url.as_deref());
    StatusCode::NO_CONTENT.into_response()
}

/// A stand-in language model with OpenAI's chat-completions shape, so the demo and the browser
/// tests can try an agent's OpenAI-compatible brain offline. It wants a bearer key (any) and
/// answers with what the guest last said and how much context it got.
pub(crate) async fn llm_completions(
    headers: axum::http::HeaderMap,
    Json(request): Json<serde_json::Value>,
) -> Response {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "));
    if !bearer {
        let body = serde_json::json!({ "error": { "message": "missing API key" } });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let last_message = messages.iter().rev().find(|m| m["role"] == "user").map(|m| m["content"].clone());
    // A message with photos comes as parts: its text, and each image as a link or inline data.
    let (last, images) = match &last_message {
        Some(serde_json::Value::Array(parts)) => {
            let text = parts.iter().find(|p| p["type"] == "text").and_then(|p| p["text"].as_str()).unwrap_or("");
            let images: Vec<String> = parts
                .iter()
                .filter(|p| p["type"] == "image_url")
                .filter_map(|p| p["image_url"]["url"].as_str())
                .map(describe_image)
                .collect();
            (text.to_string(), images)
        }
        Some(content) => (content.as_str().unwrap_or("").to_string(), Vec::new()),
        None => (String::new(), Vec::new()),
    };
    let system = messages.iter().any(|m| m["role"] == "system");
    let seen = if images.is_empty() { String::new() } else { format!(" I looked at {}.", images.join(", ")) };
    let content = format!(
        "(simulated model {}) You said: {last}. I saw {} messages{}.{seen}",
        request["model"].as_str().unwrap_or("?"),
        messages.len(),
        if system { " and your instructions" } else { "" }
    );
    Json(serde_json::json!({
        "id": "chatcmpl-sim",
        "object": "chat.completion",
        "choices": [{ "index": 0, "finish_reason": "stop", "message": { "role": "assistant", "content": content } }],
    }))
    .into_response()
}

/// An image part as the stand-in model understood it: inline data it decoded, or a link.
fn describe_image(url: &str) -> String {
    use base64::{engine::general_purpose::STANDARD, Engine};
    match url.strip_prefix("data:").and_then(|d| d.split_once(";base64,")) {
        Some((kind, data)) => match STANDARD.decode(data) {
            Ok(bytes) => format!("an inline {kind} image of {} bytes", bytes.len()),
            Err(_) => "an inline image I could not decode".to_string(),
        },
        None if url.starts_with("https://") || url.starts_with("http://") => "an image by link".to_string(),
        None => "something that is not an image".to_string(),
    }
}

/// A stand-in speech-to-text API with OpenAI's `/audio/transcriptions` shape (multipart form data:
/// `model`, `file`). Its words are deterministic: a file that is UTF-8 text is "heard" as that
/// text (a test's voice note carries what it says), any other as its size.
pub(crate) async fn transcriptions(headers: axum::http::HeaderMap, body: axum::body::Bytes) -> Response {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "));
    if !bearer {
        let body = serde_json::json!({ "error": { "message": "missing API key" } });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let boundary = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("multipart/form-data; boundary="))
        .map(str::to_string);
    let parts = boundary.map(|b| form_parts(&body, &b)).unwrap_or_default();
    let model = parts.iter().find(|(name, _)| name == "model").map(|(_, v)| String::from_utf8_lossy(v).to_string());
    let (Some(model), Some((_, file))) = (model, parts.iter().find(|(name, _)| name == "file")) else {
        let body = serde_json::json!({ "error": { "message": "multipart form data with model and file expected" } });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    };
    let text = match std::str::from_utf8(file) {
        Ok(words) if !words.trim().is_empty() => words.trim().to_string(),
        _ => format!("(simulated transcription by {model}) A voice note of {} bytes.", file.len()),
    };
    Json(serde_json::json!({ "text": text })).into_response()
}

/// The named parts of a `multipart/form-data` body.
fn form_parts(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(rest, b"\r\n\r\n") else { break };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let content = &rest[head_end + 4..];
        let end = find(content, format!("\r\n{delimiter}").as_bytes()).unwrap_or(content.len());
        if let Some(name) = head.split("name=\"").nth(1).and_then(|n| n.split('"').next()) {
            parts.push((name.to_string(), content[..end].to_vec()));
        }
        rest = &content[end..];
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A stand-in for a customer's HTTP hook: answers each turn it is sent, with two reply buttons
/// when the guest asks for "options" (and a list when they ask for a "list").
pub(crate) async fn demo_hook(Json(turn): Json<serde_json::Value>) -> Response {
    let said: Vec<&str> = turn["messages"].as_array().into_iter().flatten().filter_map(|m| m.as_str()).collect();
    let mut answer = serde_json::json!({ "reply": format!("(demo hook) Got: {}", said.join(" / ")) });
    let asked = said.join(" ").to_lowercase();
    if asked.contains("options") {
        answer["buttons"] = serde_json::json!(["Yes", { "title": "No, thanks", "id": "no" }]);
    } else if asked.contains("list") {
        answer["list"] = serde_json::json!({ "button": "Choose", "items": [
            { "title": "Breakfast", "id": "breakfast", "description": "7 to 10" },
            { "title": "Late checkout", "id": "late" }
        ] });
    }
    Json(answer).into_response()
}
