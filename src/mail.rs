//! Email, for the codes guests ask for with `/login`: SMTP through lettre, as the operator
//! configures it (host, port, TLS, credentials, sender).

use std::time::Duration;

use anyhow::Context;
use lettre::{
    message::{header::ContentType, Mailbox},
    transport::smtp::authentication::Credentials,
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

use crate::config::{Config, SmtpTls};

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// host:port, for messages.
    pub server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("server", &self.server).field("from", &self.from.to_string()).finish()
    }
}

impl Mailer {
    /// The mailer the configuration asks for; none without an SMTP host.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some(host) = config.smtp_host.as_deref().map(str::trim).filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let from: Mailbox = config
            .mail_from
            .parse()
            .with_context(|| format!("SWITCHBOARD_MAIL_FROM {:?} is not an email address", config.mail_from))?;
        let (builder, default_port) = match config.smtp_tls {
            SmtpTls::Tls => (AsyncSmtpTransport::<Tokio1Executor>::relay(host)?, 465),
            SmtpTls::Starttls => (AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?, 587),
            SmtpTls::None => (AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host), 25),
        };
        let port = config.smtp_port.unwrap_or(default_port);
        let mut builder = builder.port(port).timeout(Some(Duration::from_secs(15)));
        if let Some(user) = config.smtp_username.as_deref().filter(|u| !u.is_empty()) {
            let password = config.smtp_password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.to_string(), password));
        }
        Ok(Some(Self { transport: builder.build(), from, server: format!("{host}:{port}") }))
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse().with_context(|| format!("{to:?} is not an email address"))?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        self.transport.send(message).await.with_context(|| format!("SMTP server {}", self.server))?;
        Ok(())
    }

    /// Connects, greets and quits: whether the server is there and takes our credentials.
    pub async fn check(&self) -> anyhow::Result<()> {
        let ok = self.transport.test_connection().await.with_context(|| format!("SMTP server {}", self.server))?;
        anyhow::ensure!(ok, "SMTP server {} did not answer the greeting", self.server);
        Ok(())
    }
}
