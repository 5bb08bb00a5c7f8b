//! Provider tests: parsers against the recorded real streams, and each
//! provider against a local fake server speaking its wire format.

mod fake;
mod wire;
