//! The origin's command headers, the header-ownership rule, the proxy hygiene helpers,
//! the consumer's revocation messages and the freshness policy: no panic on any bytes;
//! an accepted user id is header-safe and was not joined from two headers; a private
//! Cache-Control stays private; `reauthenticated` is only ever what the origin said; a
//! re-authentication redirect is a header-safe URL whose `next` is one local path; a
//! lifetime reads back as itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sessiongate::fresh::{Asked, FreshPolicy, Refusal};
use sessiongate::lifetime::Lifetime;
use sessiongate::protocol::{parse_commands, HeaderNames, RawCommands};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let mut parts = s.splitn(3, '\n');
    let (a, b, c) = (parts.next(), parts.next(), parts.next());
    let (cmds, _errors) = parse_commands(&RawCommands {
        update: a,
        user_id: b,
        action: c,
        revoke: b,
        lifetime: c,
    });
    // A lifetime is only what the origin said, and reads back as itself.
    if let Some(lifetime) = cmds.lifetime {
        assert_eq!(Lifetime::parse(&lifetime.to_string()), Ok(lifetime));
        assert_eq!(Lifetime::from_column(lifetime.to_column().as_deref()), lifetime);
        assert!(sessiongate::protocol::header_safe(&lifetime.to_string()));
    }
    if let Some(user) = &cmds.login {
        assert!(sessiongate::protocol::header_safe(user));
        assert!(!user.contains(','), "a joined header never logs a user in");
    }
    if cmds.actions.reauthenticated {
        let said = c.unwrap_or_default().to_ascii_lowercase();
        assert!(said.contains("reauthenticated"));
    }
    // SESSION_FRESH_PATHS from the first line, the request's target from the second.
    let reauth = "https://login.example/reauth?app=1";
    if let Ok(Some(policy)) = FreshPolicy::new(a.unwrap_or_default(), 300, reauth) {
        let target = b.unwrap_or_default();
        let _ = policy.covers(target);
        let asked = Asked {
            target,
            sec_fetch_mode: c,
            accept: b,
        };
        let location = match policy.refusal(&asked) {
            Refusal::Redirect(location) => location,
            Refusal::Unauthorized(body) => {
                let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
                v["reauth_url"].as_str().expect("a URL").to_owned()
            }
        };
        assert!(sessiongate::protocol::header_safe(&location));
        let next = location.strip_prefix(reauth).expect("under the reauth URL");
        let next = next.strip_prefix("&next=%2F").expect("one local path");
        assert!(!next.starts_with("%2F") && !next.starts_with("%5C"), "{next}");
        assert!(!next.contains(['&', '#', '?', ' ']));
    }
    if let Some(cc) = sessiongate::proxy::private_cache_control(a) {
        assert!(cc.starts_with("private"));
    }
    let _ = sessiongate::proxy::forwarding(&s, b);
    // The queue consumer reads revocations from any JSON.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&s) {
        let _ = sessiongate::write::Revocation::from_message(&v);
    }
    if let Ok(names) = HeaderNames::new("X-Session-") {
        let _ = names.owns(&s);
    }
});
