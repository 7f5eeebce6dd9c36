//! Webhooks the simulator sends, signed as Twilio signs them: inbound guest messages and the
//! status callbacks of sent messages.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

use crate::{now_ms, sid, Account, Message, Sim};

/// X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + sorted name/value pairs)).
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// A guest's message to one of the simulated numbers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Inbound {
    /// The simulated number written to: `whatsapp:+E164` for a WhatsApp sender, `+E164` for SMS.
    pub to: String,
    /// The guest: `whatsapp:+E164` or `+E164`, or `whatsapp:<BSUID>` for a WhatsApp user with a
    /// username whose phone number does not show.
    pub from: String,
    /// The guest's WhatsApp business-scoped user id (`ExternalUserId`, e.g. `whatsapp:US.1349…`),
    /// sent beside `From` as Twilio does since 2026.
    #[serde(default)]
    pub external_user_id: Option<String>,
    pub body: String,
    #[serde(default)]
    pub profile_name: Option<String>,
    /// Files attached to the message (a WhatsApp message carries at most one).
    #[serde(default)]
    pub media: Vec<MediaFile>,
    /// A place the guest shares (WhatsApp): the message is a location, its body empty.
    #[serde(default)]
    pub location: Option<Place>,
    /// A reply button or list item the guest taps (WhatsApp): its text is the body.
    #[serde(default)]
    pub tap: Option<Tap>,
}

/// A shared location, as WhatsApp sends it: coordinates in decimal degrees, and for a named
/// place its name and address.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Place {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// A tapped quick-reply button (`ButtonText`, `ButtonPayload`) or list item (`ListTitle`,
/// `ListId`): the text the guest saw and the id the sender gave it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tap {
    pub text: String,
    pub id: String,
    /// A list-picker item rather than a button.
    #[serde(default)]
    pub list: bool,
}

/// A file a guest sends: its type and bytes (base64 in JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaFile {
    pub content_type: String,
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

impl MediaFile {
    /// A voice note as WhatsApp records it, `seconds` long: Opus in Ogg (its headers, and pages of
    /// silence whose granule positions say how far they play), with a pre-skip of 312 samples.
    pub fn voice_note(seconds: u64) -> MediaFile {
        let mut head = b"OpusHead\x01\x01".to_vec();
        head.extend_from_slice(&312u16.to_le_bytes());
        head.extend_from_slice(&16_000u32.to_le_bytes());
        head.extend_from_slice(&[0, 0, 0]);
        let mut data = ogg_page(2, 0, 0, &head);
        data.extend(ogg_page(0, 0, 1, b"OpusTags\x00\x00\x00\x00\x00\x00\x00\x00"));
        data.extend(ogg_page(0, 48_000 + 312, 2, &[0xf8; 40]));
        // A page whose packet goes on past it has no granule position of its own.
        data.extend(ogg_page(0, u64::MAX, 3, &[0xf8; 40]));
        data.extend(ogg_page(4, seconds * 48_000 + 312, 4, &[0xf8; 40]));
        MediaFile { content_type: "audio/ogg".into(), data }
    }
}

/// An Ogg page of one stream: its header (version 0, the flags, the granule position, stream 1,
/// the page's number, no checksum), one segment, the packet (under 256 bytes).
pub fn ogg_page(flags: u8, granule: u64, sequence: u32, packet: &[u8]) -> Vec<u8> {
    let mut page = b"OggS\x00".to_vec();
    page.push(flags);
    page.extend_from_slice(&granule.to_le_bytes());
    page.extend_from_slice(&1u32.to_le_bytes());
    page.extend_from_slice(&sequence.to_le_bytes());
    page.extend_from_slice(&[0; 4]);
    page.push(1);
    page.push(packet.len() as u8);
    page.extend_from_slice(packet);
    page
}

mod base64_bytes {
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        STANDARD.decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What became of an inbound message's webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub message_sid: String,
    pub webhook_url: String,
    pub status: u16,
    pub body: String,
    pub content_type: Option<String>,
}

/// Posts the guest's message to the webhook configured on the number, signed with the
/// account's Auth Token. Errs when the number has no webhook or is unknown.
pub async fn deliver_inbound(sim: &Sim, inbound: Inbound) -> Result<Delivery, String> {
    if inbound.to == crate::SANDBOX_NUMBER {
        return sandbox_inbound(sim, inbound).await;
    }
    let (account, url) = {
        let world = sim.world.lock().unwrap();
        let found = world.accounts.values().find_map(|a| {
            if inbound.to.starts_with("whatsapp:") {
                a.senders
                    .iter()
                    .find(|s| s.sender_id == inbound.to)
                    .map(|s| (a.clone(), s.webhook.callback_url.clone()))
            } else {
                a.numbers.iter().find(|n| n.phone_number == inbound.to && n.sms).map(|n| {
                    (a.clone(), Some(n.sms_url.clone()).filter(|u| !u.is_empty() && n.sms_application_sid.is_empty()))
                })
            }
        });
        match found {
            Some((a, Some(url))) => (a, url),
            Some(_) => return Err(format!("{} has no inbound webhook configured in Twilio", inbound.to)),
            None => return Err(format!("{} is not a number of any simulated account", inbound.to)),
        }
    };
    post_inbound(sim, account, url, inbound).await
}

/// The WhatsApp sandbox: `join <keyword>` makes the guest a member of that account's sandbox
/// (Twilio answers for itself); a member's messages go to the webhook set in the Console.
async fn sandbox_inbound(sim: &Sim, inbound: Inbound) -> Result<Delivery, String> {
    let text = inbound.body.trim().to_ascii_lowercase();
    let reply = |sim: &Sim, account_sid: &str, body: String| {
        sim.world.lock().unwrap().messages.push(Message {
            sid: sid("SM"),
            account_sid: account_sid.to_string(),
            direction: "outbound-reply".into(),
            from: crate::SANDBOX_NUMBER.into(),
            to: inbound.from.clone(),
            body,
            status: "delivered".into(),
            status_callback: None,
            webhook_url: None,
            webhook_status: None,
            error: None,
            created_ms: now_ms(),
            media: None,
            content: None,
        });
    };
    let (joined, member) = {
        let mut world = sim.world.lock().unwrap();
        let joined = text.strip_prefix("join ").and_then(|kw| {
            let account = world.accounts.values_mut().find(|a| a.sandbox.keyword == kw.trim())?;
            if !account.sandbox.members.contains(&inbound.from) {
                account.sandbox.members.push(inbound.from.clone());
            }
            Some(account.sid.clone())
        });
        let member = world
            .accounts
            .values()
            .find(|a| a.sandbox.members.contains(&inbound.from))
            .map(|a| (a.clone(), a.sandbox.webhook_url.clone()));
        (joined, member)
    };
    if let Some(account_sid) = joined {
        reply(
            sim,
            &account_sid,
            "Twilio Sandbox: ✅ You are all set! The sandbox can now send and receive messages.".into(),
        );
        return Ok(Delivery {
            message_sid: String::new(),
            webhook_url: String::new(),
            status: 200,
            body: String::new(),
            content_type: None,
        });
    }
    match member {
        Some((account, Some(url))) if !url.is_empty() => post_inbound(sim, account, url, inbound).await,
        Some((account, _)) => Err(format!("the sandbox of {} has no inbound webhook set in the Console", account.sid)),
        None => Err("not a sandbox member: send join <keyword> first".into()),
    }
}

async fn post_inbound(sim: &Sim, account: Account, url: String, inbound: Inbound) -> Result<Delivery, String> {
    let message_sid = sid("SM");
    let whatsapp = inbound.to.starts_with("whatsapp:");
    let mut params: Vec<(String, String)> = vec![
        ("SmsMessageSid".into(), message_sid.clone()),
        ("NumMedia".into(), inbound.media.len().to_string()),
        ("SmsSid".into(), message_sid.clone()),
        ("SmsStatus".into(), "received".into()),
        ("Body".into(), inbound.body.clone()),
        ("To".into(), inbound.to.clone()),
        ("NumSegments".into(), "1".into()),
        ("MessageSid".into(), message_sid.clone()),
        ("AccountSid".into(), account.sid.clone()),
        ("From".into(), inbound.from.clone()),
        ("ApiVersion".into(), "2010-04-01".into()),
    ];
    for (i, file) in inbound.media.iter().enumerate() {
        // Twilio's media URL: fetched with the account's credentials, it redirects to the file.
        let media_sid = sid("ME");
        params.push((
            format!("MediaUrl{i}"),
            format!("{}/2010-04-01/Accounts/{}/Messages/{message_sid}/Media/{media_sid}", sim.base_url, account.sid),
        ));
        params.push((format!("MediaContentType{i}"), file.content_type.clone()));
        sim.world.lock().unwrap().media.insert(media_sid, (account.sid.clone(), file.clone()));
    }
    if let (true, Some(place)) = (whatsapp, &inbound.location) {
        params.extend([
            ("Latitude".to_string(), place.latitude.to_string()),
            ("Longitude".into(), place.longitude.to_string()),
        ]);
        params.extend(place.label.clone().map(|l| ("Label".to_string(), l)));
        params.extend(place.address.clone().map(|a| ("Address".to_string(), a)));
    }
    if let (true, Some(tap)) = (whatsapp, &inbound.tap) {
        let (text, id) = if tap.list { ("ListTitle", "ListId") } else { ("ButtonText", "ButtonPayload") };
        params.extend([(text.to_string(), tap.text.clone()), (id.to_string(), tap.id.clone())]);
    }
    if whatsapp {
        params.extend([
            ("ProfileName".to_string(), inbound.profile_name.clone().unwrap_or_else(|| "Guest".into())),
            ("MessageType".to_string(), message_type(&inbound).to_string()),
            ("ReferralNumMedia".to_string(), "0".to_string()),
        ]);
        // The phone number's digits, when the guest shows one.
        if let Some(phone) = inbound.from.strip_prefix("whatsapp:+") {
            params.push(("WaId".to_string(), phone.to_string()));
        }
        if let Some(user) = &inbound.external_user_id {
            params.push(("ExternalUserId".to_string(), user.clone()));
        }
    }
    let signature = sign(&account.auth_token, &url, &params);
    let body = serde_urlencoded::to_string(&params).expect("string pairs encode");
    let idempotency = sid("");
    let post = || {
        sim.http
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", &signature)
            .header("I-Twilio-Idempotency-Token", &idempotency)
            .header("User-Agent", "TwilioProxy/1.1")
            .header("Accept", "*/*")
            .body(body.clone())
            .send()
    };
    let duplicate = sim.world.lock().unwrap().faults.duplicate_webhooks;
    let sent = if duplicate {
        // The same delivery twice at once, as a retry racing the original would arrive.
        let (first, _second) = tokio::join!(post(), post());
        first
    } else {
        post().await
    };
    let (status, content_type, text, error) = match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
            let text = resp.text().await.unwrap_or_default();
            let error =
                (!(200..300).contains(&status)).then(|| format!("webhook answered HTTP {status} (Twilio error 11200)"));
            (status, content_type, text, error)
        }
        Err(e) => (0, None, String::new(), Some(format!("webhook unreachable: {e} (Twilio error 11200)"))),
    };
    sim.world.lock().unwrap().messages.push(Message {
        sid: message_sid.clone(),
        account_sid: account.sid.clone(),
        direction: "inbound".into(),
        body: shown(&inbound),
        from: inbound.from,
        to: inbound.to,
        status: "received".into(),
        status_callback: None,
        webhook_url: Some(url.clone()),
        webhook_status: Some(status),
        error,
        created_ms: now_ms(),
        media: None,
        content: None,
    });
    Ok(Delivery { message_sid, webhook_url: url, status, body: text, content_type })
}

/// Moves a sent message through sent → delivered (→ read on WhatsApp), posting a signed
/// status callback at each step.
pub(crate) async fn progress_status(sim: Sim, account: Account, message: Message) {
    let whatsapp = message.from.starts_with("whatsapp:");
    let faults = sim.world.lock().unwrap().faults.clone();
    let mut steps: Vec<&str> = match faults.final_status.as_deref() {
        Some("failed") => vec!["failed"],
        Some("undelivered") => vec!["sent", "undelivered"],
        _ if whatsapp => vec!["sent", "delivered", "read"],
        _ => vec!["sent", "delivered"],
    };
    if faults.shuffle_status {
        use rand::seq::SliceRandom;
        steps.shuffle(&mut rand::thread_rng());
    }
    let channel_install = account.senders.iter().find(|s| s.sender_id == message.from).map(|s| s.sid.clone());
    let rank = |s: &str| ["queued", "sent", "undelivered", "failed", "delivered", "read"].iter().position(|x| *x == s);
    for step in steps {
        tokio::time::sleep(sim.options.status_delay + std::time::Duration::from_millis(faults.status_delay_ms)).await;
        {
            // Twilio's own record only moves forward, whatever order the callbacks leave in.
            let mut world = sim.world.lock().unwrap();
            if let Some(m) = world.messages.iter_mut().find(|m| m.sid == message.sid) {
                if rank(step) > rank(&m.status) {
                    m.status = step.to_string();
                }
            }
        }
        let Some(url) = &message.status_callback else { continue };
        let mut params: Vec<(String, String)> = vec![
            ("SmsSid".into(), message.sid.clone()),
            ("SmsStatus".into(), step.to_string()),
            ("MessageStatus".into(), step.to_string()),
            ("To".into(), message.to.clone()),
            ("MessageSid".into(), message.sid.clone()),
            ("AccountSid".into(), account.sid.clone()),
            ("From".into(), message.from.clone()),
            ("ApiVersion".into(), "2010-04-01".into()),
        ];
        if whatsapp {
            params.push(("ChannelPrefix".into(), "whatsapp".into()));
            params.push(("ChannelToAddress".into(), message.to.trim_start_matches("whatsapp:").to_string()));
            params.push(("StructuredMessage".into(), "false".into()));
            if let Some(xe) = &channel_install {
                params.push(("ChannelInstallSid".into(), xe.clone()));
            }
            match step {
                "delivered" => params.push(("EventType".into(), "DELIVERED".into())),
                "read" => params.push(("EventType".into(), "READ".into())),
                "undelivered" => params.push(("EventType".into(), "UNDELIVERED".into())),
                _ => {}
            }
        }
        if matches!(step, "failed" | "undelivered") {
            params.push(("ErrorCode".into(), faults.error_code.unwrap_or(30008).to_string()));
        }
        let signature = sign(&account.auth_token, url, &params);
        let body = serde_urlencoded::to_string(&params).expect("string pairs encode");
        let post = || {
            sim.http
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("X-Twilio-Signature", &signature)
                .header("User-Agent", "TwilioProxy/1.1")
                .body(body.clone())
                .send()
        };
        let result = if faults.duplicate_status { tokio::join!(post(), post()).0 } else { post().await };
        if let Err(e) = result {
            tracing::warn!(error = %e, "status callback not delivered");
        }
    }
}

/// WhatsApp's `MessageType` for what the guest sent.
/// The guest's message as the phone page shows it: its text, or what it carries.
fn shown(inbound: &Inbound) -> String {
    let mut parts = Vec::new();
    if let Some(place) = &inbound.location {
        let name = place.label.clone().unwrap_or_else(|| "Location".into());
        parts.push(format!("📍 {name} ({}, {})", place.latitude, place.longitude));
    }
    parts.extend(inbound.media.iter().map(|m| format!("📎 {} ({} bytes)", m.content_type, m.data.len())));
    if !inbound.body.is_empty() {
        parts.push(inbound.body.clone());
    }
    parts.join("\n")
}

fn message_type(inbound: &Inbound) -> &'static str {
    if inbound.location.is_some() {
        return "location";
    }
    if let Some(tap) = &inbound.tap {
        return if tap.list { "interactive" } else { "button" };
    }
    match inbound.media.first().map(|m| m.content_type.as_str()) {
        None => "text",
        Some(t) if t.starts_with("image/") => "image",
        Some(t) if t.starts_with("audio/") => "audio",
        Some(t) if t.starts_with("video/") => "video",
        Some(_) => "document",
    }
}
