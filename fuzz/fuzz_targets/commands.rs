//! The origin's command headers, the header-ownership rule, the proxy hygiene helpers
//! and the consumer's revocation messages: no panic on any bytes; an accepted user id is header-safe and was not joined
//! from two headers; a private Cache-Control stays private.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sessiongate::protocol::{parse_commands, HeaderNames};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let mut parts = s.splitn(3, '\n');
    let (a, b, c) = (parts.next(), parts.next(), parts.next());
    let (cmds, _errors) = parse_commands(a, b, c, b);
    if let Some(user) = &cmds.login {
        assert!(sessiongate::protocol::header_safe(user));
        assert!(!user.contains(','), "a joined header never logs a user in");
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
