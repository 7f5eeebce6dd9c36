//! Switchboard as real processes, for the suites that kill them or put a proxy in front of several
//! (`tests/chaos.rs`, `crash.rs`, `topology.rs`): free ports, the command that starts one, an app
//! handed over to them, and a round-robin proxy.

use super::*;

/// A port nothing listens on, for a process started later. Taken below the kernel's range of
/// ephemeral ports (32768 and up on Linux): a port the kernel gave out and took back could be
/// handed to the next outgoing connection of any test before the process binds it ("Address
/// already in use", seen once in CI). Each call in a test binary tries the next port of its own
/// sequence, which starts at a place of the process's own.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let start = (std::process::id().wrapping_mul(7919) ^ nanos) % SPAN;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The switchboard binary set up like `app` (its database, master key and simulator), on `port`.
pub fn command(app: &TestApp, port: u16, key: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .env("SWITCHBOARD_BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("SWITCHBOARD_DATA_DIR", app.data_dir.join("child"))
        .env("DATABASE_URL", &app.database_url)
        .env("SWITCHBOARD_MASTER_KEY", key)
        .env("TWILIO_API_BASE", app.sim.url())
        .env("TWILIO_MESSAGING_BASE", app.sim.url())
        .env("TWILIO_CONTENT_BASE", app.sim.url())
        .env("SWITCHBOARD_LEASE_SECS", "2")
        .env("SWITCHBOARD_SEND_RATE", "0")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

pub fn start(app: &TestApp, port: u16, key: &str) -> std::process::Child {
    command(app, port, key).spawn().unwrap()
}

/// An app set up with its connector, number and agent (Twilio's webhooks going to
/// `public_url`), whose server is then stopped so real processes can take over; returns it
/// with its master key.
pub async fn handed_over_at(
    bind: Option<u16>,
    public_url: &str,
    media_store: Option<switchboard::media::StoreKind>,
) -> (TestApp, String) {
    let mut app = spawn_app_with(|c| {
        c.media_store = media_store;
        if let Some(port) = bind {
            c.bind = format!("127.0.0.1:{port}").parse().unwrap();
        }
        c.public_url = Some(public_url.to_string());
    })
    .await;
    app.ready_path().await;
    let key = std::fs::read_to_string(app.data_dir.join("master.key")).unwrap().trim().to_string();
    app.stop_server().await;
    (app, key)
}

/// The same, for one process that takes over the app's own port.
pub async fn handed_over(port: u16) -> (TestApp, String) {
    handed_over_at(Some(port), &format!("http://127.0.0.1:{port}"), None).await
}

pub async fn wait_until_up(port: u16) {
    let client = reqwest::Client::new();
    eventually("the process answers", || {
        let client = client.clone();
        async move { client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.ok().filter(|r| r.status() == 200) }
    })
    .await;
}

/// A round-robin proxy: each request goes to the next upstream that answers; an upstream that
/// refuses the connection is skipped (and the request tried on the other).
#[derive(Clone)]
pub struct Proxy {
    pub upstreams: Arc<Vec<(String, AtomicUsize)>>,
    next: Arc<AtomicUsize>,
    client: reqwest::Client,
    pub down: Arc<AtomicBool>,
}

async fn forward(State(proxy): State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let n = proxy.upstreams.len();
    let start = proxy.next.fetch_add(1, Ordering::SeqCst);
    for i in 0..n {
        let (base, served) = &proxy.upstreams[(start + i) % n];
        let mut request = proxy.client.request(method.clone(), format!("{base}{uri}")).body(body.clone());
        for (name, value) in &headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        match request.send().await {
            Ok(answer) => {
                served.fetch_add(1, Ordering::SeqCst);
                let status = answer.status();
                let headers = answer.headers().clone();
                let bytes = answer.bytes().await.unwrap_or_default();
                let mut response = (status, bytes).into_response();
                for (name, value) in &headers {
                    if name != "content-length" && name != "transfer-encoding" {
                        response.headers_mut().insert(name.clone(), value.clone());
                    }
                }
                return response;
            }
            Err(e) if e.is_connect() => {
                proxy.down.store(true, Ordering::SeqCst);
                continue;
            }
            Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
        }
    }
    StatusCode::BAD_GATEWAY.into_response()
}

impl Proxy {
    /// Serves on `listener`, forwarding to `upstreams` (base URLs) in turn.
    pub fn serve(listener: tokio::net::TcpListener, upstreams: Vec<String>) -> Proxy {
        let proxy = Proxy {
            upstreams: Arc::new(upstreams.into_iter().map(|u| (u, AtomicUsize::new(0))).collect()),
            next: Arc::default(),
            // A new connection per request, as a proxy that finds a dead upstream by its refused connection.
            client: reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap(),
            down: Arc::default(),
        };
        let router = axum::Router::new().fallback(forward).with_state(proxy.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        proxy
    }
}
