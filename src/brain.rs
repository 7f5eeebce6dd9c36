//! Brains: what an agent thinks with. A brain that fails or takes too long yields the agent's
//! fallback reply and a recorded error, so the guest is never left with silence.

use app::model::FaqEntry;
use async_trait::async_trait;

/// One turn: the guest's messages that arrived since the agent last answered.
#[derive(Debug, Clone)]
pub struct TurnInput {
    pub messages: Vec<String>,
}

#[async_trait]
pub trait Brain: Send + Sync {
    async fn reply(&self, turn: &TurnInput) -> anyhow::Result<String>;
}

/// The built-in FAQ brain: offline and instant.
pub struct Faq {
    pub entries: Vec<FaqEntry>,
    pub fallback: String,
}

#[async_trait]
impl Brain for Faq {
    async fn reply(&self, turn: &TurnInput) -> anyhow::Result<String> {
        Ok(faq_answer(&self.entries, &self.fallback, &turn.messages.join("\n")))
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
