//! "Set webhook": pointing a number's (or every number's) inbound webhook at Switchboard,
//! reading back what Twilio holds, and clearing what is ours when a connector goes.

use app::{
    accounts::Me,
    connectors::{Cleanup, Provider, WebhookOutcome, WebhookState},
    AppError,
};

use super::{
    account::{provider_error, require_active, summary_of},
    store,
};
use crate::{
    accounts::require_admin,
    audit::{self, Action},
    error::Result,
    state::AppState,
    twilio::{Credentials, TwilioError, WebhookUpdate},
};

/// A number as "Set webhook" needs it.
pub(super) struct Target {
    pub(super) id: String,
    pub(super) phone_number: String,
    pub(super) provider: Provider,
    pub(super) sid: String,
    pub(super) active: bool,
    pub(super) sandbox: bool,
    /// Whether its webhook was set (and read back) here.
    pub(super) configured: bool,
}

pub(super) async fn targets(state: &AppState, connector_id: &str, only: Option<&str>) -> Result<Vec<Target>> {
    Ok(store::targets(&state.db.pool, connector_id, only)
        .await?
        .into_iter()
        .map(|r| Target {
            id: r.id,
            phone_number: r.phone_number,
            provider: Provider::stored(&r.provider),
            sid: r.provider_sid,
            active: r.active != 0,
            sandbox: r.sandbox_join.is_some(),
            configured: r.webhook_state == "configured",
        })
        .collect())
}

const SANDBOX_BY_HAND: &str =
    "The sandbox's webhook is set by hand: in the Twilio Console, open Messaging → Try it out → \
     WhatsApp sandbox settings and paste the inbound webhook URL as \"When a message comes in\".";

/// Writes the connector's inbound webhook URL into the number in Twilio, then reads it back
/// until Twilio shows it (sender updates are applied asynchronously).
pub async fn set_webhook(state: &AppState, me: &Me, connector_id: &str, number_id: &str) -> Result<WebhookOutcome> {
    require_admin(me)?;
    let creds = require_active(state, me, connector_id).await?;
    let Some(target) = targets(state, connector_id, Some(number_id)).await?.pop() else {
        return Err(AppError::NotFound("Number".into()).into());
    };
    if !target.active {
        return Err(AppError::Conflict(
            "Activate the number and save first: only active numbers get a webhook.".into(),
        )
        .into());
    }
    if target.sandbox {
        return Err(AppError::Conflict(SANDBOX_BY_HAND.into()).into());
    }
    let key = store::webhook_key(&state.db.pool, connector_id).await?;
    let services = overriding_services(state, &creds).await;
    let verdict = configure(state, &creds, &key, &target, &services).await.map_err(provider_error)?;
    let outcome = record_webhook(state, connector_id, target, verdict).await?;
    audit_webhooks(state, me, connector_id, std::slice::from_ref(&outcome), false).await?;
    Ok(outcome)
}

/// The audit line of a "Set webhook": the number and what the read-back found, or how many of
/// the active numbers were configured.
async fn audit_webhooks(
    state: &AppState,
    me: &Me,
    connector_id: &str,
    outcomes: &[WebhookOutcome],
    every: bool,
) -> Result<()> {
    let name = summary_of(state, me, connector_id).await?.name;
    let configured = outcomes.iter().filter(|o| o.state == WebhookState::Configured).count();
    let detail = match outcomes {
        [one] if !every => format!(
            "{} ({}): {}.",
            one.phone_number,
            one.provider.label(),
            if configured == 1 { "configured" } else { "not configured" }
        ),
        all => format!("Every active number: {configured} of {} configured.", all.len()),
    };
    audit::record_now(state, me, Action::WebhookSet, &name, &detail).await
}

/// "Set webhook on all active numbers": every active number at once (a few at a time towards
/// Twilio), each with its own result; one number's failure does not stop the others.
pub async fn set_all_webhooks(state: &AppState, me: &Me, connector_id: &str) -> Result<Vec<WebhookOutcome>> {
    require_admin(me)?;
    let creds = require_active(state, me, connector_id).await?;
    let targets: Vec<Target> =
        targets(state, connector_id, None).await?.into_iter().filter(|t| t.active && !t.sandbox).collect();
    if targets.is_empty() {
        return Err(AppError::Conflict("No active numbers: activate numbers and save first.".into()).into());
    }
    let key = store::webhook_key(&state.db.pool, connector_id).await?;
    let services = std::sync::Arc::new(overriding_services(state, &creds).await);
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    for (position, target) in targets.into_iter().enumerate() {
        let (state, creds, key, services, limit) =
            (state.clone(), creds.clone(), key.clone(), services.clone(), limit.clone());
        let connector_id = connector_id.to_string();
        tasks.spawn(async move {
            let _permit = limit.acquire().await;
            let verdict = match configure(&state, &creds, &key, &target, &services).await {
                Ok(v) => v,
                Err(e) => Verdict::no(provider_error(e).to_string()),
            };
            (position, record_webhook(&state, &connector_id, target, verdict).await)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (position, outcome) = done.map_err(anyhow::Error::from)?;
        outcomes.push((position, outcome?));
    }
    outcomes.sort_by_key(|(position, _)| *position);
    let outcomes: Vec<WebhookOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    audit_webhooks(state, me, connector_id, &outcomes, true).await?;
    Ok(outcomes)
}

/// What the read-back found.
struct Verdict {
    configured: bool,
    detail: Option<String>,
}

impl Verdict {
    fn yes() -> Self {
        Self { configured: true, detail: None }
    }
    fn no(detail: impl Into<String>) -> Self {
        Self { configured: false, detail: Some(detail.into()) }
    }
}

async fn record_webhook(
    state: &AppState,
    connector_id: &str,
    target: Target,
    verdict: Verdict,
) -> Result<WebhookOutcome> {
    store::record_webhook(&state.db.pool, &target.id, verdict.configured, verdict.detail.as_deref()).await?;
    tracing::info!(connector_id, number_id = %target.id, configured = verdict.configured, "set webhook");
    Ok(WebhookOutcome {
        number_id: target.id,
        phone_number: target.phone_number,
        provider: target.provider,
        state: if verdict.configured { WebhookState::Configured } else { WebhookState::NotConfigured },
        detail: verdict.detail,
    })
}

/// Messaging Services whose inbound settings win over their numbers' own webhooks. A failure
/// to list them is not the number's fault: it is logged and the check skipped.
async fn overriding_services(state: &AppState, creds: &Credentials) -> Vec<crate::twilio::MessagingService> {
    match state.twilio.list_messaging_services(creds).await {
        Ok(services) => services.into_iter().filter(|s| s.use_inbound_webhook_on_number != Some(true)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list Messaging Services; not checking for an override");
            Vec::new()
        }
    }
}

async fn configure(
    state: &AppState,
    creds: &Credentials,
    key: &str,
    target: &Target,
    services: &[crate::twilio::MessagingService],
) -> std::result::Result<Verdict, TwilioError> {
    let url = state.inbound_webhook_url(key);
    let verdict = match target.provider {
        Provider::WhatsApp => {
            let update = WebhookUpdate {
                callback_url: Some(Some(url.clone())),
                callback_method: Some("POST"),
                status_callback_url: Some(Some(state.status_callback_url(key))),
                status_callback_method: Some("POST"),
            };
            state.twilio.update_sender_webhook(creds, &target.sid, &update).await?;
            confirm_sender(state, creds, &target.sid, &url).await?
        }
        Provider::Sms => {
            state.twilio.update_incoming_number_sms_url(creds, &target.sid, &url).await?;
            let n = state.twilio.fetch_incoming_number(creds, &target.sid).await?;
            sms_verdict(&n, &url)
        }
    };
    if !verdict.configured {
        return Ok(verdict);
    }
    for service in services {
        if state.twilio.service_holds(creds, &service.sid, &target.sid).await? {
            let name = service.friendly_name.clone().unwrap_or_else(|| service.sid.clone());
            let goes_to = match service.inbound_request_url.as_deref().filter(|u| !u.is_empty()) {
                Some(u) => format!("Twilio posts its messages to the service's URL {u}"),
                None => "the service has no inbound URL, so Twilio drops its messages".to_string(),
            };
            return Ok(Verdict::no(format!(
                "Overridden by Messaging Service {name}: {goes_to}. In the service's Integration settings, \
                 choose to use the number's own webhook, or remove the number from the service."
            )));
        }
    }
    Ok(verdict)
}

async fn confirm_sender(
    state: &AppState,
    creds: &Credentials,
    sid: &str,
    url: &str,
) -> std::result::Result<Verdict, TwilioError> {
    let deadline = tokio::time::Instant::now() + state.tuning.webhook_confirm_timeout;
    loop {
        let sender = state.twilio.fetch_sender(creds, sid).await?;
        let webhook = sender.webhook.unwrap_or_default();
        let status = sender.status.unwrap_or_default();
        if webhook.callback_url.as_deref() == Some(url) && status == "ONLINE" {
            return Ok(match webhook.callback_method.as_deref() {
                Some(m) if m != "POST" => {
                    Verdict::no(format!("Wrong method: Twilio calls the URL with {m}, not POST."))
                }
                _ => Verdict::yes(),
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Verdict::no(match webhook.callback_url.filter(|u| !u.is_empty()) {
                Some(other) if other != url => format!("URL mismatch: Twilio has {other}."),
                Some(_) => format!("Twilio has not finished applying the change (sender status {status})."),
                None => "Not set: Twilio shows no inbound webhook on this sender.".to_string(),
            }));
        }
        tokio::time::sleep(state.tuning.webhook_confirm_interval).await;
    }
}

fn sms_verdict(n: &crate::twilio::IncomingNumber, url: &str) -> Verdict {
    if let Some(app) = n.sms_application_sid.as_deref().filter(|s| !s.is_empty()) {
        return Verdict::no(format!(
            "Overridden by application {app}: it takes this number's messages instead of the URL. Remove the application from the number in the Twilio Console."
        ));
    }
    match n.sms_url.as_deref().filter(|u| !u.is_empty()) {
        Some(u) if u == url && n.sms_method.as_deref().unwrap_or("POST") == "POST" => Verdict::yes(),
        Some(u) if u == url => Verdict::no("Wrong method: Twilio calls the URL with GET, not POST."),
        Some(u) => Verdict::no(format!("URL mismatch: Twilio has {u}.")),
        None => Verdict::no("Not set: Twilio shows no inbound webhook on this number."),
    }
}

pub(super) async fn clear_if_ours(
    state: &AppState,
    creds: &Credentials,
    target: &Target,
    inbound: &str,
    status: &str,
) -> std::result::Result<Cleanup, TwilioError> {
    let elsewhere = |url: Option<String>| match url.filter(|u| !u.is_empty()) {
        Some(u) => Cleanup::LeftElsewhere(u),
        None => Cleanup::NoneSet,
    };
    match target.provider {
        Provider::WhatsApp => {
            let webhook = state.twilio.fetch_sender(creds, &target.sid).await?.webhook.unwrap_or_default();
            if webhook.callback_url.as_deref() != Some(inbound) {
                return Ok(elsewhere(webhook.callback_url));
            }
            let update = WebhookUpdate {
                callback_url: Some(None),
                status_callback_url: (webhook.status_callback_url.as_deref() == Some(status)).then_some(None),
                ..WebhookUpdate::default()
            };
            state.twilio.update_sender_webhook(creds, &target.sid, &update).await?;
            Ok(Cleanup::Cleared)
        }
        Provider::Sms => {
            let number = state.twilio.fetch_incoming_number(creds, &target.sid).await?;
            if number.sms_url.as_deref() != Some(inbound) {
                return Ok(elsewhere(number.sms_url));
            }
            state.twilio.clear_incoming_number_sms_url(creds, &target.sid).await?;
            Ok(Cleanup::Cleared)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sms_verdict;
    use crate::twilio::{Capabilities, IncomingNumber};

    fn number(url: Option<&str>, method: Option<&str>, app: Option<&str>) -> IncomingNumber {
        IncomingNumber {
            sid: "PN0".into(),
            phone_number: "+14155550199".into(),
            friendly_name: None,
            capabilities: Capabilities { sms: true },
            sms_url: url.map(str::to_string),
            sms_method: method.map(str::to_string),
            sms_application_sid: app.map(str::to_string),
        }
    }

    #[test]
    fn the_sms_read_back_names_what_is_wrong() {
        let ours = "https://sb.example/twilio/inbound/k";
        let detail = |n| sms_verdict(&n, ours).detail.unwrap_or_default();
        assert!(sms_verdict(&number(Some(ours), Some("POST"), Some("")), ours).configured);
        assert!(detail(number(Some(ours), Some("GET"), None)).starts_with("Wrong method"));
        assert_eq!(
            detail(number(Some("https://x.example"), None, None)),
            "URL mismatch: Twilio has https://x.example."
        );
        assert!(detail(number(Some(""), None, None)).starts_with("Not set"));
        assert!(detail(number(Some(ours), None, Some("AP123"))).starts_with("Overridden by application AP123"));
    }
}
