//! The core request path natively, per request, as the edge drives it (see
//! src/gateway/tests/mod.rs): take the cookies, resolve the session, inject the origin's
//! headers, finish with no commands. Target: under 20 us a request (issue 13).
//! `cargo bench --bench request_path`

#![allow(clippy::expect_used)] // a bench: a broken setup should stop it loudly

use criterion::{criterion_group, criterion_main, Criterion};
use sessiongate::config::Config;
use sessiongate::gateway::memory::Memory;
use sessiongate::gateway::save::RawCommands;
use sessiongate::gateway::{Context, Exchange, Inbound};
use sessiongate::store::memory::MemoryStore;
use sessiongate::time::Timestamp;
use std::hint::black_box;

const T0: Timestamp = Timestamp::from_unix(1_800_000_000);
const NO_COMMANDS: RawCommands<'static> = RawCommands {
    update: None,
    user_id: None,
    action: None,
    revoke: None,
    lifetime: None,
};
/// What a browser sends besides the session: the gateway forwards these untouched.
const OTHER_COOKIES: &str = "_ga=GA1.2.1234567890.1700000000; theme=dark; consent=yes";

fn config(store: &str) -> Config {
    Config::from_vars(|name| match name {
        "SESSION_SECRET" => Some("bench-secret-bench-secret-bench-secret-00".to_owned()),
        "SESSION_TIMEOUT_MINUTES" => Some("180".to_owned()),
        "SESSION_COOKIE_NAME" => Some("session_id".to_owned()),
        "SESSION_STORE" => Some(store.to_owned()),
        _ => None,
    })
    .expect("bench configuration")
}

/// One request through the core; returns its `Set-Cookie` values.
fn request(
    cfg: &Config,
    d1: &MemoryStore,
    memory: &Memory,
    cookie: &str,
    now: Timestamp,
    commands: RawCommands<'_>,
) -> Vec<String> {
    let (inbound, forwarded) =
        Inbound::take(Some(cookie), &cfg.cookie.name, &cfg.pending_cookie.name);
    black_box(forwarded);
    pollster::block_on(async {
        let cx = Context::new(cfg, now, false, memory);
        let exchange = Exchange::begin(cx, Some(d1), &inbound).await;
        black_box(exchange.inject("GET", "https://app.example/cart?x=1"));
        exchange.finish(200, commands).await.set_cookies
    })
}

/// The `Cookie` header of a browser logged in (with a small cart) under `cfg`.
fn logged_in(cfg: &Config, d1: &MemoryStore, memory: &Memory) -> String {
    let login = RawCommands {
        user_id: Some("bench-user"),
        update: Some(r#"{"cart":["a","b","c"],"theme":"dark"}"#),
        ..NO_COMMANDS
    };
    let set = request(cfg, d1, memory, OTHER_COOKIES, T0, login);
    let pair = set
        .iter()
        .map(|c| c.split(';').next().unwrap_or_default())
        .find(|p| p.starts_with("session_id="))
        .expect("a session cookie");
    format!("{OTHER_COOKIES}; {pair}")
}

fn request_path(c: &mut Criterion) {
    // Ten seconds on: a steady-state request (no renewal, nothing to write).
    let now = T0.plus(10);
    let mut group = c.benchmark_group("request_path");
    for store in ["d1", "cookie"] {
        let cfg = config(store);
        let (d1, memory) = (MemoryStore::new(), Memory::default());
        let cookie = logged_in(&cfg, &d1, &memory);
        assert!(request(&cfg, &d1, &memory, &cookie, now, NO_COMMANDS).is_empty());
        group.bench_function(format!("{store}, valid session"), |b| {
            b.iter(|| request(&cfg, &d1, &memory, black_box(&cookie), now, NO_COMMANDS));
        });
    }
    let cfg = config("d1");
    let (d1, memory) = (MemoryStore::new(), Memory::default());
    group.bench_function("no session", |b| {
        b.iter(|| {
            request(
                &cfg,
                &d1,
                &memory,
                black_box(OTHER_COOKIES),
                now,
                NO_COMMANDS,
            )
        });
    });
    group.finish();
}

criterion_group!(benches, request_path);
criterion_main!(benches);
