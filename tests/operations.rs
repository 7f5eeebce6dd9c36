//! The binary's command line and start-up checks.

mod common;

use std::process::Command;

use app::ports::Backoffice;
use common::{random_hex, spawn_app};
use switchboard::{config::Config, startup::Application};

fn switchboard(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env("SWITCHBOARD_DATA_DIR", data_dir).env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    cmd
}

#[test]
fn create_admin_sets_up_the_organization_once() {
    let dir = std::env::temp_dir().join(format!("switchboard-cli-{}", random_hex(12)));
    let run = |password: &str| {
        switchboard(&dir)
            .args(["create-admin", "--org", "Demo Hotels", "--email", "Admin@Example.com"])
            .env("SWITCHBOARD_ADMIN_PASSWORD", password)
            .output()
            .unwrap()
    };
    let short = run("short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10 characters"));

    let ok = run("a long enough password");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("admin@example.com"));

    let again = run("a long enough password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already set up"));
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
    let creds =
        switchboard::connectors::credentials(twin.state(), &app.state.list_connectors(&me).await.unwrap()[0].id)
            .await
            .unwrap();
    assert_eq!(creds.auth_token.expose(), common::TOKEN);
}
