//! A small SMTP server, so the demo and the tests receive Switchboard's emails offline: it
//! speaks enough SMTP for a mail client on loopback (no TLS, any credentials) and keeps every
//! message, shown on the phone page and at `/_sim/mail`.

use base64::Engine;
use serde::Serialize;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

use crate::Sim;

#[derive(Debug, Clone, Serialize)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The text, decoded from its transfer encoding.
    pub body: String,
    pub at_ms: i64,
}

/// Accepts SMTP connections until the task is dropped.
pub async fn serve(sim: Sim, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let sim = sim.clone();
                tokio::spawn(async move {
                    if let Err(e) = session(sim, stream).await {
                        tracing::debug!(error = %e, "SMTP session ended");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "SMTP accept failed"),
        }
    }
}

async fn session(sim: Sim, stream: TcpStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 twilio-sim ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-twilio-sim\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 twilio-sim\r\n",
            "AUTH" => b"235 2.7.0 Accepted\r\n",
            "NOOP" => b"250 OK\r\n",
            "RSET" => {
                (from, to) = (String::new(), Vec::new());
                b"250 OK\r\n"
            }
            "MAIL" => {
                from = address(&command);
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(address(&command));
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut raw = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    raw.push_str(text.strip_prefix('.').unwrap_or(text));
                    raw.push('\n');
                }
                let (subject, body) = parse(&raw);
                let mail = Mail { from: from.clone(), to: to.clone(), subject, body, at_ms: crate::now_ms() };
                tracing::info!(to = ?mail.to, subject = %mail.subject, "email received");
                sim.world.lock().unwrap().mails.push(mail);
                (from, to) = (String::new(), Vec::new());
                b"250 OK: queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The address in `MAIL FROM:<a@b>` or `RCPT TO:<a@b>`.
fn address(command: &str) -> String {
    let start = command.find('<').map_or(command.find(':').map_or(0, |i| i + 1), |i| i + 1);
    let rest = &command[start..];
    rest[..rest.find('>').unwrap_or(rest.len())].trim().to_string()
}

/// The subject and the decoded text of a single-part message.
fn parse(raw: &str) -> (String, String) {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    // Folded header lines continue with white space.
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push_str(line.trim_start());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|h| h.0 == name).map(|h| h.1.clone()).unwrap_or_default();
    let subject = decode_words(&header("subject"));
    let body = match header("content-transfer-encoding").to_ascii_lowercase().as_str() {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(joined).unwrap_or_default())
                .into_owned()
        }
        "quoted-printable" => quoted_printable(body, false),
        _ => body.to_string(),
    };
    (subject, body.trim_end().to_string())
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=` and `=?utf-8?q?…?=`), as mail clients write subjects.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    for word in value.split_whitespace() {
        let decoded = word.strip_prefix("=?").and_then(|w| w.strip_suffix("?=")).and_then(|w| {
            let mut parts = w.splitn(3, '?');
            let (_charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
            match encoding.to_ascii_lowercase().as_str() {
                "b" => base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .ok()
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
                "q" => Some(quoted_printable(text, true)),
                _ => None,
            }
        });
        match decoded {
            // Adjacent encoded words join without the space between them.
            Some(text) => out.push_str(&text),
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
    }
    out
}

fn quoted_printable(text: &str, underscore_is_space: bool) -> String {
    let mut bytes = Vec::new();
    let raw = text.replace("=\n", "").replace("=\r\n", "");
    let mut it = raw.bytes().peekable();
    while let Some(b) = it.next() {
        match b {
            b'=' => {
                let hex: Vec<u8> = it.by_ref().take(2).collect();
                match std::str::from_utf8(&hex).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => bytes.push(v),
                    None => bytes.extend_from_slice(&hex),
                }
            }
            b'_' if underscore_is_space => bytes.push(b' '),
            other => bytes.push(other),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_decoded() {
        let raw = "From: a@b.c\nSubject: =?utf-8?b?Q8OzZGlnbw==?= 123\nContent-Transfer-Encoding: quoted-printable\n\nCaf=C3=A9 =\nau lait\n";
        let (subject, body) = parse(raw);
        assert_eq!(subject, "Código 123");
        assert_eq!(body, "Café au lait");
        assert_eq!(address("MAIL FROM:<sb@example.com> SIZE=100"), "sb@example.com");
    }
}
