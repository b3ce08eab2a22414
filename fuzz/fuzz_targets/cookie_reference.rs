//! The D1 store's reference cookie decoder: no panic, and nothing verifies that was not
//! signed (a random input carrying a valid MAC would be a forgery).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sessiongate::cookie::key::{Key, Keyring};
use sessiongate::cookie::reference;

fuzz_target!(|data: &[u8]| {
    let keys = Keyring::new(Key::derive(&[7; 32], "cookie").unwrap(), vec![]);
    let value = String::from_utf8_lossy(data);
    assert!(reference::decode(&keys, "session_id", &value).is_err());
});
