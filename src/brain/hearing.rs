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
/// The longest voice note transcribed, where its format says how long it is (Ogg, WAV): a
/// transcription is paid by the minute, and a guest's half-hour recording is not a message.
pub const MAX_AUDIO_SECONDS: f64 = 600.0;

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
        if let Some(seconds) = audio_seconds(audio).filter(|s| *s > MAX_AUDIO_SECONDS) {
            anyhow::bail!(
                "the voice note is {} long; at most {} minutes are transcribed",
                minutes(seconds),
                MAX_AUDIO_SECONDS / 60.0
            );
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

/// "12 min 5 s".
fn minutes(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    format!("{} min {} s", whole / 60, whole % 60)
}

/// How long a recording plays, from its own headers, for the formats that say so without decoding:
/// Ogg (WhatsApp's voice notes: Opus, or Vorbis) and WAV. None for any other format, or a file that
/// does not read as its format says.
pub fn audio_seconds(audio: &[u8]) -> Option<f64> {
    if audio.starts_with(b"OggS") {
        ogg_seconds(audio)
    } else if audio.starts_with(b"RIFF") && audio.get(8..12) == Some(b"WAVE") {
        wav_seconds(audio)
    } else {
        None
    }
}

/// An Ogg stream's length: the granule position of its last page (the samples played until then)
/// over the codec's rate, less Opus's pre-skip. The first page's packet names the codec.
fn ogg_seconds(audio: &[u8]) -> Option<f64> {
    let u16_at = |at: usize| audio.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| audio.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("four bytes")));
    // The first page's header: 27 bytes, then one byte per segment, then its packet.
    let segments = *audio.get(26)? as usize;
    let packet = 27 + segments;
    let (rate, skip) = if audio.get(packet..packet + 8) == Some(b"OpusHead") {
        (48_000.0, f64::from(u16_at(packet + 10)?))
    } else if audio.get(packet..packet + 7) == Some(b"\x01vorbis") {
        (f64::from(u32_at(packet + 12)?), 0.0)
    } else {
        return None;
    };
    if rate <= 0.0 {
        return None;
    }
    // The last page: the last capture pattern whose header fits, with a granule position that is
    // set (past the headers' first page: a file of headers alone says nothing).
    let last = (1..audio.len().saturating_sub(27))
        .rev()
        .find(|&at| audio[at..at + 4] == *b"OggS" && audio[at + 4] == 0 && audio[at + 6..at + 14] != [0xff; 8])?;
    let granule = u64::from_le_bytes(audio[last + 6..last + 14].try_into().expect("eight bytes"));
    Some(((granule as f64) - skip).max(0.0) / rate)
}

/// A WAV file's length: its `data` chunk's size (at most the bytes the file holds: a recording
/// streamed out says "as long as it goes") over the format's bytes per second.
fn wav_seconds(audio: &[u8]) -> Option<f64> {
    let u32_at = |at: usize| {
        let end = at.checked_add(4)?;
        audio.get(at..end).map(|b| u32::from_le_bytes(b.try_into().expect("four bytes")))
    };
    let (mut at, mut byte_rate, mut data) = (12usize, None, None);
    while let (Some(id), Some(size)) = (audio.get(at..at.checked_add(4)?), u32_at(at.checked_add(4)?)) {
        let body = at.checked_add(8)?;
        match id {
            b"fmt " => byte_rate = u32_at(body.checked_add(8)?),
            b"data" => data = Some((size as usize).min(audio.len() - body)),
            _ => {}
        }
        let size = usize::try_from(size).ok()?;
        at = body.checked_add(size)?.checked_add(size & 1)?;
    }
    let byte_rate = byte_rate.filter(|r| *r > 0)?;
    Some(data? as f64 / f64::from(byte_rate))
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

    #[test]
    fn a_recordings_length_is_read_from_its_headers() {
        use twilio_sim::{ogg_page, MediaFile};
        let voice_note = MediaFile::voice_note;
        assert_eq!(audio_seconds(&voice_note(42).data), Some(42.0));
        assert_eq!(audio_seconds(&voice_note(11 * 60).data), Some(660.0));
        // Vorbis at 44.1 kHz: its own rate, no pre-skip.
        let mut id = b"\x01vorbis".to_vec();
        id.extend_from_slice(&0u32.to_le_bytes());
        id.push(2);
        id.extend_from_slice(&44_100u32.to_le_bytes());
        id.extend_from_slice(&[0; 13]);
        let mut vorbis = ogg_page(2, 0, 0, &id);
        vorbis.extend(ogg_page(4, 44_100 * 90, 1, &[1; 10]));
        assert_eq!(audio_seconds(&vorbis), Some(90.0));
        // WAV: 16-bit mono at 8 kHz is 16,000 bytes a second; a chunk before `fmt ` is passed over.
        let mut wav = b"RIFF\x00\x00\x00\x00WAVE".to_vec();
        wav.extend_from_slice(b"LIST\x03\x00\x00\x00abc\x00");
        wav.extend_from_slice(b"fmt \x10\x00\x00\x00\x01\x00\x01\x00");
        wav.extend_from_slice(&8_000u32.to_le_bytes());
        wav.extend_from_slice(&16_000u32.to_le_bytes());
        wav.extend_from_slice(b"\x02\x00\x10\x00data");
        wav.extend_from_slice(&48_000u32.to_le_bytes());
        wav.extend_from_slice(&[0; 48_000]);
        assert_eq!(audio_seconds(&wav), Some(3.0));
        // Streamed out, its size unknown: as long as the bytes it holds.
        let streamed: Vec<u8> = wav.iter().copied().take(wav.len() - 48_000 + 16_000).collect();
        let mut streamed = streamed;
        let at = streamed.len() - 16_000 - 4;
        streamed[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(audio_seconds(&streamed), Some(1.0));
        // Formats that do not say, and files cut short or lying, have no length: the size cap holds.
        assert_eq!(audio_seconds(b"ID3\x04 an mp3"), None);
        assert_eq!(audio_seconds(b"OggS"), None);
        assert_eq!(audio_seconds(&voice_note(5).data[..40]), None);
        assert_eq!(audio_seconds(b"Is the spa open tonight?"), None);
        assert_eq!(audio_seconds(b"RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\xff"), None);
        assert_eq!(minutes(660.4), "11 min 0 s");
    }
}
