//! The types the browser sees of agents. None of them carries a secret.

use serde::{Deserialize, Serialize};

use crate::connectors::Provider;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub id: String,
    pub name: String,
    pub channels: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaqEntry {
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrainKind {
    Faq,
    OpenAi,
    Hook,
}

impl BrainKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BrainKind::Faq => "faq",
            BrainKind::OpenAi => "openai",
            BrainKind::Hook => "hook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "faq" => Some(BrainKind::Faq),
            "openai" => Some(BrainKind::OpenAi),
            "hook" => Some(BrainKind::Hook),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BrainKind::Faq => "Built-in FAQ",
            BrainKind::OpenAi => "OpenAI-compatible chat completions",
            BrainKind::Hook => "HTTP hook",
        }
    }
}

/// An agent's brain settings as the browser sees them: secrets only as "set".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrainView {
    pub kind: BrainKind,
    /// The OpenAI-compatible base URL, or the hook's URL.
    pub url: Option<String>,
    pub model: Option<String>,
    pub api_key_set: bool,
    pub hook_secret_set: bool,
    pub timeout_secs: Option<u64>,
}

/// One line of "Try the agent": what the tester typed, or what the agent answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub from_guest: bool,
    pub text: String,
}

/// The agent's answer in "Try the agent", with why it is the fallback reply when it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TryReply {
    pub reply: String,
    pub note: Option<String>,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentDetail {
    pub id: String,
    pub name: String,
    pub description: String,
    pub instructions: String,
    pub welcome_message: Option<String>,
    pub brain: BrainView,
    /// Only in the answer to the edit that created it: the hook's signing secret, shown once.
    pub new_hook_secret: Option<String>,
    pub fallback_reply: String,
    pub faq: Vec<FaqEntry>,
    /// What the agent sends instead of free text once a guest's 24-hour window has closed.
    pub template: Option<AgentTemplate>,
    /// What the agent perceives of the files guests send.
    pub senses: Senses,
}

/// What an agent perceives of guests' files: voice notes transcribed through an OpenAI-compatible
/// `/audio/transcriptions` API, photos shown to an OpenAI-compatible model. Keys only as "set".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Senses {
    /// The transcription API's base URL (`https://api.openai.com/v1`); none: voice notes are not
    /// transcribed.
    pub transcription_url: Option<String>,
    pub transcription_model: Option<String>,
    pub transcription_key_set: bool,
    /// Voice notes are never transcribed, not even with the organization's API.
    pub transcription_off: bool,
    pub images: ImageInput,
    /// The organization's transcription API, which the agent uses when it has none of its own.
    pub organization: Transcription,
}

/// The organization's transcription API: every agent without its own transcribes guests' voice
/// notes through it. The key only as "set".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcription {
    /// The API's base URL (`https://api.openai.com/v1`); none: the organization has none.
    pub url: Option<String>,
    pub model: Option<String>,
    pub key_set: bool,
    /// Whether the user may change it (organization admins).
    pub editable: bool,
}

/// How an OpenAI-compatible brain is shown a guest's photos.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageInput {
    /// Said in words ("[Sent an image]"): for models that take no images.
    #[default]
    Off,
    /// As a signed link the model's provider fetches (valid for two hours).
    Link,
    /// The file itself, inline as a `data:` URL (for a model that cannot reach Switchboard).
    Inline,
}

impl ImageInput {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageInput::Off => "off",
            ImageInput::Link => "link",
            ImageInput::Inline => "inline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(ImageInput::Off),
            "link" => Some(ImageInput::Link),
            "inline" => Some(ImageInput::Inline),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTemplate {
    pub connector_id: String,
    pub connector_name: String,
    pub sid: String,
    pub name: String,
    /// A JSON object, e.g. `{"1": "there"}`.
    pub variables: String,
}

/// A WhatsApp template of a connector's Twilio account, with its approval status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateOption {
    pub sid: String,
    pub name: String,
    pub language: Option<String>,
    pub body: Option<String>,
    /// WhatsApp's approval: only `approved` templates can be chosen.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRow {
    pub id: String,
    pub connector_name: String,
    pub phone_number: String,
    pub provider: Provider,
    /// Inbound route: only messages from this guest (E.164, or a WhatsApp user id) reach the agent.
    pub inbound_from: Option<String>,
    /// Outbound route: replies go to this fixed recipient (E.164, or a WhatsApp user id) instead
    /// of the sender.
    pub outbound_to: Option<String>,
}

/// A number offered in "Add channel".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelOption {
    pub number_id: String,
    pub phone_number: String,
    pub provider: Provider,
    /// The agent this number already answers for, when it is not this one.
    pub bound_to: Option<String>,
    /// This agent already answers on it.
    pub here: bool,
}

/// Reads the FAQ text area: one `question | answer` pair per line, blank lines ignored.
pub fn parse_faq(text: &str) -> Result<Vec<FaqEntry>, crate::error::AppError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            let (q, a) = line.split_once('|').ok_or_else(|| {
                crate::error::AppError::invalid(
                    "faq",
                    format!("Line {} needs a question and an answer separated by |", i + 1),
                )
            })?;
            let (q, a) = (q.trim(), a.trim());
            if q.is_empty() || a.is_empty() {
                return Err(crate::error::AppError::invalid(
                    "faq",
                    format!("Line {} needs a question and an answer separated by |", i + 1),
                ));
            }
            Ok(FaqEntry { question: q.to_string(), answer: a.to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faq_lines_parse_into_pairs_and_blank_lines_are_skipped() {
        let faq = parse_faq("When is breakfast? | 7 to 10\n\n Check-out time?|Noon ").unwrap();
        assert_eq!(
            faq,
            vec![
                FaqEntry { question: "When is breakfast?".into(), answer: "7 to 10".into() },
                FaqEntry { question: "Check-out time?".into(), answer: "Noon".into() },
            ]
        );
    }

    #[test]
    fn faq_line_without_separator_names_the_line() {
        let err = parse_faq("ok | yes\nno separator here").unwrap_err();
        assert_eq!(err.for_field("faq").unwrap(), "Line 2 needs a question and an answer separated by |");
    }
}
