//! The binary's command line and start-up checks.

use std::process::Command;

use crate::common::{random_hex, spawn_app};
use app::ports::*;
use switchboard::{config::Config, startup::Application};

fn switchboard(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env("SWITCHBOARD_DATA_DIR", data_dir).env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    cmd
}

#[test]
fn create_admin_creates_an_organization_with_its_first_admin() {
    let dir = std::env::temp_dir().join(format!("switchboard-cli-{}", random_hex(12)));
    let run = |org: &str, email: &str, password: &str| {
        switchboard(&dir)
            .args(["create-admin", "--org", org, "--email", email])
            .env("SWITCHBOARD_ADMIN_PASSWORD", password)
            .output()
            .unwrap()
    };
    let short = run("Demo Hotels", "Admin@Example.com", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10 characters"));

    let ok = run("Demo Hotels", "Admin@Example.com", "a long enough password");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("admin@example.com"));

    // The same email again is refused; another organization beside the first is not.
    let again = run("Demo Hotels", "admin@example.com", "a long enough password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let other = run("Other Hotels", "boss@other.example", "a long enough password");
    assert!(other.status.success(), "{}", String::from_utf8_lossy(&other.stderr));
    assert!(String::from_utf8_lossy(&other.stdout).contains("Other Hotels"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn starting_without_the_master_key_that_sealed_the_tokens_fails_clearly() {
    let app = spawn_app().await;
    let me = app.admin().await;
    app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();

    // Same database, but a data folder with no key file: a new key would open nothing.
    let elsewhere = std::env::temp_dir().join(format!("switchboard-nokey-{}", random_hex(12)));
    let mut config = Config::for_data_dir(elsewhere.clone());
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.database_url = Some(app.database_url.clone());
    let error = Application::build(config).await.err().expect("start-up is refused").to_string();
    assert!(error.contains("master key is missing"), "{error}");
    let _ = std::fs::remove_dir_all(elsewhere);

    // The right key, given in the environment's form, opens them.
    let key = std::fs::read_to_string(app.data_dir.join("master.key")).unwrap();
    let mut config = Config::for_data_dir(std::env::temp_dir().join(format!("switchboard-key-{}", random_hex(12))));
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.database_url = Some(app.database_url.clone());
    config.master_key = Some(switchboard::crypto::Secret::new(key.trim()));
    let twin = Application::build(config).await.expect("starts with the key");
    let creds = switchboard::connectors::account::credentials(
        twin.state(),
        &app.state.list_connectors(&me).await.unwrap()[0].id,
    )
    .await
    .unwrap();
    assert_eq!(creds.auth_token.expose(), crate::common::TOKEN);
}

/// A configuration on the test app's database, with its own data folder (and so key file).
fn config_on(app: &crate::common::TestApp, data_dir: std::path::PathBuf) -> Config {
    let mut config = Config::for_data_dir(data_dir);
    config.bind = "127.0.0.1:0".parse().unwrap();
    config.database_url = Some(app.database_url.clone());
    config
}

async fn token_as_seen_by(config: Config, connector_id: &str) -> anyhow::Result<String> {
    let app = Application::build(config).await?;
    let creds = switchboard::connectors::account::credentials(app.state(), connector_id).await?;
    Ok(creds.auth_token.expose().to_string())
}

#[tokio::test]
async fn rotate_key_re_encrypts_every_secret_and_replaces_the_key_file() {
    let mut app = spawn_app().await;
    let me = app.admin().await;
    let connector = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
    // The organization's transcription API key is a stored secret too.
    let transcription = app::agents::port::TranscriptionInput {
        url: "http://127.0.0.1:9/v1".into(),
        model: "whisper-1".into(),
        key: Some("sk-org-rotated-0123456789".into()),
    };
    app.state.set_transcription(&me, transcription).await.unwrap();
    app.stop_server().await;
    let key_file = app.data_dir.join("master.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let sealed_before: Vec<u8> =
        sqlx::query_scalar("SELECT auth_token_enc FROM connectors").fetch_one(&app.state.db.pool).await.unwrap();

    let out = switchboard(&app.data_dir).env("DATABASE_URL", &app.database_url).arg("rotate-key").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Re-encrypted 2 secret(s)"), "{stdout}");
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert!(!stdout.contains(new_key.trim()) && !stdout.contains(crate::common::TOKEN), "no key or token is printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let sealed_after: Vec<u8> =
        sqlx::query_scalar("SELECT auth_token_enc FROM connectors").fetch_one(&app.state.db.pool).await.unwrap();
    assert_ne!(sealed_after, sealed_before);
    // The organization's audit log says so, without the key.
    let line: (String, String, String) =
        sqlx::query_as("SELECT actor, action, detail FROM audit_log WHERE action = 'key.rotated'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(
        line,
        (
            "The operator (switchboard rotate-key)".into(),
            "key.rotated".into(),
            "Stored secrets sealed again under a new master key: 2.".into()
        )
    );

    // The new key file opens the token and the organization's key; the old key is refused with a
    // clear message.
    assert_eq!(
        token_as_seen_by(config_on(&app, app.data_dir.clone()), &connector.id).await.unwrap(),
        crate::common::TOKEN
    );
    let with_new = Application::build(config_on(&app, app.data_dir.clone())).await.unwrap();
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT transcribe_key_enc FROM organizations WHERE id = $1")
        .bind(&me.org_id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let opened = with_new.state().secrets.open(&sealed, &me.org_id).unwrap();
    assert_eq!(opened.expose(), "sk-org-rotated-0123456789");
    let mut with_old = config_on(&app, app.data_dir.join("elsewhere"));
    with_old.master_key = Some(switchboard::crypto::Secret::new(old_key.trim()));
    let error = Application::build(with_old).await.err().expect("the old key is refused").to_string();
    assert!(error.contains("does not open the secrets stored"), "{error}");
}

#[tokio::test]
async fn rotate_key_refuses_while_an_instance_runs_and_a_start_finds_any_secret_under_another_key() {
    let mut app = spawn_app().await;
    let me = app.admin().await;
    let front = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
    let spa = app.state.create_connector(&me, app.connector_input("Spa")).await.unwrap();
    crate::common::eventually("the running instance is recorded", || async {
        (switchboard::instances::running(&app.state.db).await.unwrap() > 0).then_some(())
    })
    .await;
    let key_file = app.data_dir.join("master.key");
    let key_before = std::fs::read_to_string(&key_file).unwrap();
    let out = switchboard(&app.data_dir).env("DATABASE_URL", &app.database_url).arg("rotate-key").output().unwrap();
    assert!(!out.status.success(), "refused while the instance runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("instance(s) on this database said they were running"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key_before, "nothing changed");
    assert_eq!(token_as_seen_by(config_on(&app, app.data_dir.clone()), &front.id).await.unwrap(), crate::common::TOKEN);

    // A secret sealed under another key (what an instance left running through a rotation would
    // save) is found at start, with the rows it concerns, though the others open.
    app.stop_server().await;
    let other = switchboard::crypto::SecretBox::from_key(&[9; 32]);
    sqlx::query("UPDATE connectors SET auth_token_enc = $1 WHERE id = $2")
        .bind(other.seal(crate::common::TOKEN, &spa.id))
        .bind(&spa.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let error = Application::build(config_on(&app, app.data_dir.clone())).await.err().expect("refused").to_string();
    assert!(error.contains("opens 1 of them but not 1") && error.contains(&spa.id), "{error}");
}

#[tokio::test]
async fn rotate_key_from_the_environment_prints_the_new_key_once() {
    let mut app = spawn_app().await;
    let me = app.admin().await;
    let connector = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
    app.stop_server().await;
    let old_key = std::fs::read_to_string(app.data_dir.join("master.key")).unwrap().trim().to_string();
    let no_file = std::env::temp_dir().join(format!("switchboard-envkey-{}", random_hex(12)));

    let out = switchboard(&no_file)
        .env("DATABASE_URL", &app.database_url)
        .env("SWITCHBOARD_MASTER_KEY", &old_key)
        .arg("rotate-key")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let new_key = stdout.lines().last().unwrap().trim().to_string();
    assert_eq!(new_key.len(), 44, "a base64 key of 32 bytes: {stdout}");
    assert!(!no_file.join("master.key").exists(), "no key file is written when the key comes from the environment");

    let mut config = config_on(&app, no_file.clone());
    config.master_key = Some(switchboard::crypto::Secret::new(new_key));
    assert_eq!(token_as_seen_by(config, &connector.id).await.unwrap(), crate::common::TOKEN);
    let _ = std::fs::remove_dir_all(no_file);
}

#[tokio::test]
async fn a_rotation_cut_off_before_the_key_file_was_replaced_is_finished_by_the_next_start() {
    let mut app = spawn_app().await;
    let me = app.admin().await;
    let connector = app.state.create_connector(&me, app.connector_input("Front Desk")).await.unwrap();
    app.stop_server().await;
    let key_file = app.data_dir.join("master.key");
    let old = switchboard::crypto::SecretBox::load(None, &key_file).unwrap();
    // What rotate-key does up to its last step: the new key beside the old, the database re-sealed.
    let key = switchboard::crypto::new_key();
    switchboard::crypto::write_key_file(&switchboard::keys::pending_key_file(&key_file), &key).unwrap();
    let new = switchboard::crypto::SecretBox::from_key(&key);
    assert_eq!(switchboard::keys::reseal_all(&app.state.db, &old, &new).await.unwrap(), 1);

    assert_eq!(
        token_as_seen_by(config_on(&app, app.data_dir.clone()), &connector.id).await.unwrap(),
        crate::common::TOKEN
    );
    assert!(!switchboard::keys::pending_key_file(&key_file).exists());
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), switchboard::crypto::encode_key(&key).expose());
}

async fn run_cli(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_gives_a_verdict_on_each_precondition_and_changes_nothing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim =
        twilio_sim::start(listener, twilio_sim::Seed::default(), twilio_sim::Options::default(), None).await.unwrap();
    let smtp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_port = smtp.local_addr().unwrap().port().to_string();
    sim.sim.serve_smtp(smtp);
    let dir = std::env::temp_dir().join(format!("switchboard-check-{}", random_hex(12)));
    let check = |public_url: Option<&str>, api_base: &str, smtp_port: Option<&str>| {
        let mut cmd = switchboard(&dir);
        match smtp_port {
            Some(port) => cmd
                .env("SWITCHBOARD_SMTP_HOST", "127.0.0.1")
                .env("SWITCHBOARD_SMTP_PORT", port)
                .env("SWITCHBOARD_SMTP_TLS", "none"),
            None => cmd.env_remove("SWITCHBOARD_SMTP_HOST"),
        };
        cmd.arg("check")
            .env("TWILIO_API_BASE", api_base)
            .env("TWILIO_MESSAGING_BASE", sim.url())
            .env("TWILIO_CONTENT_BASE", sim.url())
            .env_remove("SWITCHBOARD_MASTER_KEY");
        match public_url {
            Some(url) => cmd.env("SWITCHBOARD_PUBLIC_URL", url),
            None => cmd.env_remove("SWITCHBOARD_PUBLIC_URL"),
        };
        cmd
    };

    // A fresh machine: no public URL (a failure), no key or database yet (first start makes them).
    let fresh = run_cli(check(None, &sim.url(), None)).await;
    let out = String::from_utf8_lossy(&fresh.stdout);
    assert!(!fresh.status.success(), "{out}");
    assert!(out.contains("FAIL  public URL: SWITCHBOARD_PUBLIC_URL is not set"), "{out}");
    assert!(out.contains("warn  master key: none yet"), "{out}");
    assert!(out.contains("warn  database:") && out.contains("does not exist yet"), "{out}");
    assert!(out.contains("ok    Twilio API:"), "{out}");
    assert!(out.contains("warn  email (SMTP): SWITCHBOARD_SMTP_HOST is not set"), "{out}");
    assert!(!dir.join("switchboard.db").exists() && !dir.join("master.key").exists(), "check changes nothing");

    // Twilio unreachable and a plain-http public URL: each named.
    let bad = run_cli(check(Some("http://sb.example"), "http://127.0.0.1:9", Some("9"))).await;
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("FAIL  public URL: http://sb.example is not https"), "{out}");
    assert!(out.contains("FAIL  Twilio API: http://127.0.0.1:9 is not reachable"), "{out}");
    assert!(out.contains("FAIL  email (SMTP): SMTP server 127.0.0.1:9"), "{out}");

    // Set up (database and key created), with an https URL: every check passes.
    let mut setup = switchboard(&dir);
    setup
        .args(["create-admin", "--org", "Demo", "--email", "admin@example.com"])
        .env("SWITCHBOARD_ADMIN_PASSWORD", "a long enough password");
    assert!(run_cli(setup).await.status.success());
    let ready = run_cli(check(Some("https://sb.example"), &sim.url(), Some(&smtp_port))).await;
    let out = String::from_utf8_lossy(&ready.stdout);
    assert!(ready.status.success(), "{out}{}", String::from_utf8_lossy(&ready.stderr));
    assert!(out.contains("migrations applied") && out.contains("All checks passed."), "{out}");
    assert!(out.contains(&format!("ok    email (SMTP): 127.0.0.1:{smtp_port} answers")), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// On PostgreSQL, `check` names the database's character type and warns when it is not UTF-8
/// (the search would no longer fold accents: "CAFÉ" would not find "café"); SQLite has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_warns_of_a_postgres_database_whose_character_type_is_not_utf8() {
    let dir = std::env::temp_dir().join(format!("switchboard-ctype-{}", random_hex(12)));
    let check = |database_url: Option<String>| {
        let mut cmd = switchboard(&dir);
        cmd.arg("check");
        for base in ["TWILIO_API_BASE", "TWILIO_MESSAGING_BASE", "TWILIO_CONTENT_BASE"] {
            cmd.env(base, "http://127.0.0.1:9");
        }
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        run_cli(cmd)
    };
    let Some(server) = std::env::var("TEST_DATABASE_URL").ok().filter(|s| !s.is_empty()) else {
        let out = check(None).await;
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.contains("database:") && !out.contains("character type"), "{out}");
        return;
    };
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&server).await.unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    for (ctype, expected) in [
        ("C", "warn  database character type: the database's character type (LC_CTYPE) is C, not UTF-8"),
        ("C.UTF-8", "ok    database character type: C.UTF-8"),
    ] {
        let name = format!("sb_test_{}", random_hex(16));
        sqlx::query(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE '{ctype}' LC_CTYPE '{ctype}'"
        ))
        .execute(&mut admin)
        .await
        .unwrap();
        let out = check(Some(format!("{base}/{name}"))).await;
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.contains(expected), "{ctype}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_copies_the_sqlite_database_online() {
    let dir = std::env::temp_dir().join(format!("switchboard-backup-{}", random_hex(12)));
    let mut setup = switchboard(&dir);
    setup
        .args(["create-admin", "--org", "Demo", "--email", "admin@example.com"])
        .env("SWITCHBOARD_ADMIN_PASSWORD", "a long enough password");
    assert!(run_cli(setup).await.status.success());

    let target = dir.join("backup.db");
    let mut backup = switchboard(&dir);
    backup.arg("backup").arg(&target);
    let done = run_cli(backup).await;
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(String::from_utf8_lossy(&done.stdout).contains("Backed up the database"));
    let copy = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", target.display())).await.unwrap();
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&copy).await.unwrap();
    assert_eq!(users, 1, "the copy holds the data");
    copy.close().await;

    let mut again = switchboard(&dir);
    again.arg("backup").arg(&target);
    let refused = run_cli(again).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already exists"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn readyz_says_ready_once_the_database_answers_and_every_worker_runs() {
    let app = spawn_app().await;
    let response = crate::common::eventually("ready", || async {
        let r = app.http.get(format!("{}/readyz", app.url)).send().await.ok()?;
        (r.status() == 200).then_some(r)
    })
    .await;
    assert!(response.text().await.unwrap().starts_with("ready: database ok"));
    assert_eq!(app.http.get(format!("{}/healthz", app.url)).send().await.unwrap().status(), 200);

    // The database goes away: not ready, and the answer says why; the process itself still lives.
    app.state.db.pool.close().await;
    let down = app.http.get(format!("{}/readyz", app.url)).send().await.unwrap();
    assert_eq!(down.status(), 503);
    let why = down.text().await.unwrap();
    assert!(why.starts_with("not ready: database"), "{why}");
    assert_eq!(app.http.get(format!("{}/healthz", app.url)).send().await.unwrap().status(), 200);
}

/// Prometheus' text format: `name{labels} value` lines, comments skipped.
fn parse_metrics(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line: {l}"));
            (series.to_string(), value.parse::<f64>().unwrap_or_else(|_| panic!("a number in: {l}")))
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_webhooks_sends_callbacks_and_turns_in_prometheus_format() {
    let app = spawn_app().await;
    app.ready_path().await;
    let guest = "whatsapp:+15550007777";
    let inbound = twilio_sim::Inbound {
        to: "whatsapp:+14155550100".into(),
        from: guest.into(),
        body: "When is breakfast?".into(),
        profile_name: None,
        media: vec![],
        ..Default::default()
    };
    app.sim.sim.guest_message(inbound).await.unwrap();
    crate::common::eventually("the reply read", || async {
        app.replies_to(guest).pop().filter(|m| m.status == "read").map(|_| ())
    })
    .await;
    // A forged webhook, counted as such.
    let forged = app
        .http
        .post(format!("{}/twilio/inbound/{}", app.url, random_hex(20)))
        .form(&[("Body", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);

    let metrics = crate::common::eventually("three status callbacks counted", || async {
        let response = app.http.get(format!("{}/metrics", app.url)).send().await.ok()?;
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        let m = parse_metrics(&response.text().await.ok()?);
        (m.get("switchboard_status_callbacks_total{status=\"read\"}") == Some(&1.0)).then_some(m)
    })
    .await;
    let at = |series: &str| *metrics.get(series).unwrap_or_else(|| panic!("{series} exported"));
    assert_eq!(at("switchboard_webhook_requests_total{kind=\"inbound\",outcome=\"stored\"}"), 1.0);
    assert_eq!(at("switchboard_webhook_requests_total{kind=\"inbound\",outcome=\"unknown_webhook\"}"), 1.0);
    assert_eq!(at("switchboard_webhook_requests_total{kind=\"status\",outcome=\"stored\"}"), 3.0);
    assert_eq!(at("switchboard_webhook_ack_seconds_count"), 2.0);
    assert!(
        at("switchboard_webhook_ack_seconds_bucket{le=\"+Inf\"}") == 2.0
            && at("switchboard_webhook_ack_seconds_sum") > 0.0
    );
    assert_eq!(at("switchboard_sends_total{outcome=\"sent\",code=\"\"}"), 1.0);
    for status in ["sent", "delivered", "read"] {
        assert_eq!(at(&format!("switchboard_status_callbacks_total{{status=\"{status}\"}}")), 1.0);
    }
    assert_eq!(at("switchboard_turn_seconds_count"), 1.0);
    assert_eq!(at("switchboard_queue_depth{queue=\"sends\"}"), 0.0);
    assert_eq!(at("switchboard_queue_oldest_seconds{queue=\"turns\"}"), 0.0);
    assert_eq!(at("switchboard_connectors{health=\"connected\"}"), 1.0);
    assert_eq!(at("switchboard_connectors{health=\"rejected\"}"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_come_from_a_toml_file_under_flags_and_environment_variables() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim =
        twilio_sim::start(listener, twilio_sim::Seed::default(), twilio_sim::Options::default(), None).await.unwrap();
    let dir = std::env::temp_dir().join(format!("switchboard-toml-{}", random_hex(12)));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switchboard.toml");
    std::fs::write(
        &file,
        format!(
            "public_url = \"https://from-file.example\"\ntwilio_api_base = \"{0}\"\ntwilio-messaging-base = \"{0}\"\n\
             twilio_content_base = \"{0}\"\nsend_rate = 25\n",
            sim.url()
        ),
    )
    .unwrap();
    let check = |env_url: Option<&str>| {
        let mut cmd = switchboard(&dir);
        cmd.arg("check").arg("--config").arg(&file);
        for var in ["TWILIO_API_BASE", "TWILIO_MESSAGING_BASE", "TWILIO_CONTENT_BASE", "SWITCHBOARD_PUBLIC_URL"] {
            cmd.env_remove(var);
        }
        if let Some(url) = env_url {
            cmd.env("SWITCHBOARD_PUBLIC_URL", url);
        }
        cmd
    };
    let from_file = run_cli(check(None)).await;
    let out = String::from_utf8_lossy(&from_file.stdout);
    assert!(out.contains("ok    public URL: https://from-file.example"), "{out}");
    assert!(out.contains(&format!("ok    Twilio API: {}", sim.url())), "{out}");
    let env_wins = run_cli(check(Some("https://from-env.example"))).await;
    assert!(String::from_utf8_lossy(&env_wins.stdout).contains("ok    public URL: https://from-env.example"));

    std::fs::write(&file, "public_urll = \"https://typo.example\"\n").unwrap();
    let typo = run_cli(check(None)).await;
    assert!(!typo.status.success());
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("unknown setting \"public_urll\""),
        "{}",
        String::from_utf8_lossy(&typo.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A database that had conversations before migration 0036 (twelve thousand of them, past the
/// PostgreSQL fill's batches of 5,000, on two organizations' numbers) has each one's organization
/// filled in by the migrations that follow (PostgreSQL's a batch at a time, each committed), and
/// the index they bring is valid.
#[tokio::test]
async fn conversations_written_before_they_kept_their_organization_are_given_it() {
    sqlx::any::install_default_drivers();
    let data_dir = std::env::temp_dir().join(format!("switchboard-migrate-{}", random_hex(12)));
    std::fs::create_dir_all(&data_dir).unwrap();
    let server = std::env::var("TEST_DATABASE_URL").ok().filter(|s| !s.is_empty());
    let name = format!("sb_migrate_{}", random_hex(12));
    let (url, postgres) = match &server {
        Some(server) => {
            let admin = sqlx::AnyPool::connect(server).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
            (format!("{}/{name}", server.rsplit_once('/').unwrap().0), true)
        }
        None => (format!("sqlite://{}?mode=rwc", data_dir.join("old.db").display()), false),
    };
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
    let (all, folder) = if postgres {
        (sqlx::migrate!("./migrations/postgres"), "migrations/postgres")
    } else {
        (sqlx::migrate!("./migrations/sqlite"), "migrations/sqlite")
    };
    // The migrations up to 0035, as a database last started by the version before had them.
    let older = data_dir.join("older");
    std::fs::create_dir_all(&older).unwrap();
    for file in std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder)).unwrap() {
        let path = file.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.as_str() < "0036" {
            std::fs::copy(&path, older.join(name)).unwrap();
        }
    }
    sqlx::migrate::Migrator::new(older.as_path()).await.unwrap().run(&pool).await.unwrap();

    let script = [
        "INSERT INTO organizations (id, name, created_at) VALUES ('o1', 'One', 0), ('o2', 'Two', 0)",
        "INSERT INTO connectors (id, org_id, name, account_sid, auth_token_enc, receive_inbound, state, health, \
         webhook_key, created_at, updated_at) VALUES \
         ('k1', 'o1', 'One', 'AC1', X'00', 1, 'active', 'connected', 'w1', 0, 0), \
         ('k2', 'o2', 'Two', 'AC2', X'00', 1, 'active', 'connected', 'w2', 0, 0)",
        "INSERT INTO numbers (id, connector_id, address, phone_number, provider, provider_sid, created_at) VALUES \
         ('n1', 'k1', '+14155550100', '+14155550100', 'sms', 'PN1', 0), \
         ('n2', 'k2', '+14155550200', '+14155550200', 'sms', 'PN2', 0)",
    ];
    for statement in script {
        let statement = if postgres { statement.replace("X'00'", "'\\x00'::bytea") } else { statement.to_string() };
        sqlx::query(&statement).execute(&pool).await.unwrap();
    }
    let series = if postgres {
        "SELECT g AS i FROM generate_series(0, 11999) AS g"
    } else {
        "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 11999) SELECT i FROM s"
    };
    let ids = if postgres { "lpad(i::text, 32, '0')" } else { "printf('%032d', i)" };
    let number = "CASE WHEN i % 3 = 0 THEN 'n2' ELSE 'n1' END";
    sqlx::query(&format!(
        "INSERT INTO conversations (id, number_id, guest_address, created_at, last_activity_at) \
         SELECT {ids}, {number}, '+1555' || {ids}, i, i FROM ({series}) AS s"
    ))
    .execute(&pool)
    .await
    .unwrap();
    if !postgres {
        // Half the guests indexed as the version before did (the index of guests held their number
        // and name alone), the other half still queued for its indexer.
        for statement in [
            "INSERT INTO guest_search (rowid, address, name) SELECT g.rowid, g.guest_address, \
             COALESCE(g.guest_name, '') FROM guest_queue q CROSS JOIN conversations g \
             ON g.rowid = q.conversation_rowid WHERE q.conversation_rowid % 2 = 1",
            "DELETE FROM guest_queue WHERE conversation_rowid % 2 = 1",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
    }

    all.run(&pool).await.unwrap();
    let rows: Vec<(Option<String>, i64)> =
        sqlx::query_as("SELECT org_id, COUNT(*) FROM conversations GROUP BY org_id ORDER BY org_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows, [(Some("o1".to_string()), 8000), (Some("o2".to_string()), 4000)]);
    if !postgres {
        // The guests indexed before are indexed again with their organization, each once; the
        // queued ones are left to the indexer.
        let indexed: Vec<(String, i64)> = sqlx::query_as(
            "SELECT o.id, (SELECT COUNT(*) FROM guest_search WHERE guest_search MATCH 'organization : \"' || \
             char(o.search_mark, o.search_mark, o.search_mark) || '\" AND {address name} : \"+1555\"') \
             FROM organizations o ORDER BY o.id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let expected: Vec<(String, i64)> = sqlx::query_as(
            "SELECT org_id, COUNT(*) FROM conversations WHERE rowid % 2 = 1 GROUP BY org_id ORDER BY org_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(indexed, expected);
        let (all_entries, queued): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM guest_search WHERE guest_search MATCH '\"+1555\"'), \
             (SELECT COUNT(*) FROM guest_queue)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((all_entries, queued), (6000, 6000));
    }
    if postgres {
        let (valid,): (bool,) = sqlx::query_as(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'conversations_org_state_activity'::regclass",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(valid, "the index is valid");
    }
    pool.close().await;
    if let Some(server) = &server {
        let admin = sqlx::AnyPool::connect(server).await.unwrap();
        sqlx::query(&format!("DROP DATABASE {name}")).execute(&admin).await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}
