//! The origin's command headers and the header-ownership rule: no panic on any bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sessiongate::protocol::{parse_commands, HeaderNames};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let mut parts = s.splitn(3, '\n');
    let (a, b, c) = (parts.next(), parts.next(), parts.next());
    let (cmds, _errors) = parse_commands(a, b, c);
    if let Some(user) = &cmds.login {
        assert!(sessiongate::protocol::header_safe(user));
    }
    if let Ok(names) = HeaderNames::new("X-Session-") {
        let _ = names.owns(&s);
    }
});
