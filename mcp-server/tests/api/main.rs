//! Integration tests of the MCP server, one binary, mirroring its surface:
//! tools on both backends, bad input, the HTTP transport, stdio, caching.

mod auth;
mod bad_input;
mod cache;
mod helpers;
mod import;
mod raw;
mod stdio;
mod tools;
mod transport;
mod web_search;
