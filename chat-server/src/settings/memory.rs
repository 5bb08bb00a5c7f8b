//! The memory section: `MEMORY_*`, and the job queue's `JOB_LEASE` and
//! `JOB_CONCURRENCY`.

use std::time::Duration;

use super::{SettingsError, seconds, sources::Raw};
use crate::{
    memory::{Extraction, MemorySettings},
    store::memories::{Retention, Windows},
};

const DAY_MS: i64 = 86_400_000;

/// How the background jobs run.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// How long a claimed job is held before another replica may take it.
    pub lease: Duration,
    /// Jobs each worker runs at once.
    pub concurrency: usize,
}

/// The memory settings of `raw`, and the jobs'.
pub(super) fn from_raw(raw: &Raw) -> Result<(MemorySettings, JobSettings), SettingsError> {
    let default_retention = Retention::parse(&raw.memory_retention_default).ok_or_else(|| {
        SettingsError(format!(
            "MEMORY_RETENTION_DEFAULT: expected session, short, long or pinned, got {:?}",
            raw.memory_retention_default
        ))
    })?;
    if default_retention == Retention::Session {
        return Err(SettingsError(
            "MEMORY_RETENTION_DEFAULT: session is for memories made in a conversation; use short, long or pinned".into(),
        ));
    }
    let extraction = match raw.memory_extraction.as_str() {
        "auto" => Extraction::Auto,
        "rules" => Extraction::Rules,
        "off" => Extraction::Off,
        other => {
            return Err(SettingsError(format!(
                "MEMORY_EXTRACTION: expected auto, rules or off, got {other:?}"
            )));
        }
    };
    let (short, long) = (
        raw.memory_retention_short_days,
        raw.memory_retention_long_days,
    );
    if short == 0 || long < short {
        return Err(SettingsError(format!(
            "MEMORY_RETENTION_SHORT_DAYS and MEMORY_RETENTION_LONG_DAYS: at least 1 day, and long at least as long \
             as short (got {short} and {long})"
        )));
    }
    for (name, n) in [
        ("MEMORY_TOKEN_BUDGET", raw.memory_token_budget),
        ("MEMORY_MAX_PER_USER", raw.memory_max_per_user),
    ] {
        if n == 0 {
            return Err(SettingsError(format!(
                "{name}: must be at least 1 (turn memory off with MEMORY_ENABLED=false)"
            )));
        }
    }
    let memory = MemorySettings {
        enabled: raw.memory_enabled,
        windows: Windows {
            short_ms: i64::from(short) * DAY_MS,
            long_ms: i64::from(long) * DAY_MS,
        },
        default_retention,
        token_budget: i64::from(raw.memory_token_budget),
        max_per_user: i64::from(raw.memory_max_per_user),
        extraction,
    };
    if raw.job_concurrency == 0 {
        return Err(SettingsError("JOB_CONCURRENCY: must be at least 1".into()));
    }
    let jobs = JobSettings {
        lease: seconds("JOB_LEASE", raw.job_lease)?,
        concurrency: raw.job_concurrency,
    };
    Ok((memory, jobs))
}
