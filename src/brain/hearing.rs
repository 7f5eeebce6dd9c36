//! Voice notes to text: an OpenAI-compatible `/audio/transcriptions` API (OpenAI's, a gateway's, a
//! speech-to-text server the customer runs), called with the file as multipart form data.

use std::time::Duration;

use serde_json::Value;

use super::{reason, redacted, BACKSTOP};
use crate::{
    crypto::Secret,
    egress::{read_capped, Outbound},
};

/// The largest voice note sent to be transcribed (OpenAI's own limit).
pub const MAX_AUDIO_BYTES: usize = 25 * 1024 * 1024;
/// The longest transcript kept: a voice note of several minutes.
pub const MAX_TRANSCRIPT_CHARS: usize = 8000;

pub struct Transcriber {
    pub http: Outbound,
    pub base_url: String,
    pub model: String,
    pub api_key: Secret,
    pub timeout: Duration,
}

impl Transcriber {
    /// The voice note's words, or why there are none.
    pub async fn transcribe(&self, audio: &[u8], content_type: &str) -> anyhow::Result<String> {
        if audio.len() > MAX_AUDIO_BYTES {
            anyhow::bail!("the voice note is over 25 MB");
        }
        let boundary = format!("switchboard-{}", crate::new_id());
        let body = multipart(&boundary, &self.model, audio, content_type);
        let url = format!("{}/audio/transcriptions", self.base_url.trim_end_matches('/'));
        let call = async {
            let response = self
                .http
                .post(&url)
                .map_err(|e| anyhow::anyhow!("the transcription API is not called: {e:#}"))?
                .bearer_auth(self.api_key.expose())
                .timeout(self.timeout + BACKSTOP)
                .header(reqwest::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
                .body(body)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("the transcription API could not be reached: {}", reason(e)))?;
            let status = response.status();
            let body = read_capped(response, super::MAX_ANSWER_BYTES)
                .await
                .map_err(|e| anyhow::anyhow!("the transcription API: {e:#}"))?;
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if !status.is_success() {
                // An API that echoes the key it was given does not get it into the inbox.
                let message = redacted(body["error"]["message"].as_str().unwrap_or("no message"), &self.api_key);
                anyhow::bail!("the transcription API answered HTTP {}: {message}", status.as_u16());
            }
            let text = body["text"].as_str().map(str::trim).unwrap_or_default();
            if text.is_empty() {
                anyhow::bail!("the transcription API heard no words");
            }
            Ok(text.chars().take(MAX_TRANSCRIPT_CHARS).collect())
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| anyhow::anyhow!("the transcription API took too long"))?
    }
}

/// The file's name as the API reads its format from it.
fn file_name(content_type: &str) -> &'static str {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    match essence {
        "audio/ogg" | "audio/opus" => "voice-note.ogg",
        "audio/mpeg" | "audio/mp3" => "voice-note.mp3",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" | "audio/aac" => "voice-note.m4a",
        "audio/amr" => "voice-note.amr",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "voice-note.wav",
        "audio/webm" => "voice-note.webm",
        "audio/flac" => "voice-note.flac",
        _ => "voice-note",
    }
}

/// `multipart/form-data` with the model, the answer's format and the file.
fn multipart(boundary: &str, model: &str, audio: &[u8], content_type: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(audio.len() + 512);
    for (name, value) in [("model", model), ("response_format", "json")] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    // The type goes in a header line: anything that would break out of it is left out.
    let content_type: String = content_type.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: {content_type}\r\n\r\n",
            file_name(&content_type)
        )
        .as_bytes(),
    );
    body.extend_from_slice(audio);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_carries_the_model_and_the_file_named_for_its_format() {
        let body = multipart("b0", "whisper-1", b"OggS\x00\x01", "audio/ogg; codecs=opus");
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.starts_with("--b0\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"),
            "{text}"
        );
        assert!(text.contains("name=\"response_format\"\r\n\r\njson\r\n"));
        assert!(text.contains(
            "name=\"file\"; filename=\"voice-note.ogg\"\r\nContent-Type: audio/ogg; codecs=opus\r\n\r\nOggS\u{0}\u{1}\r\n--b0--\r\n"
        ));
        let sneaky = String::from_utf8_lossy(&multipart("b1", "m", b"x", "audio/ogg\r\nX-Evil: 1")).to_string();
        assert!(sneaky.contains("Content-Type: audio/oggX-Evil: 1\r\n\r\nx"), "{sneaky}");
        assert_eq!(file_name("audio/amr"), "voice-note.amr");
        assert_eq!(file_name("audio/unknown"), "voice-note");
    }
}
