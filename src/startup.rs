//! Wiring: builds the application from its configuration and runs the server and workers.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use app::{ports::*, shell, App};
use axum::{
    http::{header, HeaderValue, Request, StatusCode},
    routing::get,
    Router,
};
use leptos::prelude::{provide_context, LeptosOptions};
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

use crate::{
    accounts::sessions::DbSessionStore,
    config::Config,
    crypto::SecretBox,
    db::{Backend, Db},
    pipeline::{batch, ingest, jobs, sender, statuses, turns, webhook},
    state::{AppState, Shared, Tuning, Wake, SENDS_CHANNEL, TURNS_CHANNEL},
    twilio::TwilioClient,
};

pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: crate::serve::Limits,
    state: AppState,
    ingest: batch::Waiting<jobs::Inbound, jobs::Stored>,
    statuses: batch::Waiting<jobs::StatusUpdate, bool>,
    /// Changes to relay to the other instances (PostgreSQL).
    relay: Option<tokio::sync::mpsc::UnboundedReceiver<Arc<str>>>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let tuning = config.tuning();
        Self::build_with(config, tuning).await
    }

    /// Binds the listener first, so a configuration on port 0 learns its real port.
    pub async fn build_with(config: Config, tuning: Tuning) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind).await.with_context(|| format!("binding {}", config.bind))?;
        let addr = listener.local_addr()?;
        let public_url_warning = public_url_warning(config.public_url.as_deref(), addr);
        let public_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let host =
                    if addr.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], addr.port())) } else { addr };
                format!("http://{host}")
            }
        };
        private_folder(&config.data_dir)?;
        let db = Db::connect_with(&config.database_url(), config.sqlite_sync).await?;
        let key_file = config.data_dir.join("master.key");
        let mut secrets = SecretBox::load(config.master_key.as_ref(), &key_file)?;
        if secrets.new_key {
            let (sealed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM connectors").fetch_one(&db.pool).await?;
            anyhow::ensure!(
                sealed == 0,
                "the database holds {sealed} encrypted Auth Token(s) but the master key is missing: set SWITCHBOARD_MASTER_KEY \
                 or restore {} (a new key file was just created there; remove it after restoring the old one)",
                key_file.display()
            );
        } else if config.master_key.is_none() {
            secrets = crate::keys::recover_rotation(&db, secrets, &key_file).await?;
        }
        crate::keys::check_key_opens_stored(&db, &secrets).await?;
        if crate::accounts::needs_setup(&db).await? {
            let token =
                config.setup_token.as_ref().map_or_else(crate::accounts::new_setup_token, |t| t.expose().to_string());
            crate::accounts::allow_setup_token(&db, &token).await?;
            // Printed on purpose: whoever reads this log runs the machine, and only they may
            // create the first organization. The token is worthless once setup is done.
            tracing::warn!(
                "Switchboard is not set up yet. Open {public_url}/setup?token={token} to create the first \
                 organization (setup token: {token}); `switchboard create-admin` works too."
            );
        }
        let (relay_tx, relay) = match db.backend {
            Backend::Postgres => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            Backend::Sqlite => (None, None),
        };
        let (ingest_queue, ingest) = batch::queue();
        let (status_queue, statuses) = batch::queue();
        let (instance_id, instance_lock) = crate::instances::identity(&config.data_dir)?;
        let state = AppState::new(Shared {
            instance_id,
            instance_lock: instance_lock.map(Arc::new),
            hooks: Default::default(),
            ingest: ingest_queue,
            statuses: status_queue,
            media: match config.media_store.unwrap_or(match db.backend {
                Backend::Sqlite => crate::media::store::StoreKind::Files,
                Backend::Postgres => crate::media::store::StoreKind::Database,
            }) {
                crate::media::store::StoreKind::Files => {
                    crate::media::store::Store::Files(config.data_dir.join("media").into())
                }
                crate::media::store::StoreKind::Database => crate::media::store::Store::Database,
            },
            db,
            twilio: TwilioClient::new(
                &config.twilio_api_base,
                &config.twilio_messaging_base,
                &config.twilio_content_base,
            ),
            outbound: crate::egress::Outbound::new(config.outbound_allow.clone()),
            secrets: Arc::new(secrets),
            public_url: public_url.into(),
            public_url_warning: public_url_warning.map(Into::into),
            wake: Wake::default(),
            tuning,
            workers: Default::default(),
            db_health: Default::default(),
            held: Default::default(),
            metrics: Default::default(),
            metrics_token: config.metrics_token.clone().map(Arc::new),
            mailer: crate::mail::Mailer::from_config(&config)?.map(Arc::new),
            events: crate::events::Events::new(relay_tx),
            rejections: Default::default(),
            departures: Default::default(),
            minds: Default::default(),
            logins: Default::default(),
        });
        crate::dashboard::rebuild_live_if_new(&state).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let router = router(state.clone(), &config, addr);
        Ok(Self { listener, router, limits: config.limits(), state, ingest, statuses, relay })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves HTTP and runs the workers until `shutdown` completes, then drains: new webhooks get
    /// 503 for a moment while the ones in flight are stored and acknowledged; the HTTP server stops;
    /// workers finish the job in hand (anything still leased after 10 s is taken again by the next
    /// start, when its lease runs out); SQLite is checkpointed and the database closed.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let state = self.state.clone();
        let workers = state.workers.clone();
        crate::instances::take_back(&state).await.context("taking back this instance's earlier work")?;
        // Job workers (turns, sends, media) are waited for; the others are stopped.
        let mut jobs = tokio::task::JoinSet::new();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(workers.watch(self.ingest.run(ingest::IngestWriter { state: state.clone() })));
        tasks.spawn(workers.watch(self.statuses.run(statuses::StatusWriter { state: state.clone() })));
        for _ in 0..state.tuning.turn_workers.max(1) {
            jobs.spawn(workers.watch(turns::run(state.clone())));
        }
        jobs.spawn(workers.watch(crate::media::run(state.clone())));
        if let Some(interval) = state.tuning.health_check {
            tasks.spawn(workers.watch(crate::connectors::manage::health_checks(state.clone(), interval)));
        }
        for _ in 0..state.tuning.send_workers.max(1) {
            jobs.spawn(workers.watch(sender::run(state.clone())));
        }
        tasks.spawn(workers.watch(sweep_sessions(state.clone())));
        tasks.spawn(workers.watch(crate::instances::keep_alive(state.clone())));
        tasks.spawn(workers.watch(crate::inbox::lifecycle::lifecycle(state.clone(), state.tuning.lifecycle_sweep)));
        tasks.spawn(workers.watch(crate::privacy::retention::worker(state.clone(), state.tuning.retention_sweep)));
        if let Some(changes) = self.relay {
            tasks.spawn(workers.watch(state.events.clone().relay(state.db.clone(), changes)));
        }
        match state.db.backend {
            Backend::Postgres => tasks.spawn(workers.watch(listen_for_other_instances(state.clone()))),
            Backend::Sqlite => {
                tasks.spawn(workers.watch(crate::inbox::search::indexer(state.clone(), state.tuning.search_index)));
                tasks.spawn(workers.watch(state.db.clone().checkpoints()))
            }
        };
        let draining = {
            let (state, workers) = (state.clone(), workers.clone());
            async move {
                shutdown.await;
                tracing::info!("shutting down: new webhooks get 503 while the ones in flight finish");
                workers.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
                state.wake.turns.notify_waiters();
                state.wake.sends.notify_waiters();
                state.wake.media.notify_waiters();
                tokio::time::sleep(state.tuning.drain_grace).await;
            }
        };
        let served = crate::serve::serve(self.listener, self.router, self.limits, draining).await;
        // Every webhook acknowledged is stored by now (its request waited for its batch).
        let deadline = tokio::time::sleep(std::time::Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                done = jobs.join_next() => if done.is_none() { break },
                _ = &mut deadline => {
                    tracing::warn!("workers still busy after 10 s; their jobs are taken again when the leases run out");
                    jobs.abort_all();
                    break;
                }
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        crate::instances::gone(&state).await;
        if state.db.backend == Backend::Sqlite {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&state.db.pool).await {
                tracing::warn!(error = %e, "final checkpoint failed; SQLite replays the WAL at the next start");
            }
        }
        state.db.pool.close().await;
        tracing::info!("stopped");
        served.context("HTTP server")
    }
}

/// Creates the data folder (database, master key, media) readable by its owner only, or
/// narrows an existing one to that.
fn private_folder(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))
                .with_context(|| format!("making {} private to its owner", dir.display()))?;
        }
    }
    Ok(())
}

/// What to tell the admin about the public URL Twilio's webhooks go to, if anything.
fn public_url_warning(configured: Option<&str>, addr: SocketAddr) -> Option<String> {
    match configured {
        None => Some(format!(
            "SWITCHBOARD_PUBLIC_URL is not set, so webhook URLs use this machine's own address (port {}), which \
             Twilio cannot reach from the internet (the bundled simulator can). Set it to the https address \
             Twilio reaches Switchboard at.",
            addr.port()
        )),
        Some(url) if !url.starts_with("https://") => Some(format!(
            "The public URL {url} is not https. Twilio's webhooks carry your guests' messages: serve Switchboard \
             over https (for example behind a reverse proxy) and set SWITCHBOARD_PUBLIC_URL to that address."
        )),
        Some(_) => None,
    }
}

/// Wakes this instance's workers when another instance queues work (PostgreSQL LISTEN).
async fn listen_for_other_instances(state: AppState) {
    loop {
        let listened: Result<(), sqlx::Error> = async {
            let mut listener = sqlx::postgres::PgListener::connect(&state.db.url).await?;
            listener.listen_all([TURNS_CHANNEL, SENDS_CHANNEL, crate::events::EVENTS_CHANNEL]).await?;
            loop {
                let n = listener.recv().await?;
                match n.channel() {
                    TURNS_CHANNEL => state.wake.turns.notify_one(),
                    SENDS_CHANNEL => state.wake.sends.notify_one(),
                    _ => state.events.from_other_instance(n.payload()),
                }
            }
        }
        .await;
        if let Err(e) = listened {
            tracing::warn!(error = %e, "LISTEN connection lost; workers poll until it is back");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

async fn sweep_sessions(state: AppState) {
    let store = DbSessionStore::new(state.db.clone());
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        if let Err(e) = store.delete_expired().await {
            tracing::warn!(error = %e, "could not delete expired sessions");
        }
    }
}

/// Ready to take webhooks: the database answers and every background worker runs.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    let database =
        tokio::time::timeout(std::time::Duration::from_secs(2), sqlx::query("SELECT 1").execute(&state.db.pool)).await;
    let (started, running) = {
        use std::sync::atomic::Ordering::SeqCst;
        (state.workers.started.load(SeqCst), state.workers.running.load(SeqCst))
    };
    if state.workers.stopping() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down".into());
    }
    if let Some((since, error)) = state.db_health.failing() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: database refuses writes (for {} s): {error}", since.as_secs()),
        );
    }
    match database {
        Ok(Ok(_)) if state.workers.all_running() => {
            (StatusCode::OK, format!("ready: database ok, {running} workers running"))
        }
        Ok(Ok(_)) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {running} of {started} workers running")),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: database error: {e}")),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready: database did not answer within 2 s".into()),
    }
}

/// Webhook paths carry a connector's key; logs show only their shape.
fn loggable_path(path: &str) -> String {
    for prefix in ["/twilio/inbound/", "/twilio/status/"] {
        if path.starts_with(prefix) {
            return format!("{prefix}…");
        }
    }
    path.to_string()
}

/// The pages' routes, listed once per process. Leptos lists them by rendering the application,
/// and while that render runs it holds back, for good, every resource of the process that starts
/// loading then (a process-wide switch, leptos-rs/leptos#4773): a page another server of the
/// process was rendering would never end. Listed before any server of the process serves, and
/// never again, they cannot meet a page.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

fn router(state: AppState, config: &Config, addr: SocketAddr) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name("app")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let routes = route_list();
    // What the pages' server functions reach the services through: a port per feature.
    let ports = {
        let state = state.clone();
        move || {
            provide_context::<Arc<dyn AccountsPort>>(Arc::new(state.clone()));
            provide_context::<Arc<dyn ConnectorsPort>>(Arc::new(state.clone()));
            provide_context::<Arc<dyn AgentsPort>>(Arc::new(state.clone()));
            provide_context::<Arc<dyn InboxPort>>(Arc::new(state.clone()));
            provide_context::<Arc<dyn SharingPort>>(Arc::new(state.clone()));
            provide_context::<Arc<dyn DashboardPort>>(Arc::new(state.clone()));
            provide_context::<Arc<dyn PrivacyPort>>(Arc::new(state.clone()));
        }
    };
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name("switchboard_session")
        .with_secure(state.public_url.starts_with("https://"))
        .with_same_site(SameSite::Lax)
        .with_http_only(true)
        .with_expiry(Expiry::OnInactivity(time::Duration::days(7)));

    // The built UI (WASM bundle, script, CSS, icon): the .br or .gz file Trunk's build made
    // beside each one when the browser takes it; kept by the browser but checked before each
    // use (Last-Modified), so an upgrade is never run stale. Anything else is the 404 page.
    use axum::handler::Handler;
    use tower_http::compression::{predicate::*, CompressionLayer, Predicate};
    let not_found = leptos_axum::file_and_error_handler(shell).with_state(leptos_options.clone());
    let assets = tower::ServiceBuilder::new()
        .layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            |response: &axum::http::Response<_>| {
                let file = matches!(
                    response.status(),
                    StatusCode::OK | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT
                ) && response
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .is_none_or(|t| !t.as_bytes().starts_with(b"text/html"));
                file.then(|| HeaderValue::from_static("no-cache"))
            },
        ))
        .service(
            tower_http::services::ServeDir::new(&config.site_root)
                .precompressed_br()
                .precompressed_gzip()
                .append_index_html_on_directories(false)
                .fallback(not_found),
        );
    let ui = Router::new()
        .leptos_routes_with_context(&leptos_options, routes, ports, {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback_service(assets)
        .with_state(leptos_options)
        .layer(sessions.clone())
        // Pages and server functions' answers (HTML and JSON) compressed as they are made.
        .layer(
            CompressionLayer::new().br(true).gzip(true).compress_when(
                SizeAbove::new(1024)
                    .and(NotForContentType::new("application/wasm"))
                    .and(NotForContentType::const_new("text/event-stream")),
            ),
        );

    let edge = crate::edge::Edge::new(&state.public_url, config.trust_forwarded_for);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz).with_state(state.clone()))
        .route("/metrics", get(crate::metrics::http::handler).with_state(state.clone()))
        .merge(crate::media::router(state.clone(), sessions.clone()))
        .merge(crate::inbox::export::router(state.clone(), sessions))
        .merge(crate::http::api::router(state.clone()))
        .merge(ui)
        // Answers carry guests' data: nothing is stored by a browser or proxy unless it says so
        // itself (the UI's files do).
        .layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(axum::middleware::from_fn_with_state(edge, crate::edge::guard))
        // Twilio's webhooks are signed, carry no cookie and are answered in TwiML: they skip the
        // browser-facing layers above (and their cost on the busiest path).
        .merge(webhook::router(state))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            // A request id for every log line of the request: the caller's X-Request-Id (a proxy's),
            // or a new one.
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
                .map_or_else(|| crate::new_id()[16..].to_string(), str::to_string);
            tracing::info_span!("http", request_id = %request_id, method = %req.method(), path = %loggable_path(req.uri().path()))
        }))
}
