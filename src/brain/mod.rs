//! Brains: what an agent thinks with. A brain that fails or takes too long yields the agent's
//! fallback reply and a recorded error, so the guest is never left with silence.

use std::time::Duration;

use app::{
    agents::{ChatLine, FaqEntry},
    inbox::{Choice, SharedLocation},
};
use async_trait::async_trait;
use serde_json::{json, Value};

pub mod choices;
pub mod hearing;
pub mod mind;

pub use mind::{Mind, Minds, MAX_REPLY_CHARS};

use crate::{
    crypto::Secret,
    egress::{read_capped, Outbound},
};

/// One turn: who is talking, what was said before, and the guest's messages that arrived since
/// the agent last answered.
#[derive(Debug, Clone, Default)]
pub struct TurnInput {
    pub agent: String,
    /// The agent's instructions: an LLM's system prompt.
    pub instructions: String,
    /// None in "Try the agent".
    pub conversation_id: Option<String>,
    pub guest_address: Option<String>,
    pub guest_name: Option<String>,
    /// Earlier messages of the conversation, oldest first.
    pub history: Vec<ChatLine>,
    pub messages: Vec<GuestMessage>,
}

/// One of the guest's messages on a turn: what they wrote, and what else the message holds (a
/// shared place, a tapped button or list item, files).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GuestMessage {
    /// The text the guest wrote (a tapped button's or list item's text, as WhatsApp sends it).
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SharedLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice: Option<Choice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Attachment>,
    /// WhatsApp's kind of message (`text`, `image`, `location`, `button`, `interactive`,
    /// `sticker`, …), as Twilio's `MessageType` gives it; none on SMS.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A file attached to a guest's message.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Attachment {
    pub content_type: String,
    /// Its name: Twilio passes on no file's own name, so the one Switchboard gives it
    /// ([`crate::media::file_name`]: `ME….pdf`).
    pub name: String,
    /// A signed link that serves the file for two hours; none when it could not be downloaded
    /// from Twilio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A voice note's words, when the agent transcribes voice notes and the API heard them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// The file itself, for a model shown photos inline.
    #[serde(skip)]
    pub data: Option<Vec<u8>>,
}

impl Attachment {
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }

    /// The image as a model fetches it: inline as a `data:` URL when the file is at hand, else
    /// its link.
    pub fn image_url(&self) -> Option<String> {
        use base64::{engine::general_purpose::STANDARD, Engine};
        match &self.data {
            Some(bytes) => Some(format!("data:{};base64,{}", self.content_type, STANDARD.encode(bytes))),
            None => self.url.clone(),
        }
    }
}

impl GuestMessage {
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }

    /// What the guest said in words, for a brain that matches words (the FAQ): the choice they
    /// made (tapped, or picked by its number on SMS) or else their text, and their voice notes'
    /// transcripts.
    pub fn said(&self) -> String {
        let mut words: Vec<&str> = match &self.choice {
            Some(choice) => vec![&choice.text],
            None => vec![&self.text],
        };
        words.extend(self.media.iter().filter_map(|f| f.transcript.as_deref()));
        words.retain(|w| !w.trim().is_empty());
        words.join("\n")
    }

    /// The message as a brain that reads only text sees it: the text, with the rest described in
    /// brackets (`[Tapped "Late checkout"]`, `[Shared a location: …]`, `[Sent an image]`).
    pub fn as_text(&self) -> String {
        let mut lines = Vec::new();
        if let Some(choice) = &self.choice {
            lines.push(format!("[Tapped \"{}\"]", choice.text));
        }
        if let Some(place) = &self.location {
            lines.push(format!("[Shared a location: {}]", place.describe()));
        }
        for file in &self.media {
            match &file.transcript {
                Some(words) => lines.push(format!("[Voice note] {words}")),
                None => lines.push(format!("[{}]", describe_file(file))),
            }
        }
        let text = self.text.trim();
        let repeats_choice = self.choice.as_ref().is_some_and(|c| c.text.trim() == text);
        if !text.is_empty() && !repeats_choice {
            lines.push(text.to_string());
        }
        // A kind of message Switchboard does not read (a sticker, a contact card, a reaction).
        if let Some(kind) = self.kind.as_deref().filter(|k| lines.is_empty() && !k.is_empty() && *k != "text") {
            lines.push(format!("[Sent a message of type \"{kind}\" with no text]"));
        }
        lines.join("\n")
    }
}

/// A file in words, for a brain that reads text; a document with its name.
fn describe_file(file: &Attachment) -> String {
    let content_type = &file.content_type;
    match content_type.split('/').next().unwrap_or_default() {
        "audio" => "Voice note, not transcribed".to_string(),
        "image" => format!("Sent an image ({content_type})"),
        "video" => format!("Sent a video ({content_type})"),
        _ if file.name.is_empty() => format!("Sent a file ({content_type})"),
        _ => format!("Sent a file: {} ({content_type})", file.name),
    }
}

/// A brain's answer: the reply's text, and the choices it offers with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    pub choices: Option<choices::Choices>,
    /// Why choices the brain gave were left out (the reply goes without them).
    pub left_out: Option<String>,
}

impl From<String> for Answer {
    fn from(text: String) -> Self {
        Self { text, ..Self::default() }
    }
}

impl Answer {
    /// The answer as the execution record and "Try the agent" show it: the text, and the choices
    /// offered in brackets.
    pub fn shown(&self) -> String {
        match &self.choices {
            None => self.text.clone(),
            Some(c) => {
                let titles: Vec<&str> = c.options.iter().map(|o| o.title.as_str()).collect();
                match &c.button {
                    None => format!("{}\n[Buttons: {}]", self.text, titles.join(" | ")),
                    Some(button) => format!("{}\n[List \"{button}\": {}]", self.text, titles.join(" | ")),
                }
            }
        }
    }

    /// A JSON answer (`{"reply": …}` with `buttons` or a `list`); none without a `reply` text.
    fn from_json(value: &Value) -> Option<Self> {
        let text = value["reply"].as_str()?.to_string();
        Some(match choices::from_answer(value) {
            Ok(choices) => Self { text, choices, left_out: None },
            Err(why) => Self { text, choices: None, left_out: Some(why) },
        })
    }
}

#[async_trait]
pub trait Brain: Send + Sync {
    async fn reply(&self, turn: &TurnInput) -> anyhow::Result<Answer>;
}

/// The brain's own timeout is applied around the whole turn (and says "took too long"); the
/// request's timeout is only a backstop behind it.
const BACKSTOP: Duration = Duration::from_secs(5);

/// The most a brain's answer may weigh (a model's JSON, or a hook's reply): a reply is at most
/// a few messages long, so anything near this is a mistake or an attack, not an answer.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// An OpenAI-compatible chat-completions API (OpenAI, Azure-style gateways, vLLM, Ollama, …):
/// the agent's instructions as the system prompt, the conversation as context.
pub struct OpenAi {
    pub http: Outbound,
    pub base_url: String,
    pub model: String,
    pub api_key: Secret,
    pub timeout: Duration,
    /// Whether guests' photos go to the model as image parts (else they are said in words).
    pub images: bool,
}

#[async_trait]
impl Brain for OpenAi {
    async fn reply(&self, turn: &TurnInput) -> anyhow::Result<Answer> {
        let mut messages = Vec::new();
        if !turn.instructions.trim().is_empty() {
            messages.push(json!({ "role": "system", "content": turn.instructions }));
        }
        for line in &turn.history {
            let role = if line.from_guest { "user" } else { "assistant" };
            messages.push(json!({ "role": role, "content": line.text }));
        }
        for message in &turn.messages {
            let images: Vec<String> = if self.images {
                message.media.iter().filter(|f| f.is_image()).filter_map(Attachment::image_url).collect()
            } else {
                Vec::new()
            };
            if images.is_empty() {
                messages.push(json!({ "role": "user", "content": message.as_text() }));
            } else {
                let mut parts = vec![json!({ "type": "text", "text": message.as_text() })];
                parts.extend(images.into_iter().map(|url| json!({ "type": "image_url", "image_url": { "url": url } })));
                messages.push(json!({ "role": "user", "content": parts }));
            }
        }
        let url = format!("{}/chat/completions", self.base_url.trim_end_matches('/'));
        let response = self
            .http
            .post(&url)
            .map_err(|e| anyhow::anyhow!("the model API is not called: {e:#}"))?
            .bearer_auth(self.api_key.expose())
            .timeout(self.timeout + BACKSTOP)
            .json(&json!({ "model": self.model, "messages": messages }))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("the model API could not be reached: {}", reason(e)))?;
        let status = response.status();
        let body =
            read_capped(response, MAX_ANSWER_BYTES).await.map_err(|e| anyhow::anyhow!("the model API: {e:#}"))?;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            // An API that echoes the key it was given does not get it into the execution record.
            let message = redacted(body["error"]["message"].as_str().unwrap_or("no message"), &self.api_key);
            anyhow::bail!("the model API answered HTTP {}: {message}", status.as_u16());
        }
        let content = body["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the model API's answer has no choices[0].message.content"))?;
        // A model told to offer choices answers with the hook's JSON (docs/hooks.md).
        let json =
            content.trim().starts_with('{').then(|| serde_json::from_str::<Value>(content.trim()).ok()).flatten();
        Ok(json.as_ref().and_then(Answer::from_json).unwrap_or_else(|| Answer::from(content.to_string())))
    }
}

/// The customer's endpoint: the turn as JSON, signed with HMAC-SHA256 over the exact body in
/// `X-Switchboard-Signature: sha256=<hex>`; the reply is `{"reply": "…"}` or plain text.
pub struct Hook {
    pub http: Outbound,
    pub url: String,
    pub secret: Secret,
    pub timeout: Duration,
}

/// The signature header's value for `body` under `secret`.
pub fn hook_signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[async_trait]
impl Brain for Hook {
    async fn reply(&self, turn: &TurnInput) -> anyhow::Result<Answer> {
        let body = serde_json::to_vec(&json!({
            "type": "turn",
            "agent": turn.agent,
            "conversation_id": turn.conversation_id,
            "guest": { "address": turn.guest_address, "name": turn.guest_name },
            "history": turn.history.iter().map(|l| json!({
                "role": if l.from_guest { "guest" } else { "agent" },
                "text": l.text,
            })).collect::<Vec<_>>(),
            "messages": turn.messages.iter().map(GuestMessage::as_text).collect::<Vec<_>>(),
            "inbound": turn.messages,
            "timestamp": crate::now_ms() / 1000,
        }))?;
        let response = self
            .http
            .post(&self.url)
            .map_err(|e| anyhow::anyhow!("the hook is not called: {e:#}"))?
            .timeout(self.timeout + BACKSTOP)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Switchboard-Signature", hook_signature(self.secret.expose(), &body))
            .body(body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("the hook could not be reached: {}", reason(e)))?;
        let status = response.status();
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body = read_capped(response, MAX_ANSWER_BYTES).await.map_err(|e| anyhow::anyhow!("the hook: {e:#}"))?;
        let text = String::from_utf8(body).map_err(|_| anyhow::anyhow!("the hook's answer is not UTF-8 text"))?;
        if !status.is_success() {
            anyhow::bail!("the hook answered HTTP {}", status.as_u16());
        }
        if is_json {
            let value: Value = serde_json::from_str(&text)?;
            return Answer::from_json(&value)
                .ok_or_else(|| anyhow::anyhow!("the hook's JSON answer has no \"reply\" text"));
        }
        Ok(Answer::from(text))
    }
}

/// An API's error message without the key it was called with (an API that echoes it would put
/// it in an execution record or the inbox).
fn redacted(message: &str, key: &Secret) -> String {
    match key.expose() {
        "" => message.to_string(),
        key => message.replace(key, "…"),
    }
}

/// Why a request failed, without its URL (a hook URL may carry a token of the customer's).
fn reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut detail = if e.is_connect() { "could not connect" } else { "request failed" }.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    detail
}

/// The built-in FAQ brain: offline and instant.
pub struct Faq {
    pub entries: Vec<FaqEntry>,
    pub fallback: String,
}

#[async_trait]
impl Brain for Faq {
    async fn reply(&self, turn: &TurnInput) -> anyhow::Result<Answer> {
        let said: Vec<String> = turn.messages.iter().map(GuestMessage::said).collect();
        let answer = faq_answer(&self.entries, &self.fallback, &said.join("\n"));
        // Options were checked when the agent was saved; one that no longer passes goes as text.
        Ok(match choices::from_faq_answer(&answer) {
            Ok((text, choices)) => Answer { text, choices, left_out: None },
            Err(why) => Answer { text: answer, choices: None, left_out: Some(why) },
        })
    }
}

/// The entry whose question shares the most words with the guest's message, or the fallback
/// reply when none shares at least half of its words.
pub fn faq_answer(faq: &[FaqEntry], fallback: &str, message: &str) -> String {
    fn words(s: &str) -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 1).map(str::to_lowercase).collect()
    }
    let said = words(message);
    faq.iter()
        .filter_map(|e| {
            let asked = words(&e.question);
            if asked.is_empty() {
                return None;
            }
            let shared = asked.iter().filter(|w| said.contains(w)).count();
            let score = shared as f64 / asked.len() as f64;
            (score >= 0.5).then_some((score, e))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or_else(|| fallback.to_string(), |(_, e)| e.answer.clone())
}

/// Twilio's limit for one message body.
pub const MAX_BODY_CHARS: usize = 1600;

/// Splits a reply into parts of at most [`MAX_BODY_CHARS`] characters, at a paragraph, line or
/// word boundary where there is one in the second half of the part.
pub fn split_body(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > MAX_BODY_CHARS {
        let hard: usize = rest.char_indices().nth(MAX_BODY_CHARS).map(|(i, _)| i).unwrap_or(rest.len());
        let window = &rest[..hard];
        let soft = ["\n\n", "\n", " "]
            .iter()
            .filter_map(|sep| window.rfind(sep).filter(|&i| i >= hard / 2).map(|i| (i, sep.len())))
            .next();
        let (end, skip) = soft.unwrap_or((hard, 0));
        parts.push(rest[..end].trim_end().to_string());
        rest = rest[end + skip..].trim_start();
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faq() -> Vec<FaqEntry> {
        vec![
            FaqEntry { question: "When is breakfast served?".into(), answer: "From 7 to 10.".into() },
            FaqEntry { question: "What time is check-out?".into(), answer: "Noon.".into() },
        ]
    }

    #[test]
    fn an_api_error_that_echoes_the_key_is_kept_without_it() {
        let key = Secret::new("sk-live-0123456789");
        assert_eq!(redacted("Incorrect API key provided: sk-live-0123456789.", &key), "Incorrect API key provided: ….");
        assert_eq!(redacted("overloaded", &Secret::new("")), "overloaded");
    }

    #[test]
    fn closest_question_wins() {
        assert_eq!(faq_answer(&faq(), "Sorry?", "hi, when is BREAKFAST?"), "From 7 to 10.");
        assert_eq!(faq_answer(&faq(), "Sorry?", "check-out time please"), "Noon.");
    }

    #[test]
    fn unrelated_message_gets_the_fallback() {
        assert_eq!(faq_answer(&faq(), "Sorry?", "Do you have a pool"), "Sorry?");
        assert_eq!(faq_answer(&[], "Sorry?", ""), "Sorry?");
    }

    #[test]
    fn short_bodies_stay_whole() {
        assert_eq!(split_body("hello"), vec!["hello"]);
        assert_eq!(split_body(&"é".repeat(1600)).len(), 1);
    }

    #[test]
    fn long_bodies_split_at_words_in_order_and_lose_nothing() {
        let text = (0..700).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
        let parts = split_body(&text);
        assert!(parts.len() >= 2);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_BODY_CHARS && !p.is_empty()));
        assert_eq!(parts.join(" "), text);
    }

    #[test]
    fn a_body_without_spaces_is_cut_hard_on_character_boundaries() {
        let text = "ü".repeat(3500);
        let parts = split_body(&text);
        assert_eq!(parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(), vec![1600, 1600, 300]);
        assert_eq!(parts.concat(), text);
    }
}
