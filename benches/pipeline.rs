//! The message pipeline's benchmark: prints a table of figures.
//!
//!     cargo bench --bench pipeline        (or scripts/bench.sh)
//!
//! Switchboard runs as its own release process on SQLite (on PostgreSQL when `BENCH_DATABASE_URL`
//! names a fresh database), against the Twilio simulator in this process; the load comes from this
//! process too, over loopback. The baseline is a bare axum server (`switchboard bench-baseline`)
//! answering the same requests with the same TwiML.

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use app::{
    agents::{port::AgentInput, FaqEntry},
    connectors::port::ConnectorInput,
    ports::*,
};
use switchboard::{config::Config, startup::Application};
use twilio_sim::{Inbound, Options, Seed, SeedAccount, SeedNumber};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const SENDER: &str = "whatsapp:+14155550100";

/// Webhook throughput is measured in rounds that take turns with the bare handler's. On this
/// shared VM a single 3 s round has given anything from 0.29 to 0.50 of bare; five rounds (there
/// were three) narrow the spread of their average.
const ROUNDS: u64 = 5;
const ROUND_SECS: u64 = 3;
/// How long the acknowledgement latency goal is measured at 2,000 requests a second. A 50 ms stall
/// (one run in a few has one on this VM) holds back some 100 answers: the whole 1 % of a 5 s run,
/// half of it in 10 s. The summary also gives each second's p99, where a stall shows.
const LATENCY_SECS: u64 = 10;

/// The setup token the benchmark's instance starts with.
const BENCH_SETUP_TOKEN: &str = "sbsetup_bench-token-0123456789";
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

struct Bench {
    sim: twilio_sim::Handle,
    data: std::path::PathBuf,
    port: u16,
    key: String,
    webhook_url: String,
    /// PostgreSQL's URL, or none for SQLite in the data folder.
    database_url: Option<String>,
    /// The address Twilio is given: the instance's own, or a proxy's in front of several.
    public_url: String,
}

/// The Switchboard binary measured: this build's, or with SWITCHBOARD_BENCH_BIN=<path> another
/// build's (to compare two builds side by side on the same harness; the database it is handed
/// is set up by this build, so both must share the migrations).
fn measured_binary() -> std::path::PathBuf {
    std::env::var_os("SWITCHBOARD_BENCH_BIN").map_or_else(|| env!("CARGO_BIN_EXE_switchboard").into(), Into::into)
}

impl Bench {
    fn start(&self, extra: &[(&str, &str)]) -> Child {
        self.start_on(self.port, extra)
    }

    /// An instance listening on `port` (several may share the database behind a proxy).
    fn start_on(&self, port: u16, extra: &[(&str, &str)]) -> Child {
        // What earlier work left for the kernel to write (a build, the seed, a phase before) is
        // written now, not while this process is measured: here, a gigabyte written back held
        // another file's syncs for up to 67 ms (docs/performance.md, "Retention while webhooks
        // arrive").
        let _ = Command::new("sync").status();
        let mut cmd = Command::new(measured_binary());
        cmd.env("SWITCHBOARD_BIND", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_PUBLIC_URL", &self.public_url)
            .env("SWITCHBOARD_DATA_DIR", &self.data)
            .env_remove("DATABASE_URL")
            .env("SWITCHBOARD_MASTER_KEY", &self.key)
            .env("TWILIO_API_BASE", self.sim.url())
            .env("TWILIO_MESSAGING_BASE", self.sim.url())
            .env("TWILIO_CONTENT_BASE", self.sim.url())
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SWITCHBOARD_BENCH_LOG=<file>: the process's log (warnings and worse) goes there, for diagnosis.
        if let Some(path) = std::env::var_os("SWITCHBOARD_BENCH_LOG") {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("the log file opens");
            cmd.env("RUST_LOG", "warn").stdout(file.try_clone().expect("the log file opens twice")).stderr(file);
        }
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.spawn().expect("the switchboard binary starts")
    }
}

async fn wait_up(port: u16) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server on port {port} did not come up");
}

/// Whether SWITCHBOARD_BENCH_DETAIL asks for diagnostics on standard error besides the table.
fn detail() -> bool {
    std::env::var_os("SWITCHBOARD_BENCH_DETAIL").is_some()
}

/// Switchboard's own count of inbound webhooks answered, from `/metrics`.
#[derive(Clone, Copy)]
struct ServerAcks {
    all: u64,
    /// Within 5 ms of their arrival in the handler.
    within_5ms: u64,
    /// Within 50 ms.
    within_50ms: u64,
}

/// With [`detail`]: Switchboard's own count of inbound webhooks answered. Compared with the
/// client's figures, it tells time spent in the handler from time spent before it (connections,
/// the runtime's queue) or in this process. Without, nothing is asked of the server; nothing is
/// returned either when `/metrics` cannot be read or lacks a figure (said on standard error).
async fn server_acks(port: u16) -> Option<ServerAcks> {
    if !detail() {
        return None;
    }
    let text = match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.and_then(|r| r.error_for_status()) {
        Ok(response) => response.text().await,
        Err(e) => Err(e),
    };
    let text = text.map_err(|e| eprintln!("  the handler's own count: /metrics unread ({e})")).ok()?;
    let value = |prefix: &str| {
        let found = text.lines().find_map(|l| l.strip_prefix(prefix)).and_then(|v| v.trim().parse::<u64>().ok());
        if found.is_none() {
            eprintln!("  the handler's own count: no {prefix}in /metrics");
        }
        found
    };
    Some(ServerAcks {
        all: value("switchboard_webhook_ack_seconds_count ")?,
        within_5ms: value("switchboard_webhook_ack_seconds_bucket{le=\"0.005\"} ")?,
        within_50ms: value("switchboard_webhook_ack_seconds_bucket{le=\"0.05\"} ")?,
    })
}

/// A signed inbound webhook to `to`, ready to post: (form body, signature).
fn signed_to(url: &str, i: u64, to: &str) -> (String, String) {
    let sid = format!("SM{:032x}", (i as u128) << 20 | rand_suffix());
    let params: Vec<(String, String)> = vec![
        ("MessageSid".into(), sid.clone()),
        ("SmsMessageSid".into(), sid.clone()),
        ("SmsSid".into(), sid),
        ("AccountSid".into(), ACCOUNT.into()),
        ("From".into(), format!("whatsapp:+1777{:07}", i % 10_000_000)),
        ("To".into(), to.into()),
        ("Body".into(), "When is breakfast?".into()),
        ("NumMedia".into(), "0".into()),
        ("NumSegments".into(), "1".into()),
        ("ProfileName".into(), "Guest".into()),
        ("WaId".into(), format!("1777{:07}", i % 10_000_000)),
        ("SmsStatus".into(), "received".into()),
        ("ApiVersion".into(), "2010-04-01".into()),
    ];
    let signature = twilio_sim::sign(TOKEN, url, &params);
    (serde_urlencoded::to_string(&params).unwrap(), signature)
}

fn rand_suffix() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_us() as u64);
    (h.finish() & 0xfffff) as u128
}

async fn post(client: &reqwest::Client, url: &str, body: String, signature: &str) -> bool {
    client
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// Closed loop: `concurrency` clients post as fast as answers come, for `secs` seconds.
async fn throughput(url: &str, concurrency: usize, secs: u64, offset: u64) -> (f64, u64) {
    throughput_to(url, concurrency, secs, offset, SENDER, Connections::KeptAlive).await
}

/// How the load's clients use their connections.
#[derive(Clone, Copy)]
enum Connections {
    KeptAlive,
    /// A new connection for every request, as a client or proxy that does not keep them alive.
    NewEach,
}

async fn throughput_to(
    url: &str,
    concurrency: usize,
    secs: u64,
    offset: u64,
    to: &'static str,
    connections: Connections,
) -> (f64, u64) {
    let idle = match connections {
        Connections::KeptAlive => concurrency,
        Connections::NewEach => 0,
    };
    let client = reqwest::Client::builder().pool_max_idle_per_host(idle).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency as u64 {
        let (client, url, counter, failures) = (client.clone(), url.to_string(), counter.clone(), failures.clone());
        tasks.spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                let (body, sig) = signed_to(&url, offset + worker * 1_000_000 + i, to);
                if post(&client, &url, body, &sig).await {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                } else {
                    failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                i += 1;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let done = counter.load(std::sync::atomic::Ordering::Relaxed);
    (done as f64 / start.elapsed().as_secs_f64(), failures.load(std::sync::atomic::Ordering::Relaxed))
}

/// What an open-loop run measured: every answer's latency (µs, sorted), the p99 of each second's
/// answers (µs, in order), and how many requests failed.
struct Latencies {
    sorted: Vec<u64>,
    per_second_p99: Vec<u64>,
    failed: u64,
    /// When (ms from the start) each request answered in over 50 ms was sent.
    over_50ms_sent: Vec<u64>,
}

impl Latencies {
    /// p50, p99 and max, and the range of the seconds' p99s (a stall shows in one second's).
    fn summary(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let lowest = self.per_second_p99.iter().min().copied().unwrap_or(0);
        let highest = self.per_second_p99.iter().max().copied().unwrap_or(0);
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms (each second's p99 {:.1}–{:.1} ms)",
            ms(pct(&self.sorted, 0.5)),
            ms(pct(&self.sorted, 0.99)),
            ms(self.sorted.last().copied().unwrap_or(0)),
            ms(lowest),
            ms(highest)
        )
    }
}

/// Events counted by the tenth of a second they happened in (ms since the run began): how many,
/// and the largest figure (ms) among them. Printed as `1.2s:5x≤8ms`.
#[derive(Default)]
struct ByTenth(std::collections::BTreeMap<u64, (usize, u64)>);

impl ByTenth {
    fn note(&mut self, at_ms: u64, ms: u64) {
        let tenth = self.0.entry(at_ms / 100).or_default();
        tenth.0 += 1;
        tenth.1 = tenth.1.max(ms);
    }
}

impl std::fmt::Display for ByTenth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (tenth, (n, max)) in &self.0 {
            write!(f, "{:.1}s:{n}x≤{max}ms ", *tenth as f64 / 10.0)?;
        }
        Ok(())
    }
}

/// Open loop: requests leave at a fixed rate whatever the answers do.
async fn fixed_rate(url: &str, per_sec: u64, secs: u64, offset: u64, to: &str) -> Latencies {
    fixed_rate_on(&load_client(), url, per_sec, secs, offset, to).await
}

/// A client for [`fixed_rate_on`], keeping as many connections open as the load needs.
fn load_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap()
}

/// [`fixed_rate`] on connections `client` may have opened already (a new client opens them as the
/// load begins, and its first answers wait for that).
async fn fixed_rate_on(
    client: &reqwest::Client,
    url: &str,
    per_sec: u64,
    secs: u64,
    offset: u64,
    to: &str,
) -> Latencies {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_sec));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let began = Instant::now();
    // When the generator itself fell behind (ticks over 2 ms late, by tenth of a second): a stall
    // of this process, not of Switchboard, for the detail line below.
    let mut late = ByTenth::default();
    for i in 0..per_sec * secs {
        let due = tick.tick().await;
        let behind = due.elapsed();
        if behind > Duration::from_millis(2) {
            late.note(due.into_std().duration_since(began).as_millis() as u64, behind.as_millis() as u64);
        }
        let (body, sig) = signed_to(url, offset + i, to);
        let (client, url) = (client.clone(), url.to_string());
        tasks.spawn(async move {
            let t = Instant::now();
            let ok = post(&client, &url, body, &sig).await;
            (t.duration_since(began).as_millis() as u64, t.elapsed().as_micros() as u64, ok)
        });
    }
    let mut latencies = Vec::new();
    let mut seconds = vec![Vec::new(); secs as usize + 1];
    let mut slow = ByTenth::default();
    let mut failed = 0;
    let mut over_50ms_sent = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (at_ms, us, ok) = r.unwrap();
        if ok && us > 50_000 {
            over_50ms_sent.push(at_ms);
        }
        if ok {
            latencies.push(us);
            seconds[((at_ms / 1000) as usize).min(secs as usize)].push(us);
        } else {
            failed += 1;
        }
        if us > 5_000 {
            slow.note(at_ms, us / 1000);
        }
    }
    // With SWITCHBOARD_BENCH_DETAIL set: when the slow answers (over 5 ms) were sent, by tenth of
    // a second (how many, the slowest), to tell a stall from a steady queue.
    if detail() {
        eprintln!("  slow answers by when they were sent: {slow}");
        eprintln!("  requests sent over 2 ms late (load generator behind): {late}");
    }
    latencies.sort_unstable();
    let per_second_p99 = seconds
        .into_iter()
        .filter(|second| !second.is_empty())
        .map(|mut second| {
            second.sort_unstable();
            pct(&second, 0.99)
        })
        .collect();
    Latencies { sorted: latencies, per_second_p99, failed, over_50ms_sent }
}

/// With [`detail`]: how many of the phase's webhooks the handler itself took over 5 and over 50 ms to answer.
async fn detail_server_acks(port: u16, before: Option<ServerAcks>) {
    let (Some(before), Some(after)) = (before, server_acks(port).await) else { return };
    // Counters only grow while the process lives; one that went back means another process.
    let counted = |after: u64, before: u64| after.checked_sub(before);
    let (Some(all), Some(within_5ms), Some(within_50ms)) = (
        counted(after.all, before.all),
        counted(after.within_5ms, before.within_5ms),
        counted(after.within_50ms, before.within_50ms),
    ) else {
        eprintln!("  the handler's own count went back: the process was restarted");
        return;
    };
    let (over_5ms, over_50ms) = (all.saturating_sub(within_5ms), all.saturating_sub(within_50ms));
    eprintln!("  the handler's own count: {all} answered, {over_5ms} over 5 ms, {over_50ms} over 50 ms");
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A figure of the process's memory from `/proc/<pid>/status` (`VmHWM` peak, `VmRSS` now), in MB.
fn memory_mb(child: &Child, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn peak_rss_mb(child: &Child) -> f64 {
    memory_mb(child, "VmHWM:")
}

/// The CPU time (in clock ticks) each thread of the process has used, summed by thread name.
fn thread_cpu(child: &Child) -> std::collections::BTreeMap<String, u64> {
    let mut used = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", child.id())) else {
        return used;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default().trim().to_string();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // After the name in parentheses: state, then 10 fields, then utime and stime.
        let fields: Vec<u64> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().skip(11).take(2).filter_map(|f| f.parse().ok()).collect())
            .unwrap_or_default();
        *used.entry(name).or_default() += fields.iter().sum::<u64>();
    }
    used
}

/// The process's CPU time per webhook since `before`, in µs, in all and by thread name: where
/// the server's work goes, steadier from run to run than the throughput figure it decides.
fn cpu_per_webhook(child: &Child, before: &std::collections::BTreeMap<String, u64>, webhooks: f64) -> String {
    // Linux counts these in hundredths of a second.
    let us = |ticks: u64| ticks as f64 * 10_000.0 / webhooks.max(1.0);
    let mut used: Vec<(String, u64)> = thread_cpu(child)
        .into_iter()
        .map(|(name, ticks)| {
            let spent = ticks.saturating_sub(before.get(&name).copied().unwrap_or(0));
            (name, spent)
        })
        .filter(|(_, ticks)| *ticks > 0)
        .collect();
    used.sort_by_key(|(_, ticks)| std::cmp::Reverse(*ticks));
    let total: u64 = used.iter().map(|(_, ticks)| ticks).sum();
    let each: Vec<String> = used.iter().map(|(name, ticks)| format!("{name} {:.1}", us(*ticks))).collect();
    format!("{:.1} µs ({})", us(total), each.join(", "))
}

/// Whether SWITCHBOARD_BENCH_ONLY=throughput asks for the throughput rounds alone (under a minute):
/// for comparing two builds of the server.
fn only_throughput() -> bool {
    std::env::var("SWITCHBOARD_BENCH_ONLY").is_ok_and(|v| v == "throughput")
}

/// Whether SWITCHBOARD_BENCH_ONLY=retention asks for the retention phase alone: a day's worth of
/// old messages deleted while webhooks arrive at 2,000 a second.
fn only_retention() -> bool {
    std::env::var("SWITCHBOARD_BENCH_ONLY").is_ok_and(|v| v == "retention")
}

/// Whether SWITCHBOARD_BENCH_ONLY=compare asks for SQLite, PostgreSQL with one instance and
/// PostgreSQL with two side by side ([`compare`]).
fn only_compare() -> bool {
    std::env::var("SWITCHBOARD_BENCH_ONLY").is_ok_and(|v| v == "compare")
}

/// A loopback proxy: each connection accepted on `listener` goes to the next of `backends` in
/// turn, bytes copied both ways, as a load balancer in front of several instances does.
async fn proxy(listener: tokio::net::TcpListener, backends: Vec<u16>) {
    let mut next = 0;
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else { continue };
        let port = backends[next % backends.len()];
        next += 1;
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// One way of running Switchboard in [`compare`]: its store, its instances and the proxy in front.
struct Deployment {
    name: &'static str,
    bench: Bench,
    ports: Vec<u16>,
    instances: Vec<Child>,
}

/// A fresh database on the PostgreSQL server at `server` (its URL ends in `/postgres`).
async fn fresh_database(server: &str, name: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(server).await.expect("BENCH_POSTGRES_URL connects");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut conn).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
    format!("{}/{name}", server.rsplit_once('/').expect("a server URL ends in /postgres").0)
}

/// SWITCHBOARD_BENCH_ONLY=compare (`scripts/bench.sh compare`, which starts a PostgreSQL server
/// that syncs its commits): what moving to PostgreSQL buys and costs on this machine. Three
/// deployments run at once, each behind its own loopback proxy with its own simulator: SQLite,
/// PostgreSQL with one instance, PostgreSQL with two instances sharing the database (the proxy
/// takes turns between them, a connection each). Throughput rounds take turns between the three,
/// so the machine drifting moves them alike; then each one's acknowledgement latency at a fixed
/// rate, its inbound → reply latency and its sender under a rate cap.
async fn compare(cores: usize) {
    const COMPARE_ROUNDS: u64 = 3;
    const ACK_RATE: u64 = 1_000;
    const REPLIES: u64 = 200;
    let server = std::env::var("BENCH_POSTGRES_URL").expect(
        "BENCH_POSTGRES_URL names a PostgreSQL server (postgres://…/postgres); scripts/bench.sh compare starts one",
    );
    let mut deployments = Vec::new();
    let plans: [(&'static str, Option<&str>, usize); 3] = [
        ("SQLite", None, 1),
        ("PostgreSQL, one instance", Some("switchboard_bench_one"), 1),
        ("PostgreSQL, two instances", Some("switchboard_bench_two"), 2),
    ];
    for (name, database, count) in plans {
        let database_url = match database {
            Some(db) => Some(fresh_database(&server, db).await),
            None => None,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let public = listener.local_addr().unwrap().port();
        let bench = prepare(start_sim().await, database_url, Some(public)).await;
        let ports: Vec<u16> = std::iter::once(bench.port).chain((1..count).map(|_| free_port())).collect();
        let instances: Vec<Child> =
            ports.iter().map(|&port| bench.start_on(port, &[("SWITCHBOARD_SEND_RATE", "0")])).collect();
        for &port in &ports {
            wait_up(port).await;
        }
        tokio::spawn(proxy(listener, ports.clone()));
        deployments.push(Deployment { name, bench, ports, instances });
    }
    println!(
        "Switchboard on SQLite and on PostgreSQL side by side ({cores} cores, release build, SQLite synchronous = full, \
         PostgreSQL as BENCH_POSTGRES_URL's server runs; each deployment behind a loopback proxy, load from one process)\n"
    );
    // 1. Webhooks stored and acknowledged (to the number with no agent: no turns behind them).
    let mut stored = vec![Vec::new(); deployments.len()];
    let mut failed = vec![0; deployments.len()];
    for round in 0..COMPARE_ROUNDS {
        for (i, d) in deployments.iter().enumerate() {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let offset = 60_000_000 + (round * 10 + i as u64) * 1_000_000;
            let (rate, failures) = throughput_to(
                &d.bench.webhook_url,
                32,
                ROUND_SECS,
                offset,
                "whatsapp:+14155550111",
                Connections::KeptAlive,
            )
            .await;
            stored[i].push(rate);
            failed[i] += failures;
        }
    }
    // 2. Acknowledgement latency at a fixed rate, then 3. inbound → reply, one deployment at a time.
    let mut acks = Vec::new();
    let mut answers = Vec::new();
    for (i, d) in deployments.iter().enumerate() {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let offset = 90_000_000 + i as u64 * 1_000_000;
        acks.push(fixed_rate(&d.bench.webhook_url, ACK_RATE, LATENCY_SECS, offset, "whatsapp:+14155550111").await);
        tokio::time::sleep(Duration::from_secs(2)).await;
        answers.push(replies(&d.bench.sim.sim, REPLIES, "whatsapp:+1777").await);
    }
    // 4. The rate cap: each deployment's instances started again with a cap of 50 a second, then
    // 400 guests write at once and their replies leave the one number.
    let rss: Vec<Vec<f64>> = deployments.iter().map(|d| d.instances.iter().map(peak_rss_mb).collect()).collect();
    let mut capped = Vec::new();
    for d in deployments.iter_mut() {
        let ports = d.ports.clone();
        for (child, &port) in d.instances.iter_mut().zip(&ports) {
            child.kill().unwrap();
            child.wait().unwrap();
            *child = d.bench.start_on(port, &[("SWITCHBOARD_SEND_RATE", "50")]);
        }
        for &port in &ports {
            wait_up(port).await;
        }
        capped.push(capped_sends(&d.bench.sim.sim, 400, "whatsapp:+1666").await);
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let header: Vec<&str> = deployments.iter().map(|d| d.name).collect();
    println!("| measure | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(deployments.len()));
    let cells = |f: &dyn Fn(usize) -> String| (0..deployments.len()).map(f).collect::<Vec<_>>().join(" | ");
    println!(
        "| webhooks stored and acknowledged a second, no turns (32 connections; {COMPARE_ROUNDS} rounds of {ROUND_SECS} s, taking turns) | {} |",
        cells(&|i| {
            let mean = stored[i].iter().sum::<f64>() / stored[i].len() as f64;
            let each: Vec<String> = stored[i].iter().map(|r| format!("{r:.0}")).collect();
            format!("{mean:.0} ({}; {} failed)", each.join(", "), failed[i])
        })
    );
    println!(
        "| ack latency at {ACK_RATE} req/s for {LATENCY_SECS} s, no turns: p50 / p99 (max) | {} |",
        cells(&|i| {
            let l = &acks[i];
            format!(
                "{:.2} / {:.2} ms ({:.1}; {} failed)",
                ms(pct(&l.sorted, 0.5)),
                ms(pct(&l.sorted, 0.99)),
                ms(l.sorted.last().copied().unwrap_or(0)),
                l.failed
            )
        })
    );
    println!(
        "| inbound → reply at the simulator, FAQ brain ({REPLIES} messages, 20 ms apart): p50 / p99 | {} |",
        cells(&|i| {
            let (e2e, unanswered) = &answers[i];
            format!("{:.2} / {:.2} ms ({unanswered} unanswered)", ms(pct(e2e, 0.5)), ms(pct(e2e, 0.99)))
        })
    );
    println!(
        "| sender rate cap 50/s, 400 replies from one number: overall, most in any second | {} |",
        cells(&|i| {
            let (rate, most, sends) = capped[i];
            format!("{rate:.1}/s ({:+.1} %), {most} ({sends} sent)", (rate - 50.0) / 50.0 * 100.0)
        })
    );
    println!(
        "| peak RSS of each instance (before the rate run) | {} |",
        cells(&|i| rss[i].iter().map(|mb| format!("{mb:.0} MB")).collect::<Vec<_>>().join(", "))
    );
    for mut d in deployments {
        for child in &mut d.instances {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let _ = std::fs::remove_dir_all(&d.bench.data);
    }
}

/// The `m`th message of the `c`th old conversation: a guest's question and the answer, in turns, of
/// 14 to 17 words as a hotel's messages are (each word is one more entry to take out of the text
/// index when the message is deleted).
fn old_message(c: usize, m: usize) -> (&'static str, String) {
    const PLACES: [&str; 8] = ["breakfast room", "spa", "pool", "gym", "parking garage", "restaurant", "bar", "sauna"];
    const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    let (place, room) = (PLACES[(c + m / 2) % PLACES.len()], 100 + c % 400);
    if m.is_multiple_of(2) {
        (
            "inbound",
            format!("Hello, is the {place} open tomorrow morning? We stay in room {room} until {}.", DAYS[c % 7]),
        )
    } else {
        (
            "outbound",
            format!("Good morning! The {place} opens at {}:00, and room {room} can book it at the desk.", 6 + m % 5),
        )
    }
}

/// Messages written 40 days back, all on one day: `conversations` of 20 messages each.
const OLD_CONVERSATIONS: usize = 5_000;

async fn seed_old_day(db: &switchboard::db::Db, number_id: &str, connector_id: &str, agent_id: &str) {
    let day = switchboard::now_ms() - 40 * 86_400_000;
    for chunk in 0..OLD_CONVERSATIONS / 100 {
        let mut tx = db.begin_write().await.unwrap();
        let mut conversations = Vec::new();
        let mut messages = Vec::new();
        for c in chunk * 100..(chunk + 1) * 100 {
            let at = day + c as i64 * 10_000;
            let id = format!("{:012x}{:020x}", at as u64, c);
            conversations.push(format!(
                "('{id}', '{number_id}', 'whatsapp:+1555{c:07}', '{agent_id}', {at}, {last}, 'ended')",
                last = at + 19_000
            ));
            for m in 0..20 {
                let (direction, body) = old_message(c, m as usize);
                messages.push(format!(
                    "('{:012x}{:010x}{m:010x}', '{id}', '{connector_id}', '{direction}', '{body}', 'delivered', {})",
                    (at + m * 1000) as u64,
                    c,
                    at + m * 1000
                ));
            }
        }
        sqlx::query(&format!(
            "INSERT INTO conversations (id, number_id, guest_address, agent_id, created_at, last_activity_at, state) VALUES {}",
            conversations.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
        for part in messages.chunks(500) {
            sqlx::query(&format!(
                "INSERT INTO messages (id, conversation_id, connector_id, direction, body, status, created_at) VALUES {}",
                part.join(", ")
            ))
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
}

/// The retention phase: webhooks at 2,000 a second for 5 s with nothing to delete, then again
/// while a day's worth of messages (100,000, 40 days old) goes under a 30-day period.
async fn retention_phase(bench: &Bench) {
    let mut child = bench.start(&[("SWITCHBOARD_SEND_RATE", "0"), ("SWITCHBOARD_RETENTION_SWEEP_MS", "200")]);
    wait_up(bench.port).await;
    let url = match &bench.database_url {
        Some(url) => url.clone(),
        None => switchboard::db::sqlite_url(&bench.data),
    };
    let db = switchboard::db::Db::connect(&url).await.unwrap();
    // Between the old day (40 days back) and the period set below (30 days).
    let cutoff = switchboard::now_ms() - 35 * 86_400_000;
    let (before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE created_at < $1")
        .bind(cutoff)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // BENCH_RETENTION_RATE=<webhooks a second>: 2,000 by default; a store that cannot keep up
    // with that much on this machine queues them whatever the job does (PostgreSQL: 1,000).
    let rate: u64 = std::env::var("BENCH_RETENTION_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(2000);
    // One client for both loads: the second goes on over the connections the first opened, where a
    // client of its own would open them as the job begins (docs/performance.md, "Retention while
    // webhooks arrive", has runs of both forms).
    let client = load_client();
    let counted = server_acks(bench.port).await;
    let quiet = fixed_rate_on(&client, &bench.webhook_url, rate, 5, 50_000_000, "whatsapp:+14155550111").await;
    detail_server_acks(bench.port, counted).await;
    // BENCH_RETENTION_SECS=<seconds>: how long the load goes on once the period is set (90 by
    // default); the day must be deleted within it.
    let secs: u64 = std::env::var("BENCH_RETENTION_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(90);
    sqlx::query("UPDATE organizations SET retention_days = 30").execute(&db.pool).await.unwrap();
    let counted = server_acks(bench.port).await;
    let started = Instant::now();
    if detail() {
        // To line the slow answers' times (from here) up with what the machine did meanwhile.
        eprintln!("  the deletion's load began at {} ms since the epoch", switchboard::now_ms());
    }
    let load = {
        let url = bench.webhook_url.clone();
        tokio::spawn(async move { fixed_rate_on(&client, &url, rate, secs, 60_000_000, "whatsapp:+14155550111").await })
    };
    let mut took = None;
    while took.is_none() && started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Whether one is left (an index lookup): counting them all, ten times a second, took
        // PostgreSQL about 20 ms each time while the load ran.
        let left = sqlx::query("SELECT 1 FROM messages WHERE created_at < $1 LIMIT 1")
            .bind(cutoff)
            .fetch_optional(&db.pool)
            .await
            .unwrap();
        if left.is_none() {
            took = Some(started.elapsed());
        }
    }
    let during = load.await.unwrap();
    detail_server_acks(bench.port, counted).await;
    println!("| retention: old messages | {before}, all from one day 40 days back, under a 30-day period |");
    println!(
        "| retention: all deleted within | {} |",
        took.map_or(format!("not within {secs} s"), |t| format!("{:.1} s", t.as_secs_f64()))
    );
    println!(
        "| ack latency at {rate} req/s, nothing to delete (5 s) | {}; over 50 ms: {} |",
        quiet.summary(),
        quiet.over_50ms_sent.len()
    );
    // Of the slow answers, those to requests sent before the last old message was gone (the
    // goal's "while it runs"), and after.
    let split = match took {
        Some(t) => {
            let before = during.over_50ms_sent.iter().filter(|&&at| at < t.as_millis() as u64).count();
            let after = during.over_50ms_sent.len() - before;
            format!("{before} sent before the day was gone, {after} after")
        }
        None => "all sent before the day was gone: it was not, by the end".to_string(),
    };
    println!(
        "| ack latency at {rate} req/s while the day is deleted ({secs} s) | {}; over 50 ms: {} ({split}) |",
        during.summary(),
        during.over_50ms_sent.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Progress on standard error while the benchmark runs: which phase ended, and the process's
/// memory then.
fn progress(started: Instant, phase: &str, child: &Child) {
    eprintln!(
        "[{:6.1} s] {phase}: RSS {:.0} MB (anonymous {:.0}, files {:.0}), peak {:.0} MB",
        started.elapsed().as_secs_f64(),
        memory_mb(child, "VmRSS:"),
        memory_mb(child, "RssAnon:"),
        memory_mb(child, "RssFile:") + memory_mb(child, "RssShmem:"),
        peak_rss_mb(child)
    );
}

/// Waits until `expected` sends to guests whose address starts with `to` have been accepted
/// since the `start`th attempt.
async fn wait_quiet(sim: &twilio_sim::Sim, start: usize, to: &str, expected: usize) {
    for _ in 0..1200 {
        if sim.send_attempts_since(start).iter().filter(|a| a.status == 201 && a.to.starts_with(to)).count() >= expected
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The simulator, with one account of two WhatsApp numbers.
async fn start_sim() -> twilio_sim::Handle {
    let account = SeedAccount {
        sid: ACCOUNT.into(),
        auth_token: TOKEN.into(),
        friendly_name: "Bench".into(),
        kind: "Full".into(),
        numbers: vec![
            SeedNumber {
                phone_number: "+14155550100".into(),
                display_name: None,
                whatsapp: true,
                sms: false,
                sender_status: "ONLINE".into(),
            },
            // Listed but never activated: its messages are stored and acknowledged, nothing more.
            SeedNumber {
                phone_number: "+14155550111".into(),
                display_name: None,
                whatsapp: true,
                sms: false,
                sender_status: "ONLINE".into(),
            },
        ],
        templates: vec![],
        services: vec![],
        sandbox_keyword: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = Options { sender_update_delay: Duration::from_millis(20), status_delay: Duration::from_millis(200) };
    twilio_sim::start(listener, Seed { accounts: vec![account] }, options, None).await.unwrap()
}

/// Sets up the path in-process (a connector, its first number's webhook, an agent with an FAQ on
/// it), then hands the database to the release process(es) [`Bench`] starts: SQLite in a data
/// folder of its own, or PostgreSQL at `database_url`. Twilio is given `public_port`'s address,
/// or the instance's own without one.
async fn prepare(sim: twilio_sim::Handle, database_url: Option<String>, public_port: Option<u16>) -> Bench {
    // Set up the path in-process, then hand the database to a release process.
    let data = std::env::temp_dir().join(format!("switchboard-bench-{}", switchboard::new_id()));
    let port = free_port();
    let mut config = Config::for_data_dir(data.clone());
    config.bind = format!("127.0.0.1:{port}").parse().unwrap();
    config.twilio_api_base = sim.url();
    config.twilio_messaging_base = sim.url();
    config.twilio_content_base = sim.url();
    config.setup_token = Some(switchboard::crypto::Secret::new(BENCH_SETUP_TOKEN));
    let public_url = format!("http://127.0.0.1:{}", public_port.unwrap_or(port));
    config.public_url = Some(public_url.clone());
    config.database_url = database_url.clone();
    let app = Application::build(config).await.unwrap();
    let state = app.state().clone();
    let server = tokio::spawn(app.run_until(std::future::pending()));
    let me = state
        .setup(BENCH_SETUP_TOKEN.into(), "Bench".into(), "bench@example.com".into(), "bench password".into())
        .await
        .unwrap();
    let c = state.create_connector(&me, ConnectorInput::new("Bench", ACCOUNT, TOKEN)).await.unwrap();
    let rows = state.list_numbers(&me, &c.id).await.unwrap();
    let row = rows.iter().find(|r| r.phone_number == "+14155550100").unwrap().clone();
    state.save_numbers(&me, &c.id, vec![row.id.clone()], false).await.unwrap();
    state.set_webhook(&me, &c.id, &row.id).await.unwrap();
    let agent = state
        .create_agent(
            &me,
            AgentInput {
                name: "bench".into(),
                fallback_reply: "Thanks!".into(),
                faq: vec![FaqEntry { question: "When is breakfast?".into(), answer: "From 7 to 10.".into() }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    state.add_channel(&me, &agent.id, &row.id).await.unwrap();
    let webhook_url = state.connector(&me, &c.id).await.unwrap().inbound_webhook_url;
    // BENCH_AFTER_SETUP_SQL=<statement>: run on the database before the process under test starts,
    // to measure what a part of the schema costs (`DROP INDEX messages_search_by_connector`: the
    // search index, on PostgreSQL).
    if only_retention() {
        seed_old_day(&state.db, &row.id, &c.id, &agent.id).await;
        // Forty days on, their words have long been in the search index.
        switchboard::inbox::search::index_queued(&state.db).await.unwrap();
        switchboard::inbox::search::merge(&state.db, Duration::MAX).await.unwrap();
    }
    if let Some(sql) = std::env::var("BENCH_AFTER_SETUP_SQL").ok().filter(|s| !s.is_empty()) {
        sqlx::raw_sql(&sql).execute(&state.db.pool).await.expect("BENCH_AFTER_SETUP_SQL runs");
        println!("After setup: {sql}");
    }
    server.abort();
    while !server.is_finished() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(state);
    let key = std::fs::read_to_string(data.join("master.key")).unwrap().trim().to_string();
    Bench { sim, data, port, key, webhook_url, database_url, public_url }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if only_compare() {
        compare(cores).await;
        return;
    }
    let database_url = std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty());
    let bench = prepare(start_sim().await, database_url, None).await;
    let data = bench.data.clone();

    // SWITCHBOARD_SQLITE_SYNC=normal (inherited by the process under test) measures what the
    // durable commit costs: the same rounds without a sync per commit.
    let sync = std::env::var("SWITCHBOARD_SQLITE_SYNC").unwrap_or_else(|_| "full".into());
    let database = match bench.database_url {
        Some(_) => "PostgreSQL".to_string(),
        None => format!("SQLite synchronous = {sync}"),
    };
    println!(
        "Switchboard pipeline benchmark ({cores} cores, {database}, release build, load over loopback from one process)"
    );
    println!("Measured binary: {}\n", measured_binary().display());
    if only_retention() {
        retention_phase(&bench).await;
        let _ = std::fs::remove_dir_all(&bench.data);
        return;
    }

    // 1. Throughput: the real webhook against a bare axum handler, in turns (five rounds of
    // each, 3 s at a time), so that the machine drifting (a shared VM) moves both alike. Before
    // each bare round Switchboard's checkpoints and leftovers settle, so they take nothing from it.
    let base_port = free_port();
    let mut baseline = Command::new(measured_binary())
        .args(["--bind", &format!("127.0.0.1:{base_port}"), "bench-baseline"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_up_baseline(base_port).await;
    let baseline_url = bench.webhook_url.replace(&format!(":{}/", bench.port), &format!(":{base_port}/"));

    let started = Instant::now();
    let mut child = bench.start(&[("SWITCHBOARD_SEND_RATE", "0")]);
    wait_up(bench.port).await;
    progress(started, "started", &child);
    let cpu_before = thread_cpu(&child);
    let bare_cpu_before = thread_cpu(&baseline);
    let mut rounds = Vec::new();
    let mut ingest_failures = 0;
    for round in 0..ROUNDS {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (bare, _) = throughput(&baseline_url, 32, ROUND_SECS, 0).await;
        let (ingest, failed) = throughput_to(
            &bench.webhook_url,
            32,
            ROUND_SECS,
            30_000_000 + round * 100_000,
            "whatsapp:+14155550111",
            Connections::KeptAlive,
        )
        .await;
        ingest_failures += failed;
        rounds.push((bare, ingest));
    }
    // The same with a new connection for every request: what each connection costs the server
    // shows here (axum rebuilding its router per connection once cost 40 % of this figure).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (bare_new, _) = throughput_to(&baseline_url, 32, ROUND_SECS, 0, SENDER, Connections::NewEach).await;
    let (ingest_new, new_failures) =
        throughput_to(&bench.webhook_url, 32, ROUND_SECS, 35_000_000, "whatsapp:+14155550111", Connections::NewEach)
            .await;
    let bare = rounds.iter().map(|r| r.0).sum::<f64>() / rounds.len() as f64;
    let ingest_only = rounds.iter().map(|r| r.1).sum::<f64>() / rounds.len() as f64;
    if detail() || only_throughput() {
        let per_round = |rate: f64, new_each: f64| (rate * ROUNDS as f64 + new_each) * ROUND_SECS as f64;
        eprintln!(
            "  Switchboard's CPU time per webhook in those rounds: {}; the bare handler's: {}",
            cpu_per_webhook(&child, &cpu_before, per_round(ingest_only, ingest_new)),
            cpu_per_webhook(&baseline, &bare_cpu_before, per_round(bare, bare_new))
        );
    }
    baseline.kill().unwrap();
    baseline.wait().unwrap();
    if only_throughput() {
        let each: Vec<String> =
            rounds.iter().map(|(bare, ingest)| format!("{ingest:.0}/{bare:.0} = {:.3}", ingest / bare)).collect();
        println!(
            "webhooks stored and acknowledged: {:.3} of bare (rounds {}); a new connection each: {:.3}",
            ingest_only / bare,
            each.join(", "),
            ingest_new / bare_new
        );
        child.kill().unwrap();
        child.wait().unwrap();
        let _ = std::fs::remove_dir_all(data);
        return;
    }
    progress(started, "webhook throughput, no turns", &child);
    // As before the other latency run: the throughput run's backlog (checkpoint, turns) settles first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = server_acks(bench.port).await;
    let lat_ingest = fixed_rate(&bench.webhook_url, 2000, LATENCY_SECS, 40_000_000, "whatsapp:+14155550111").await;
    detail_server_acks(bench.port, before).await;
    progress(started, "ack latency, no turns", &child);
    let (stored, failures) = throughput(&bench.webhook_url, 32, 5, 10_000_000).await;
    progress(started, "webhook throughput, answered", &child);

    // 2. Acknowledgement latency at a fixed 2,000 requests per second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = server_acks(bench.port).await;
    let lat = fixed_rate(&bench.webhook_url, 2000, 5, 20_000_000, SENDER).await;
    detail_server_acks(bench.port, before).await;
    progress(started, "ack latency, answered", &child);

    // 3. Inbound → reply arriving at the simulator, at a gentle 50 messages per second, once the
    // replies still owed from the runs above have gone out (the sends stop growing).
    let drain = Instant::now();
    let mut last = bench.sim.sim.send_attempt_count();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = bench.sim.sim.send_attempt_count();
        if now == last || drain.elapsed() > Duration::from_secs(120) {
            break;
        }
        last = now;
    }
    let drained = drain.elapsed().as_secs_f64() - 1.0;
    progress(started, &format!("backlog answered ({last} sends in all)"), &child);
    let (e2e, unanswered) = replies(&bench.sim.sim, 300, "whatsapp:+1888").await;
    progress(started, "reply latency", &child);
    let rss_load = peak_rss_mb(&child);

    // 4. A pause: the process stopped for half a second (SIGSTOP, as a stalled VM or a machine
    // under pressure would) while webhooks keep coming at 2,000 a second. Twilio's requests queue
    // in the kernel and arrive together, most on new connections: all must be answered, and the
    // process must not balloon to take them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = child.id().to_string();
    let pause = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let signal = |name: &str| {
            let sent = Command::new("kill").args([name, pid.as_str()]).status();
            assert!(sent.is_ok_and(|s| s.success()), "kill {name} failed");
        };
        signal("-STOP");
        tokio::time::sleep(Duration::from_millis(500)).await;
        signal("-CONT");
    });
    let lat_pause = fixed_rate(&bench.webhook_url, 2000, 5, 50_000_000, "whatsapp:+14155550111").await;
    pause.await.unwrap();
    progress(started, "a pause of 0.5 s", &child);
    let rss_pause = peak_rss_mb(&child);
    child.kill().unwrap();
    child.wait().unwrap();

    // 5. The rate cap: 400 replies from one number capped at 50 per second.
    let cap = 50.0;
    let mut capped = bench.start(&[("SWITCHBOARD_SEND_RATE", "50")]);
    wait_up(bench.port).await;
    let (rate, max_in_second, sends) = capped_sends(&bench.sim.sim, 400, "whatsapp:+1999").await;
    let rss_cap = peak_rss_mb(&capped);
    capped.kill().unwrap();
    capped.wait().unwrap();

    println!("| measure | figure | goal |");
    println!("|---|---|---|");
    let each: Vec<String> = rounds.iter().map(|(bare, ingest)| format!("{:.2}", ingest / bare)).collect();
    println!("| bare axum handler, 32 connections ({ROUNDS} rounds of {ROUND_SECS} s) | {bare:.0} req/s | |");
    println!(
        "| signed webhooks stored and acknowledged, no agent turns behind them (rounds between the bare ones) | {ingest_only:.0} req/s ({:.3} of bare; rounds {}; {ingest_failures} failed) | ≥ 0.35 of bare |",
        ingest_only / bare,
        each.join(", ")
    );
    println!(
        "| the same, a new connection for every request (one round) | {ingest_new:.0} req/s against {bare_new:.0} bare ({:.2}; {new_failures} failed) | (context) |",
        ingest_new / bare_new
    );
    println!(
        "| the same while every message is answered (turn, send, 3 status callbacks each) | {stored:.0} req/s ({:.2} of bare; {failures} failed) | (context) |",
        stored / bare
    );
    println!(
        "| ack latency at 2,000 req/s for {LATENCY_SECS} s, no agent turns behind them ({} requests, {} failed) | {} | p99 ≤ 5 ms |",
        lat_ingest.sorted.len(),
        lat_ingest.failed,
        lat_ingest.summary()
    );
    println!(
        "| the same for 5 s while every message is answered ({} requests, {} failed) | {} | (context) |",
        lat.sorted.len(),
        lat.failed,
        lat.summary()
    );
    println!("| replies still owed after the answered runs, all sent within | {drained:.0} s | |");
    println!(
        "| inbound → reply at the simulator, FAQ brain ({} messages at 50/s; {unanswered} unanswered within 10 s, counted as 10 s) | p50 {:.2} ms, p99 {:.2} ms | p50 ≤ 10 ms, p99 ≤ 50 ms, none unanswered |",
        e2e.len(),
        pct(&e2e, 0.5) as f64 / 1000.0,
        pct(&e2e, 0.99) as f64 / 1000.0
    );
    println!(
        "| sender rate cap {cap:.0}/s, {sends} sends | {rate:.1}/s overall ({:+.1} %), at most {max_in_second} in any second | within 5 %, never above |",
        (rate - cap) / cap * 100.0
    );
    println!(
        "| peak RSS of the Switchboard process | {:.0} MB under load, {:.0} MB in the rate run | ≤ 150 MB |",
        rss_load, rss_cap
    );
    println!(
        "| the process paused 0.5 s (SIGSTOP) under 2,000 req/s, no agent turns ({} requests, {} failed) | {}; peak RSS {rss_pause:.0} MB | (context) |",
        lat_pause.sorted.len(),
        lat_pause.failed,
        lat_pause.summary()
    );
    let _ = std::fs::remove_dir_all(data);
}

/// Inbound → reply at the simulator: `count` guests (`prefix` and a number each) ask the FAQ's
/// question one after another, 20 ms apart, each timed until its reply reaches the simulator.
/// Returns the times sorted, in µs, and how many got no reply within 10 s (each counted as its
/// whole wait: a reply that never comes is no sample left out).
async fn replies(sim: &twilio_sim::Sim, count: u64, prefix: &str) -> (Vec<u64>, usize) {
    let mut e2e = Vec::new();
    let mut unanswered = 0;
    for i in 0..count {
        let guest = format!("{prefix}{i:07}");
        let t0 = now_us();
        let inbound = Inbound {
            to: SENDER.into(),
            from: guest.clone(),
            body: "When is breakfast?".into(),
            profile_name: None,
            media: vec![],
            ..Default::default()
        };
        // Only the attempts after this point are read while polling: copying the whole history
        // (tens of thousands by now) under the simulator's lock would delay the very send timed.
        let seen = sim.send_attempt_count();
        sim.guest_message(inbound).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(a) = sim.send_attempts_since(seen).iter().find(|a| a.to == guest && a.status == 201) {
                e2e.push((a.at_us - t0).max(0) as u64);
                break;
            }
            if Instant::now() > deadline {
                unanswered += 1;
                e2e.push((now_us() - t0).max(0) as u64);
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    e2e.sort_unstable();
    (e2e, unanswered)
}

/// The rate cap at work: `count` guests (`prefix` and a number each) write at once, and their
/// replies leave one number under its cap. Returns the rate over all the sends (the first to the
/// last), the most that left in any one second, and how many left.
async fn capped_sends(sim: &twilio_sim::Sim, count: u64, prefix: &str) -> (f64, usize, usize) {
    let start = sim.send_attempt_count();
    for i in 0..count {
        let inbound = Inbound {
            to: SENDER.into(),
            from: format!("{prefix}{i:07}"),
            body: "When is breakfast?".into(),
            profile_name: None,
            media: vec![],
            ..Default::default()
        };
        sim.guest_message(inbound).await.unwrap();
    }
    wait_quiet(sim, start, prefix, count as usize).await;
    let mut times: Vec<i64> =
        sim.send_attempts().iter().filter(|a| a.status == 201 && a.to.starts_with(prefix)).map(|a| a.at_us).collect();
    times.sort_unstable();
    let rate = (times.len() as f64 - 1.0) / ((times[times.len() - 1] - times[0]) as f64 / 1e6);
    let max_in_second = times
        .iter()
        .enumerate()
        .map(|(i, t)| times[i..].iter().take_while(|u| **u < t + 1_000_000).count())
        .max()
        .unwrap_or(0);
    (rate, max_in_second, times.len())
}

async fn wait_up_baseline(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("baseline did not come up");
}
