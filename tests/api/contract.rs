//! Every request Switchboard sends to Twilio is valid against Twilio's published OpenAPI specs
//! (tests/twilio-spec, unmodified): path and its parameters' patterns, method, query parameter
//! names and values, body encoding, field names, types and enum values, required and
//! conditional fields. The flow below makes every call the product makes; the simulator
//! records them as they arrive and each is checked here.

use std::collections::{BTreeSet, HashMap};

use crate::common::{eventually, spawn_app, TestApp};
use app::{
    agents::api::{ListTemplates, SetAgentTemplate},
    connectors::{
        api::{CreateConnector, DeleteConnector, ListNumbers, SaveNumbers, SendTestMessage, SetAllWebhooks},
        WebhookState,
    },
};
use serde_json::Value;
use twilio_sim::{Faults, Inbound, MediaFile, RecordedRequest, SeedAccount, SeedNumber, SeedService};

const SPECS: [&str; 4] = ["twilio_api_v2010", "twilio_messaging_v1", "twilio_messaging_v2", "twilio_content_v1"];

struct Spec {
    name: &'static str,
    doc: Value,
}

/// The operation a request matched, or what is wrong with it.
fn check(specs: &[Spec], r: &RecordedRequest) -> Result<String, Vec<String>> {
    let mut candidates: Vec<(&Spec, &str, HashMap<String, String>)> = Vec::new();
    for spec in specs {
        for template in spec.doc["paths"].as_object().unwrap().keys() {
            if let Some(params) = match_path(template, &r.path) {
                candidates.push((spec, template, params));
            }
        }
    }
    // A literal segment (`Local.json`) beats a parameter (`{Sid}.json`).
    candidates.sort_by_key(|(_, t, _)| std::cmp::Reverse(t.chars().filter(|c| !"{}".contains(*c)).count()));
    let Some((spec, template, path_params)) = candidates.into_iter().next() else {
        return Err(vec![format!("{} {}: no such path in Twilio's specs", r.method, r.path)]);
    };
    let doc = &spec.doc;
    let item = &doc["paths"][template];
    let method = r.method.to_ascii_lowercase();
    let Some(op) = item.get(&method) else {
        return Err(vec![format!("{} {template} ({}): method not in the spec", r.method, spec.name)]);
    };
    let at = format!("{} {template}", r.method);
    let mut errors = Vec::new();
    let parameters: Vec<&Value> = item["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(op["parameters"].as_array().into_iter().flatten())
        .map(|p| resolve(doc, p))
        .collect();
    for (name, value) in &path_params {
        match parameters.iter().find(|p| p["in"] == "path" && p["name"] == name.as_str()) {
            Some(p) => check_text(doc, &p["schema"], value, &format!("{at} path {name}"), &mut errors),
            None => errors.push(format!("{at}: path parameter {name} undeclared")),
        }
    }
    let query: Vec<(String, String)> = r
        .query
        .as_deref()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    for (name, value) in &query {
        match parameters.iter().find(|p| p["in"] == "query" && p["name"] == name.as_str()) {
            Some(p) => check_text(doc, &p["schema"], value, &format!("{at} query {name}"), &mut errors),
            None => errors.push(format!("{at}: query parameter {name} is not in the spec")),
        }
    }
    for p in parameters.iter().filter(|p| p["in"] == "query" && p["required"] == true) {
        if !query.iter().any(|(k, _)| p["name"] == k.as_str()) {
            errors.push(format!("{at}: required query parameter {} missing", p["name"]));
        }
    }
    let content = op.get("requestBody").map(|b| &resolve(doc, b)["content"]);
    match (content, r.body.is_empty()) {
        (None, true) => {}
        (None, false) => errors.push(format!("{at}: sends a body the operation does not take")),
        (Some(_), true) if method == "post" => errors.push(format!("{at}: no body")),
        (Some(_), true) => {}
        (Some(content), false) => {
            let media_type = r.content_type.as_deref().unwrap_or("").split(';').next().unwrap_or("").trim();
            match content.get(media_type) {
                None => errors.push(format!(
                    "{at}: body sent as {media_type:?}; the spec takes {:?}",
                    content.as_object().map(|o| o.keys().collect::<Vec<_>>())
                )),
                Some(c) if media_type == "application/json" => match serde_json::from_str::<Value>(&r.body) {
                    Ok(body) => check_json(doc, &c["schema"], &body, &format!("{at} body"), &mut errors),
                    Err(e) => errors.push(format!("{at}: body is not JSON: {e}")),
                },
                Some(c) => check_form(doc, op, &c["schema"], &r.body, &at, &mut errors),
            }
        }
    }
    let id = op["operationId"].as_str().unwrap_or(template).to_string();
    if errors.is_empty() {
        Ok(id)
    } else {
        Err(errors)
    }
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let target = reference.trim_start_matches("#/").split('/').fold(doc, |at, segment| &at[segment]);
            resolve(doc, target)
        }
        None => v,
    }
}

/// Matches `/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`-style templates; returns
/// the path parameters.
fn match_path(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    if t.len() != p.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (ts, ps) in t.iter().zip(&p) {
        match (ts.find('{'), ts.find('}')) {
            (Some(open), Some(close)) => {
                let (prefix, name, suffix) = (&ts[..open], &ts[open + 1..close], &ts[close + 1..]);
                if ps.len() <= prefix.len() + suffix.len() || !ps.starts_with(prefix) || !ps.ends_with(suffix) {
                    return None;
                }
                params.insert(name.to_string(), ps[prefix.len()..ps.len() - suffix.len()].to_string());
            }
            _ if ts == ps => {}
            _ => return None,
        }
    }
    Some(params)
}

/// A form or query value against its schema.
fn check_text(doc: &Value, schema: &Value, value: &str, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    match schema["type"].as_str() {
        Some("integer") => match value.parse::<i64>() {
            Ok(n) => {
                if schema["minimum"].as_i64().is_some_and(|min| n < min)
                    || schema["maximum"].as_i64().is_some_and(|max| n > max)
                {
                    errors.push(format!("{at}: {n} out of range"));
                }
            }
            Err(_) => errors.push(format!("{at}: {value:?} is not an integer")),
        },
        Some("number") if value.parse::<f64>().is_err() => errors.push(format!("{at}: {value:?} is not a number")),
        Some("boolean") if value != "true" && value != "false" => {
            errors.push(format!("{at}: {value:?} is not true or false"))
        }
        Some("array") => check_text(doc, &schema["items"], value, at, errors),
        _ => check_string(schema, value, at, errors),
    }
}

fn check_string(schema: &Value, value: &str, at: &str, errors: &mut Vec<String>) {
    if let Some(options) = schema["enum"].as_array() {
        if !options.iter().any(|o| o == value) {
            errors.push(format!("{at}: {value:?} is not one of {options:?}"));
        }
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        if !regex::Regex::new(pattern).unwrap().is_match(value) {
            errors.push(format!("{at}: {value:?} does not match {pattern}"));
        }
    }
    let len = value.chars().count() as u64;
    if schema["minLength"].as_u64().is_some_and(|min| len < min)
        || schema["maxLength"].as_u64().is_some_and(|max| len > max)
    {
        errors.push(format!("{at}: {value:?} has the wrong length"));
    }
    // Twilio clears a URL field with an empty value.
    if schema["format"] == "uri" && !value.is_empty() && url::Url::parse(value).is_err() {
        errors.push(format!("{at}: {value:?} is not a URI"));
    }
}

fn check_form(doc: &Value, op: &Value, schema: &Value, body: &str, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let properties = &schema["properties"];
    let mut seen = BTreeSet::new();
    for (name, value) in &fields {
        let Some(property) = properties.get(name) else {
            errors.push(format!("{at}: form field {name} is not in the spec"));
            continue;
        };
        if !seen.insert(name.clone()) && resolve(doc, property)["type"] != "array" {
            errors.push(format!("{at}: form field {name} repeated but not an array"));
        }
        check_text(doc, property, value, &format!("{at} field {name}"), errors);
    }
    for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !seen.contains(required) {
            errors.push(format!("{at}: required field {required} missing"));
        }
    }
    // x-twilio.conditional: exactly one of each group (snake_case names of PascalCase fields).
    for group in op["x-twilio"]["conditional"].as_array().into_iter().flatten() {
        let names: Vec<&str> = group.as_array().unwrap().iter().filter_map(Value::as_str).collect();
        let present = names.iter().filter(|n| seen.iter().any(|f| snake(f) == **n)).count();
        if present != 1 && !(present > 1 && names.contains(&"body")) {
            errors.push(format!("{at}: give exactly one of {names:?}"));
        }
    }
}

fn snake(pascal: &str) -> String {
    let mut out = String::new();
    for (i, c) in pascal.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn check_json(doc: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if v.is_null() {
        if schema["nullable"] != true {
            errors.push(format!("{at}: null where the spec allows none"));
        }
        return;
    }
    let kind = schema["type"].as_str().or(schema.get("properties").map(|_| "object"));
    match (kind, v) {
        (Some("object"), Value::Object(map)) => {
            for (k, value) in map {
                match schema["properties"].get(k) {
                    Some(property) => check_json(doc, property, value, &format!("{at}.{k}"), errors),
                    None if schema.get("additionalProperties").is_some_and(|a| a != false) => {}
                    None => errors.push(format!("{at}: field {k} is not in the spec")),
                }
            }
            for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !map.contains_key(required) {
                    errors.push(format!("{at}: required field {required} missing"));
                }
            }
        }
        (Some("string"), Value::String(s)) => check_string(schema, s, at, errors),
        (Some("integer"), Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        (Some("number"), Value::Number(_)) | (Some("boolean"), Value::Bool(_)) | (None, _) => {}
        (Some("array"), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_json(doc, &schema["items"], item, &format!("{at}[{i}]"), errors);
            }
        }
        (Some(kind), other) => errors.push(format!("{at}: {other} is not {kind}")),
    }
}

fn load_specs() -> Vec<Spec> {
    SPECS
        .iter()
        .map(|name| {
            let path = format!("{}/tests/twilio-spec/{name}.json", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            Spec { name, doc: serde_json::from_str(&text).unwrap() }
        })
        .collect()
}

/// Twilio hands out the URLs of a guest's files in the webhook (`MediaUrl{N}`); fetching one
/// answers with the file itself. They are Twilio's URLs, not requests Switchboard builds, and the
/// spec describes only the JSON resource at the same path with `.json`.
fn is_media_download(r: &RecordedRequest) -> bool {
    r.method == "GET"
        && regex::Regex::new(
            r"^/2010-04-01/Accounts/AC[0-9a-f]{32}/Messages/[A-Z]{2}[0-9a-f]{32}/Media/ME[0-9a-f]{32}$",
        )
        .unwrap()
        .is_match(&r.path)
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

#[test]
fn the_validator_catches_what_twilio_would_refuse() {
    let specs = load_specs();
    let request =
        |method: &str, path: &str, query: Option<&str>, content_type: Option<&str>, body: &str| RecordedRequest {
            method: method.into(),
            path: path.into(),
            query: query.map(str::to_string),
            content_type: content_type.map(str::to_string),
            body: body.into(),
        };
    let account = format!("AC{}", "0".repeat(32));
    let messages = format!("/2010-04-01/Accounts/{account}/Messages.json");
    let form = Some("application/x-www-form-urlencoded");
    let good = request("POST", &messages, None, form, "To=whatsapp%3A%2B1555&From=whatsapp%3A%2B1666&Body=hi");
    assert_eq!(check(&specs, &good).unwrap(), "CreateMessage");
    let wrong = [
        request("POST", &messages, None, form, "To=%2B1555&From=%2B1666&Body=hi&Bodyy=x"),
        request("POST", &messages, None, form, "To=%2B1555&Body=hi"),
        request("POST", &messages, None, Some("application/json"), r#"{"To":"+1555"}"#),
        request("PUT", &messages, None, form, "To=%2B1555&From=%2B1666&Body=hi"),
        request("GET", "/2010-04-01/Accounts/AC123.json", None, None, ""),
        request("GET", "/v2/Channels/Senders", Some("Channel=whatsapp&PageSize=5000"), None, ""),
        request("GET", "/v2/Channels/Senders", Some("PageSize=100"), None, ""),
        request(
            "POST",
            &format!("/v2/Channels/Senders/XE{}", "0".repeat(32)),
            None,
            Some("application/json"),
            r#"{"webhook":{"callback_method":"GET"}}"#,
        ),
        request("GET", "/v1/Nothing", None, None, ""),
    ];
    for r in wrong {
        assert!(check(&specs, &r).is_err(), "{r:?} should be refused");
    }
}

#[tokio::test]
async fn every_request_switchboard_sends_is_valid_against_twilios_specs() {
    let app = spawn_app().await;
    // A second account with more numbers than one page holds, so the lists follow their pages.
    let big = SeedAccount {
        sid: format!("AC{}", crate::common::random_hex(32)),
        numbers: (0..130)
            .map(|i| SeedNumber {
                phone_number: format!("+1415556{i:04}"),
                display_name: None,
                whatsapp: true,
                sms: i % 2 == 0,
                sender_status: "ONLINE".into(),
            })
            .collect(),
        ..crate::common::seed_account()
    };
    app.sim.sim.add_account(&big);
    app.sim.sim.add_service(
        &app.account_sid,
        SeedService {
            friendly_name: "Marketing".into(),
            inbound_request_url: Some("https://crm.example/inbound".into()),
            use_inbound_webhook_on_number: false,
            numbers: vec!["+14155550101".into()],
        },
    );

    let (_, connector, _, agent) = app.ready_path().await;
    let admin = app.browser("admin@example.com").await;
    let rows = app.ui(&admin, ListNumbers { connector_id: connector.clone() }).await.unwrap();
    let active: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    app.ui(&admin, SaveNumbers { connector_id: connector.clone(), active, unbind: false }).await.unwrap();
    let outcomes = app.ui(&admin, SetAllWebhooks { connector_id: connector.clone() }).await.unwrap();
    assert_eq!(outcomes.iter().filter(|o| o.state == WebhookState::Configured).count(), 2, "{outcomes:?}");
    let sms = TestApp::number(&rows, "+14155550199", false).id.clone();
    let test_message = SendTestMessage { connector_id: connector.clone(), number_id: sms, to: "+15557654321".into() };
    app.ui(&admin, test_message).await.unwrap();

    let big_form = CreateConnector { account_sid: big.sid.clone(), ..app.connector_form("Big") };
    let big_connector = app.ui(&admin, big_form).await.unwrap();
    let big_rows = app.ui(&admin, ListNumbers { connector_id: big_connector.id }).await.unwrap();
    assert_eq!(big_rows.len(), 130 + 65, "every page of senders and numbers");

    // A guest's message with a photo; the reply's first send has an unknown outcome (Twilio
    // created it and answered 500), so Switchboard lists Twilio's messages before trying again.
    let templates = app.ui(&admin, ListTemplates { connector_id: connector.clone() }).await.unwrap();
    let choice = SetAgentTemplate {
        agent_id: agent.clone(),
        connector_id: connector.clone(),
        template_sid: templates[0].sid.clone(),
        variables: r#"{"1": "Ana"}"#.into(),
    };
    app.ui(&admin, choice).await.unwrap();
    app.sim.sim.set_faults(Faults { phantom_rate: 1.0, status_delay_ms: 3_000, ..Faults::default() });
    let guest = "whatsapp:+15550003333";
    let photo = MediaFile { content_type: "image/png".into(), data: PNG.to_vec() };
    let inbound = Inbound {
        to: "whatsapp:+14155550100".into(),
        from: guest.into(),
        body: "When is breakfast?".into(),
        profile_name: Some("Ana".into()),
        media: vec![photo],
        ..Default::default()
    };
    app.sim.sim.guest_message(inbound).await.unwrap();
    eventually("Switchboard asks Twilio what became of the send", || async {
        app.sim.sim.requests().iter().any(|r| r.method == "GET" && r.path.ends_with("/Messages.json")).then_some(())
    })
    .await;
    app.sim.sim.set_faults(Faults::default());
    eventually("the reply", || async { (!app.replies_to(guest).is_empty()).then_some(()) }).await;
    eventually("the photo downloaded", || async { app.sim.sim.requests().iter().any(is_media_download).then_some(()) })
        .await;

    // A file to the guest, then a reply once the 24-hour window has closed (the template).
    let (conversation,): (String,) = sqlx::query_as("SELECT id FROM conversations WHERE guest_address = $1")
        .bind(guest)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let file = switchboard::media::OutboundFile { content_type: "image/png".into(), bytes: PNG.to_vec() };
    switchboard::media::queue_outbound(&app.state, &conversation, "The map", Some(file)).await.unwrap();
    eventually("the file sent", || async { app.replies_to(guest).iter().any(|m| m.body == "The map").then_some(()) })
        .await;
    sqlx::query("UPDATE conversations SET last_inbound_at = $1")
        .bind(switchboard::now_ms() - 25 * 3600 * 1000)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    switchboard::media::queue_outbound(&app.state, &conversation, "News", None).await.unwrap();
    eventually("the template sent", || async {
        app.sim.sim.requests().iter().any(|r| r.body.contains("ContentSid=")).then_some(())
    })
    .await;

    // An agent whose brain calls out (the customer's HTTP hook): WhatsApp's typing indicator
    // goes out while it thinks; its reply offers buttons (content created, then sent).
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", hook.local_addr().unwrap());
    let answer = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async {
            axum::Json(
                serde_json::json!({ "reply": "On it.", "buttons": ["Thanks", { "title": "Cancel", "id": "cancel" }] }),
            )
        }),
    );
    tokio::spawn(async move { axum::serve(hook, answer).await.unwrap() });
    let form = TestApp::agent_form("concierge", "A colleague will answer soon.");
    let form = TestApp::with_brain(form, app::agents::port::BrainInput::Hook { url: hook_url, timeout_secs: None });
    app.ui(&admin, TestApp::edit_form(&agent, form)).await.unwrap();
    let asker = "whatsapp:+15550003344";
    let question = Inbound {
        to: "whatsapp:+14155550100".into(),
        from: asker.into(),
        body: "Are you there?".into(),
        profile_name: None,
        media: vec![],
        ..Default::default()
    };
    app.sim.sim.guest_message(question).await.unwrap();
    eventually("the hook's reply", || async { (!app.replies_to(asker).is_empty()).then_some(()) }).await;

    app.ui(&admin, DeleteConnector { id: connector }).await.unwrap();

    let specs = load_specs();
    let requests = app.sim.sim.requests();
    let mut operations = BTreeSet::new();
    let mut problems = Vec::new();
    for r in requests.iter().filter(|r| !is_media_download(r)) {
        match check(&specs, r) {
            Ok(id) => {
                operations.insert(id);
            }
            Err(errors) => problems.extend(errors),
        }
    }
    problems.dedup();
    assert!(problems.is_empty(), "requests Twilio's specs do not allow:\n{}", problems.join("\n"));
    let expected = [
        "FetchAccount",
        "ListIncomingPhoneNumber",
        "FetchIncomingPhoneNumber",
        "UpdateIncomingPhoneNumber",
        "CreateMessage",
        "ListMessage",
        "ListChannelsSender",
        "FetchChannelsSender",
        "UpdateChannelsSender",
        "CreateTypingIndicator",
        "ListContentAndApprovals",
        "CreateContent",
        "ListService",
        "FetchPhoneNumber",
        "FetchChannelSender",
    ];
    let missing: Vec<&str> = expected.iter().copied().filter(|op| !operations.contains(*op)).collect();
    assert!(missing.is_empty(), "operations not exercised: {missing:?}; seen {operations:?}");
    let pages = requests.iter().filter(|r| r.query.as_deref().is_some_and(|q| q.contains("Page=1"))).count();
    assert!(pages >= 2, "both lists followed their next page");
}
