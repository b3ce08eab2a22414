//! The outage pending-cookie decoder: no panic, no forgery.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sessiongate::cookie::key::{Key, Keyring};
use sessiongate::cookie::pending;

fuzz_target!(|data: &[u8]| {
    let keys = Keyring::new(Key::derive(&[7; 32], "cookie").unwrap(), vec![]);
    let value = String::from_utf8_lossy(data);
    assert!(pending::decode(&keys, "session_id-pending", &value).is_err());
});
