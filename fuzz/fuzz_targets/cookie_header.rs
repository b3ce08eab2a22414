//! The inbound `Cookie` header: no panic; removing the session cookie leaves no session
//! cookie behind, and every cookie forwarded is one the client sent, byte for byte.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sessiongate::cookie::header;

fuzz_target!(|data: &[u8]| {
    let h = String::from_utf8_lossy(data);
    let _ = header::values(&h, "session_id").count();
    if let Some(rest) = header::without(&h, &["session_id"]) {
        assert_eq!(header::values(&rest, "session_id").count(), 0);
        for piece in rest.split("; ") {
            assert!(h.contains(piece), "{piece:?} was not in the header");
        }
    }
});
