//! MAS chat server: LLM providers (this milestone), then agents, runs and the
//! streaming API.

pub mod providers;
