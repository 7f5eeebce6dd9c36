//! A mind: an agent's brain with its persona, timeout and fallback, loaded for turns and kept
//! per agent until the agent changes.

use std::time::Duration;

use super::{Answer, Brain, TurnInput};

/// The longest reply a brain that calls out may give, five messages. A longer one is cut (and
/// the execution record says so) rather than sent as hundreds of messages. The FAQ's answers
/// are the agent's own texts and go out whole.
pub const MAX_REPLY_CHARS: usize = 5 * super::MAX_BODY_CHARS;

/// A reply cut to [`MAX_REPLY_CHARS`], at a word boundary in its last tenth where there is one,
/// ending with an ellipsis.
fn cut_reply(reply: &str) -> String {
    let hard = reply.char_indices().nth(MAX_REPLY_CHARS - 1).map_or(reply.len(), |(i, _)| i);
    let window = &reply[..hard];
    let end = window.rfind(char::is_whitespace).filter(|&i| i >= hard - hard / 10).unwrap_or(hard);
    format!("{}…", window[..end].trim_end())
}

/// What an agent thinks with, loaded for one turn.
pub struct Mind {
    pub brain: Box<dyn Brain>,
    /// Which brain, in words, for execution records.
    pub kind: String,
    pub name: String,
    pub instructions: String,
    pub fallback: String,
    pub welcome: Option<String>,
    pub timeout: Duration,
    /// Whether the brain calls out over the network (and so takes a while): WhatsApp's typing
    /// indicator is shown for those.
    pub calls_out: bool,
    /// Transcribes guests' voice notes, when the agent has a transcription API.
    pub hearing: Option<super::hearing::Transcriber>,
    /// Whether guests' photos are given to the brain inline (their bytes), not only by link.
    pub images_inline: bool,
}

/// The minds loaded for turns, by agent, with the revision each was loaded at.
#[derive(Default)]
pub struct Minds {
    loaded: std::sync::RwLock<std::collections::HashMap<String, (i64, std::sync::Arc<Mind>)>>,
}

impl Minds {
    /// The agent's mind at `revision` (read with the turn's other facts): the one loaded before
    /// when it is still current, else loaded now by `load` (which gives the revision it read).
    pub async fn get<F, Fut, E>(&self, agent_id: &str, revision: i64, load: F) -> Result<std::sync::Arc<Mind>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(i64, Mind), E>>,
    {
        let current = self.loaded.read().unwrap_or_else(|e| e.into_inner()).get(agent_id).cloned();
        if let Some((_, mind)) = current.filter(|(loaded_at, _)| *loaded_at == revision) {
            return Ok(mind);
        }
        let (revision, mind) = load().await?;
        let mind = std::sync::Arc::new(mind);
        self.loaded.write().unwrap_or_else(|e| e.into_inner()).insert(agent_id.to_string(), (revision, mind.clone()));
        Ok(mind)
    }
}

impl Mind {
    /// Runs the brain within its timeout; a failure, an empty reply or the timeout yields the
    /// fallback reply, with a note saying why.
    pub async fn answer(&self, input: &TurnInput) -> (Answer, Option<String>) {
        let fallback = |why: String| (Answer::from(self.fallback.clone()), Some(why));
        let answer = match tokio::time::timeout(self.timeout, self.brain.reply(input)).await {
            Ok(Ok(answer)) if !answer.text.trim().is_empty() => answer,
            Ok(Ok(_)) => return fallback("The brain gave an empty reply; the fallback reply was sent.".into()),
            Ok(Err(e)) => return fallback(format!("The brain failed ({e:#}); the fallback reply was sent.")),
            Err(_) => return fallback("The brain took too long; the fallback reply was sent.".into()),
        };
        let mut notes = Vec::new();
        let Answer { mut text, mut choices, left_out } = answer;
        if let Some(why) = left_out {
            notes.push(format!("The brain's choices were left out ({why}); the reply went without them."));
        }
        if self.calls_out && text.chars().count() > MAX_REPLY_CHARS {
            let total = text.chars().count();
            text = cut_reply(&text);
            notes.push(format!(
                "The brain's reply had {total} characters; it was cut to {MAX_REPLY_CHARS} (about five messages)."
            ));
        }
        if choices.is_some() && text.chars().count() > super::choices::MAX_BODY_CHARS {
            choices = None;
            notes.push(format!(
                "The brain's choices were left out: a reply with choices is at most {} characters.",
                super::choices::MAX_BODY_CHARS
            ));
        }
        let note = (!notes.is_empty()).then(|| notes.join(" "));
        (Answer { text, choices, left_out: None }, note)
    }
}

#[cfg(test)]
mod tests {
    use super::{cut_reply, MAX_REPLY_CHARS};

    #[test]
    fn a_reply_over_the_cap_is_cut_at_a_word_and_marked() {
        let long = "word ".repeat(200_000);
        let cut = cut_reply(&long);
        assert!(cut.chars().count() <= MAX_REPLY_CHARS, "{}", cut.chars().count());
        assert!(cut.chars().count() > MAX_REPLY_CHARS - MAX_REPLY_CHARS / 10);
        assert!(cut.ends_with("word…"), "cut after a whole word");
        let unbroken = "ü".repeat(MAX_REPLY_CHARS * 2);
        assert_eq!(cut_reply(&unbroken).chars().count(), MAX_REPLY_CHARS, "no space: cut hard, on a character");
    }
}
