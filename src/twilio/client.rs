//! The client of Twilio's REST API: accounts, numbers and senders (with their webhooks), messages,
//! media and Content API templates, on base URLs that point at the real Twilio in production and
//! at the simulator in demos and tests. Every request is one of Twilio's published operations.

use super::*;

#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    api_base: Arc<str>,
    messaging_base: Arc<str>,
    content_base: Arc<str>,
}

impl TwilioClient {
    pub fn new(api_base: &str, messaging_base: &str, content_base: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Self {
            http,
            api_base: api_base.trim_end_matches('/').into(),
            messaging_base: messaging_base.trim_end_matches('/').into(),
            content_base: content_base.trim_end_matches('/').into(),
        }
    }

    /// Every template of the account with its WhatsApp approval (Content API
    /// `ContentAndApprovals`), following `meta.next_page_url` to the end.
    pub async fn list_templates(&self, creds: &Credentials) -> Result<Vec<Template>, TwilioError> {
        let first = format!("{}/v1/ContentAndApprovals?PageSize=100", self.content_base);
        let contents: Vec<RawContent> = self.all_pages::<ContentPage>(creds, &self.content_base, first).await?;
        Ok(contents
            .into_iter()
            .map(|c| {
                let body = c
                    .types
                    .get("twilio/text")
                    .or_else(|| c.types.as_object().and_then(|o| o.values().next()))
                    .and_then(|t| t.get("body"))
                    .and_then(|b| b.as_str())
                    .map(str::to_string);
                let whatsapp = c.approval_requests.get("whatsapp").unwrap_or(&c.approval_requests);
                Template {
                    sid: c.sid,
                    friendly_name: c.friendly_name.unwrap_or_default(),
                    language: c.language,
                    body,
                    whatsapp_status: whatsapp
                        .get("status")
                        .and_then(|s| s.as_str())
                        .unwrap_or("unsubmitted")
                        .to_string(),
                }
            })
            .collect())
    }

    /// Every item of a list, following its pages to the end; the next-page URLs Twilio gives
    /// are re-based on the configured host, so the credentials go nowhere else.
    async fn all_pages<P: Page>(
        &self,
        creds: &Credentials,
        base: &str,
        first: String,
    ) -> Result<Vec<P::Item>, TwilioError> {
        let mut url = first;
        let mut all = Vec::new();
        loop {
            let page: P = self.send(self.request(reqwest::Method::GET, &url, creds)).await?;
            let (items, next) = page.into_parts();
            all.extend(items);
            match next.filter(|u| !u.is_empty()) {
                Some(next) => url = on_base(base, &next),
                None => return Ok(all),
            }
        }
    }

    fn request(&self, method: reqwest::Method, url: &str, creds: &Credentials) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(creds.account_sid.as_str(), Some(creds.auth_token.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, TwilioError> {
        let resp = req.send().await.map_err(|e| TwilioError::Unreachable(without_url(&e)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await.map_err(|e| TwilioError::Unreachable(without_url(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| TwilioError::Decode(e.to_string()));
        }
        let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        let code = body.as_ref().and_then(|b| b.code);
        let message = body
            .and_then(|b| b.message.or(b.detail).or(b.title))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        if status.as_u16() == 401 || code == Some(20003) {
            return Err(TwilioError::Rejected { code, message });
        }
        Err(TwilioError::Api { status: status.as_u16(), code, message, retry_after })
    }

    /// A file a guest sent (`MediaUrl{N}` of an inbound message), at most `max_bytes`. The
    /// credentials go only to Twilio's API host (the configured base): a URL anywhere else is
    /// refused. Twilio answers with a redirect to its CDN, which is followed without them.
    pub async fn download_media(&self, creds: &Credentials, url: &str, max_bytes: u64) -> Result<Media, MediaError> {
        let same_origin = |a: &url::Url, b: &url::Url| {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
        };
        let api = url::Url::parse(&self.api_base).map_err(|_| MediaError::NotTwilio)?;
        let target = url::Url::parse(url).map_err(|_| MediaError::NotTwilio)?;
        if !same_origin(&api, &target) || !target.path().starts_with("/2010-04-01/Accounts/") {
            return Err(MediaError::NotTwilio);
        }
        let mut resp = self
            .http
            .get(target)
            .basic_auth(creds.account_sid.as_str(), Some(creds.auth_token.expose()))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| TwilioError::Unreachable(without_url(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            let message = status.canonical_reason().unwrap_or("error").to_string();
            return Err(MediaError::Twilio(match status.as_u16() {
                401 => TwilioError::Rejected { code: None, message },
                s => TwilioError::Api { status: s, code: None, message, retry_after: None },
            }));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(MediaError::TooLarge);
        }
        let content_type =
            resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| TwilioError::Unreachable(without_url(&e)))? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(MediaError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Media { content_type, bytes })
    }

    /// `GET /2010-04-01/Accounts/{Sid}.json`: proves the credentials.
    pub async fn fetch_account(&self, creds: &Credentials) -> Result<Account, TwilioError> {
        let url = format!("{}/2010-04-01/Accounts/{}.json", self.api_base, creds.account_sid.as_str());
        self.send(self.request(reqwest::Method::GET, &url, creds)).await
    }

    /// Every IncomingPhoneNumber of the account, following `next_page_uri` to the end.
    pub async fn list_incoming_numbers(&self, creds: &Credentials) -> Result<Vec<IncomingNumber>, TwilioError> {
        let first = format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json?PageSize=100",
            self.api_base,
            creds.account_sid.as_str()
        );
        self.all_pages::<IncomingNumbersPage>(creds, &self.api_base, first).await
    }

    /// Every WhatsApp sender of the account, following `meta.next_page_url` to the end.
    pub async fn list_whatsapp_senders(&self, creds: &Credentials) -> Result<Vec<Sender>, TwilioError> {
        let first = format!("{}/v2/Channels/Senders?Channel=whatsapp&PageSize=100", self.messaging_base);
        self.all_pages::<SendersPage>(creds, &self.messaging_base, first).await
    }

    pub async fn fetch_sender(&self, creds: &Credentials, sid: &str) -> Result<Sender, TwilioError> {
        let url = format!("{}/v2/Channels/Senders/{}", self.messaging_base, sid);
        self.send(self.request(reqwest::Method::GET, &url, creds)).await
    }

    /// Writes only the `webhook` object of a sender (JSON body), and in it only the fields
    /// given; Twilio applies it asynchronously (202).
    pub async fn update_sender_webhook(
        &self,
        creds: &Credentials,
        sid: &str,
        webhook: &WebhookUpdate,
    ) -> Result<Sender, TwilioError> {
        let url = format!("{}/v2/Channels/Senders/{}", self.messaging_base, sid);
        #[derive(Serialize)]
        struct Body<'a> {
            webhook: &'a WebhookUpdate,
        }
        self.send(self.request(reqwest::Method::POST, &url, creds).json(&Body { webhook })).await
    }

    pub async fn fetch_incoming_number(&self, creds: &Credentials, sid: &str) -> Result<IncomingNumber, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
            self.api_base,
            creds.account_sid.as_str(),
            sid
        );
        self.send(self.request(reqwest::Method::GET, &url, creds)).await
    }

    /// Points an SMS number's inbound webhook at `sms_url`. An application on the number
    /// (`SmsApplicationSid`) would still take precedence; the spec gives no valid value to clear
    /// it with, and it is the customer's, so the read-back names it instead.
    pub async fn update_incoming_number_sms_url(
        &self,
        creds: &Credentials,
        sid: &str,
        sms_url: &str,
    ) -> Result<IncomingNumber, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
            self.api_base,
            creds.account_sid.as_str(),
            sid
        );
        let form = [("SmsUrl", sms_url), ("SmsMethod", "POST")];
        self.send(self.request(reqwest::Method::POST, &url, creds).form(&form)).await
    }

    /// Empties an SMS number's inbound webhook URL (and nothing else).
    pub async fn clear_incoming_number_sms_url(
        &self,
        creds: &Credentials,
        sid: &str,
    ) -> Result<IncomingNumber, TwilioError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
            self.api_base,
            creds.account_sid.as_str(),
            sid
        );
        self.send(self.request(reqwest::Method::POST, &url, creds).form(&[("SmsUrl", "")])).await
    }

    /// Every Messaging Service of the account (Messaging v1), following `meta.next_page_url`.
    pub async fn list_messaging_services(&self, creds: &Credentials) -> Result<Vec<MessagingService>, TwilioError> {
        let first = format!("{}/v1/Services?PageSize=100", self.messaging_base);
        self.all_pages::<ServicesPage>(creds, &self.messaging_base, first).await
    }

    /// Whether a Messaging Service holds a phone number (`PN…`) or a WhatsApp sender (`XE…`):
    /// its inbound settings then decide where Twilio posts the number's messages.
    pub async fn service_holds(&self, creds: &Credentials, service_sid: &str, sid: &str) -> Result<bool, TwilioError> {
        let kind = if sid.starts_with("XE") { "ChannelSenders" } else { "PhoneNumbers" };
        let url = format!("{}/v1/Services/{}/{}/{}", self.messaging_base, service_sid, kind, sid);
        match self.send::<serde_json::Value>(self.request(reqwest::Method::GET, &url, creds)).await {
            Ok(_) => Ok(true),
            Err(TwilioError::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The newest messages from `from` to `to` (one page is enough to find a recent send).
    pub async fn list_messages(
        &self,
        creds: &Credentials,
        to: &str,
        from: &str,
    ) -> Result<Vec<ListedMessage>, TwilioError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.api_base, creds.account_sid.as_str());
        let query = [("To", to), ("From", from), ("PageSize", "100")];
        let page: MessagesPage = self.send(self.request(reqwest::Method::GET, &url, creds).query(&query)).await?;
        Ok(page
            .messages
            .into_iter()
            .map(|m| ListedMessage {
                created_ms: m.date_created.as_deref().and_then(parse_rfc2822),
                sid: m.sid,
                status: m.status,
                body: m.body,
            })
            .collect())
    }

    /// WhatsApp's typing indicator, shown until the reply arrives (or 25 seconds pass).
    pub async fn typing_indicator(&self, creds: &Credentials, inbound_message_sid: &str) -> Result<(), TwilioError> {
        let url = format!("{}/v2/Indicators/Typing.json", self.messaging_base);
        let form = [("channel", "whatsapp"), ("messageId", inbound_message_sid)];
        let _: serde_json::Value = self.send(self.request(reqwest::Method::POST, &url, creds).form(&form)).await?;
        Ok(())
    }

    /// `POST https://content.twilio.com/v1/Content`: creates a content resource (`types` as the
    /// Content API defines them, e.g. `twilio/quick-reply`) and gives its `HX…` SID.
    pub async fn create_content(
        &self,
        creds: &Credentials,
        friendly_name: &str,
        types: &serde_json::Value,
        samples: &serde_json::Value,
    ) -> Result<String, TwilioError> {
        #[derive(serde::Deserialize)]
        struct Created {
            sid: String,
        }
        let url = format!("{}/v1/Content", self.content_base);
        // The variables are given with each message; `samples` are their sample values.
        let body = serde_json::json!({
            "friendly_name": friendly_name, "language": "en", "variables": samples, "types": types,
        });
        let created: Created = self.send(self.request(reqwest::Method::POST, &url, creds).json(&body)).await?;
        Ok(created.sid)
    }

    /// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
    pub async fn create_message(
        &self,
        creds: &Credentials,
        message: &NewMessage,
    ) -> Result<MessageResource, TwilioError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.api_base, creds.account_sid.as_str());
        self.send(self.request(reqwest::Method::POST, &url, creds).form(message)).await
    }
}

/// Twilio's next-page URLs are absolute; the credentials only ever go to the configured host.
fn on_base(base: &str, absolute: &str) -> String {
    match url::Url::parse(absolute) {
        Ok(u) => format!("{base}{}{}", u.path(), u.query().map(|q| format!("?{q}")).unwrap_or_default()),
        Err(_) => format!("{base}{absolute}"),
    }
}

/// A reqwest error's text without the URL (the URL is ours, but keeps log lines short and
/// never carries credentials).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}
