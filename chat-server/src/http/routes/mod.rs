//! The handlers, one file per resource: `chat` (start a run, streamed or
//! whole), `runs` (follow, resume, cancel), `sessions`, `account` (sign-in),
//! `own` (one's password and keys), `memory` (one's memories and profile),
//! `admin` (users, keys), `report` (the security report), `health` (probes,
//! status, metrics), `web` (the pages and their assets), `openai` (`/v1`).

pub mod account;
pub mod admin;
pub mod chat;
pub mod health;
pub mod memory;
pub mod openai;
pub mod own;
pub mod report;
pub mod runs;
pub mod sessions;
pub mod web;
