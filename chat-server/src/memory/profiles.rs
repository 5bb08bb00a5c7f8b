//! Profiles, read before every recollection and so cached: in Redis when it
//! is configured (`user_profile:{id}`, an hour, shared by the replicas), in
//! process otherwise; a save invalidates the cached copy. A Redis outage
//! only means reading the database.

use std::{sync::Arc, time::Duration};

use redis::{AsyncCommands, aio::ConnectionManager};

use crate::{
    domain::Profile,
    store::{StoreResult, memories::MemoryStore, now_ms},
};

/// How long a cached profile is trusted.
pub const PROFILE_TTL: Duration = Duration::from_secs(3600);

fn key(owner: &str) -> String {
    if owner.is_empty() {
        "user_profile:local".into()
    } else {
        format!("user_profile:{owner}")
    }
}

fn counted(result: &'static str) {
    metrics::counter!("mas_profile_cache_total", "result" => result).increment(1);
}

#[derive(Clone)]
pub struct Profiles {
    store: Arc<dyn MemoryStore>,
    redis: Option<ConnectionManager>,
    local: moka::future::Cache<String, Profile>,
}

impl Profiles {
    pub fn new(store: Arc<dyn MemoryStore>, redis: Option<ConnectionManager>) -> Self {
        Profiles {
            store,
            redis,
            local: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(PROFILE_TTL)
                .build(),
        }
    }

    /// `owner`'s profile (the default one when none was saved).
    pub async fn get(&self, owner: &str) -> StoreResult<Profile> {
        let key = key(owner);
        match &self.redis {
            Some(redis) => {
                let mut connection = redis.clone();
                let cached: redis::RedisResult<Option<String>> = connection.get(&key).await;
                if let Ok(Some(json)) = &cached
                    && let Ok(profile) = serde_json::from_str(json)
                {
                    counted("hit");
                    return Ok(profile);
                }
                counted("miss");
                let profile = self.store.profile(owner).await?.unwrap_or_default();
                if let Ok(json) = serde_json::to_string(&profile) {
                    let set: redis::RedisResult<()> =
                        connection.set_ex(&key, json, PROFILE_TTL.as_secs()).await;
                    if let Err(e) = set {
                        tracing::debug!(error = %e, "caching a profile in Redis failed");
                    }
                }
                Ok(profile)
            }
            None => {
                if let Some(profile) = self.local.get(&key).await {
                    counted("hit");
                    return Ok(profile);
                }
                counted("miss");
                let profile = self.store.profile(owner).await?.unwrap_or_default();
                self.local.insert(key, profile.clone()).await;
                Ok(profile)
            }
        }
    }

    /// Saves `owner`'s profile and drops the cached copy.
    pub async fn save(&self, owner: &str, profile: &Profile) -> StoreResult<()> {
        self.store.save_profile(owner, profile, now_ms()).await?;
        self.invalidate(owner).await;
        Ok(())
    }

    /// Drops the cached copy of `owner`'s profile.
    pub async fn invalidate(&self, owner: &str) {
        let key = key(owner);
        self.local.invalidate(&key).await;
        if let Some(redis) = &self.redis {
            let mut connection = redis.clone();
            let deleted: redis::RedisResult<()> = connection.del(&key).await;
            if let Err(e) = deleted {
                tracing::warn!(error = %e, "dropping a cached profile from Redis failed");
            }
        }
    }
}
