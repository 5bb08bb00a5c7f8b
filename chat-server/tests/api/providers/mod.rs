//! Providers: the parsers against the recorded real streams (`wire`), and
//! each vendor's client against the fake model server speaking its wire
//! format (`vendors`).

mod vendors;
mod wire;

use std::path::PathBuf;

/// The recorded streams, copied byte for byte from the shared recordings.
fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).expect("fixture")
}
