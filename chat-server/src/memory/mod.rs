//! Long-term memory: each user's saved memories and profile, remembered
//! across conversations and under their control.
//!
//! `Memories` is the one way in: what the API and the Memory page do (list,
//! search, add, edit, delete, export; the profile), bounded and checked
//! here; `for_run` binds it to one user for one run (`tools::RunMemory`,
//! the agents' recollection and memory tools). `index` holds each user's
//! recallable memories by word, `recall` picks what goes into a prompt,
//! `text` reads words and counts tokens, `profiles` caches profiles (Redis
//! or in process), and `extract` is the job that learns new memories after
//! each finished turn. Every call names its owner; the
//! store holds nothing that is not scoped by one.

pub mod extract;
pub mod index;
pub mod profiles;
pub mod recall;
pub mod text;
pub mod tools;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use serde::{Deserialize, Serialize};

pub use self::{profiles::Profiles, tools::RunMemory};
use crate::{
    agent::UserMemory,
    domain::{KnownValues, Profile},
    store::{
        StoreError,
        memories::{
            Added, LOCAL_OWNER, Memory, MemoryChange, MemoryCounts, MemoryKind, MemoryStore,
            NewMemory, Origin, Retention, Source, Windows,
        },
        now_ms,
    },
};

/// How memories are learnt after a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extraction {
    /// By the model when one is configured, else by the rules.
    Auto,
    /// By the rules only (explicit statements).
    Rules,
    /// Not at all (only what is remembered on purpose).
    Off,
}

/// `MEMORY_*`: what an operator decides.
#[derive(Debug, Clone)]
pub struct MemorySettings {
    /// `MEMORY_ENABLED`: off, no run reads or writes memory (users can still
    /// see, export and delete what is kept).
    pub enabled: bool,
    pub windows: Windows,
    /// The retention of a memory saved without one.
    pub default_retention: Retention,
    /// Tokens of profile and memories one prompt may carry.
    pub token_budget: i64,
    /// Active memories kept per user.
    pub max_per_user: i64,
    pub extraction: Extraction,
}

impl Default for MemorySettings {
    fn default() -> Self {
        MemorySettings {
            enabled: true,
            windows: Windows {
                short_ms: 30 * 86_400_000,
                long_ms: 365 * 86_400_000,
            },
            default_retention: Retention::Long,
            token_budget: 800,
            max_per_user: 1_000,
            extraction: Extraction::Auto,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// Input that cannot be saved; the message says why.
    #[error("{0}")]
    Invalid(String),
    #[error(
        "you have {0} memories, the most kept, and none of them short-term: delete some, or change some to short-term"
    )]
    Full(i64),
    #[error("memory is turned off on this server")]
    Off,
    #[error("no memory has id {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type MemoryResult<T> = Result<T, MemoryError>;

/// A memory as the user writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryInput {
    pub text: String,
    #[serde(default)]
    pub kind: Option<MemoryKind>,
    #[serde(default)]
    pub retention: Option<Retention>,
}

/// A change the user makes; unset fields stay.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryPatch {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub kind: Option<MemoryKind>,
    #[serde(default)]
    pub retention: Option<Retention>,
}

/// Everything kept of one user, as they download it.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub exported_at: i64,
    pub profile: Profile,
    /// History (replaced memories) included, oldest first.
    pub memories: Vec<Memory>,
}

/// The owner a principal's memories are kept under (`None`: the local user).
pub fn owner_of(user_id: Option<&str>) -> &str {
    user_id.unwrap_or(LOCAL_OWNER)
}

/// A memory's text as it is saved, or why it cannot be.
fn checked_text(text: &str) -> MemoryResult<&str> {
    let text = text.trim();
    let chars = text.chars().count();
    if text.is_empty() {
        return Err(MemoryError::Invalid("text must not be empty".into()));
    }
    if chars > text::MAX_MEMORY_CHARS {
        return Err(MemoryError::Invalid(format!(
            "text is too long ({chars} characters; at most {})",
            text::MAX_MEMORY_CHARS
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(MemoryError::Invalid(
            "text must not hold control characters".into(),
        ));
    }
    Ok(text)
}

/// Uses are written this long after the first of them, together.
const USES_WRITTEN_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Ids in one statement that counts uses.
const USES_PER_STATEMENT: usize = 200;

pub struct Memories {
    store: Arc<dyn MemoryStore>,
    index: index::RecallIndex,
    /// Uses counted in the index, not yet in the store: owner, id, times.
    uses: std::sync::Mutex<HashMap<String, HashMap<String, i64>>>,
    /// Whether a write of `uses` is on its way.
    writing: AtomicBool,
    profiles: Profiles,
    settings: MemorySettings,
    known: KnownValues,
}

impl Memories {
    pub fn new(
        store: Arc<dyn MemoryStore>,
        profiles: Profiles,
        settings: MemorySettings,
        known: KnownValues,
    ) -> Arc<Self> {
        Arc::new(Memories {
            store,
            index: index::RecallIndex::default(),
            uses: std::sync::Mutex::default(),
            writing: AtomicBool::new(false),
            profiles,
            settings,
            known,
        })
    }

    pub fn settings(&self) -> &MemorySettings {
        &self.settings
    }

    pub fn known(&self) -> &KnownValues {
        &self.known
    }

    pub(crate) fn store(&self) -> &Arc<dyn MemoryStore> {
        &self.store
    }

    pub(crate) fn index(&self) -> &index::RecallIndex {
        &self.index
    }

    /// Counts a use of each of `ids`: in this replica's index at once, in
    /// the store within `USES_WRITTEN_AFTER`, the uses of that second in
    /// one statement per owner. Writing each prompt's uses as it is built
    /// had them queue for the database's write lock (SQLite's one writer,
    /// PostgreSQL's row locks) in front of the next prompts and answers.
    /// A replica that stops loses at most that second's counts.
    pub(crate) fn used(self: &Arc<Self>, owner: &str, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        self.index
            .used(owner, ids, now_ms(), &self.settings.windows);
        {
            let mut uses = self.uses.lock().unwrap_or_else(|e| e.into_inner());
            let mine = uses.entry(owner.to_owned()).or_default();
            for id in ids {
                *mine.entry(id.clone()).or_default() += 1;
            }
        }
        if self.writing.swap(true, Ordering::AcqRel) {
            return;
        }
        let memories = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(USES_WRITTEN_AFTER).await;
            // Uses counted from here on wait for the next write.
            memories.writing.store(false, Ordering::Release);
            let uses =
                std::mem::take(&mut *memories.uses.lock().unwrap_or_else(|e| e.into_inner()));
            let at = now_ms();
            for (owner, ids) in uses {
                let mut by_times: HashMap<i64, Vec<String>> = HashMap::new();
                for (id, times) in ids {
                    by_times.entry(times).or_default().push(id);
                }
                for (times, ids) in by_times {
                    for ids in ids.chunks(USES_PER_STATEMENT) {
                        let written = memories
                            .store
                            .mark_used(&owner, ids, times, at, &memories.settings.windows)
                            .await;
                        if let Err(e) = written {
                            tracing::warn!(error = %e, "counting memory uses failed");
                        }
                    }
                }
            }
        });
    }

    /// `owner`'s memory bound for one run in `session_id`; `None` when
    /// memory is off on this server.
    pub fn for_run(self: &Arc<Self>, owner: &str, session_id: &str) -> Option<Arc<dyn UserMemory>> {
        self.settings.enabled.then(|| {
            Arc::new(RunMemory::new(self.clone(), owner, session_id)) as Arc<dyn UserMemory>
        })
    }

    /// Active memories, newest first; with `query`, those with all its words.
    pub async fn list(
        &self,
        owner: &str,
        query: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> MemoryResult<(Vec<Memory>, i64)> {
        let terms = query.map(text::terms).unwrap_or_default();
        if query.is_some_and(|q| !q.trim().is_empty()) && terms.is_empty() {
            // Only common words: nothing to search by.
            return Ok((Vec::new(), 0));
        }
        Ok(self.store.memories(owner, &terms, limit, offset).await?)
    }

    /// Saves a memory of `owner` (merged with the same text if kept already).
    pub async fn add(
        &self,
        owner: &str,
        input: &MemoryInput,
        origin: Origin,
        source: Source,
        slot: Option<&str>,
    ) -> MemoryResult<Memory> {
        if !self.settings.enabled {
            return Err(MemoryError::Off);
        }
        let text = checked_text(&input.text)?;
        let retention = input.retention.unwrap_or(self.settings.default_retention);
        if retention == Retention::Session && source.session_id.is_none() {
            return Err(MemoryError::Invalid(
                "retention \"session\" is for memories made in a conversation".into(),
            ));
        }
        let at = now_ms();
        let norm = text::norm(text);
        let new = NewMemory {
            owner,
            kind: input.kind.unwrap_or(MemoryKind::Fact),
            text,
            norm: &norm,
            slot,
            retention,
            origin,
            source,
            tokens: text::tokens(text),
            at,
            expires_at: self.settings.windows.expiry(retention, at),
        };
        match self
            .store
            .add_memory(&new, self.settings.max_per_user, &self.settings.windows)
            .await?
        {
            Added::New(memory) => Ok(memory),
            Added::Merged(memory) => {
                self.index.refreshed(&memory);
                Ok(memory)
            }
            Added::Full => Err(MemoryError::Full(self.settings.max_per_user)),
        }
    }

    pub async fn change(&self, owner: &str, id: &str, patch: &MemoryPatch) -> MemoryResult<Memory> {
        let at = now_ms();
        let mut change = MemoryChange {
            kind: patch.kind,
            at,
            ..MemoryChange::default()
        };
        if let Some(text) = &patch.text {
            let text = checked_text(text)?;
            change.text = Some((text.to_owned(), text::norm(text), text::tokens(text)));
        }
        if let Some(retention) = patch.retention {
            let current = self
                .store
                .memory(owner, id)
                .await?
                .ok_or_else(|| MemoryError::NotFound(id.to_owned()))?;
            if retention == Retention::Session && current.source.session_id.is_none() {
                return Err(MemoryError::Invalid(
                    "retention \"session\" is for memories made in a conversation".into(),
                ));
            }
            change.retention = Some((retention, self.settings.windows.expiry(retention, at)));
        }
        self.store
            .change_memory(owner, id, &change)
            .await?
            .ok_or_else(|| MemoryError::NotFound(id.to_owned()))
    }

    pub async fn delete(&self, owner: &str, id: &str) -> MemoryResult<()> {
        if self.store.delete_memory(owner, id).await? {
            Ok(())
        } else {
            Err(MemoryError::NotFound(id.to_owned()))
        }
    }

    /// Deletes every memory of `owner`, history included; how many went.
    pub async fn delete_all(&self, owner: &str) -> MemoryResult<u64> {
        Ok(self.store.delete_memories(owner).await?)
    }

    pub async fn export(&self, owner: &str) -> MemoryResult<Export> {
        Ok(Export {
            exported_at: now_ms(),
            profile: self.profiles.get(owner).await?,
            memories: self.store.export_memories(owner).await?,
        })
    }

    pub async fn profile(&self, owner: &str) -> MemoryResult<Profile> {
        Ok(self.profiles.get(owner).await?)
    }

    /// Replaces `owner`'s profile, checked against the data's places and languages.
    pub async fn set_profile(&self, owner: &str, profile: Profile) -> MemoryResult<Profile> {
        let profile = profile.checked(&self.known).map_err(MemoryError::Invalid)?;
        self.profiles.save(owner, &profile).await?;
        Ok(profile)
    }

    /// How many memories are kept, across users (for the security report).
    pub async fn counts(&self) -> MemoryResult<MemoryCounts> {
        Ok(self.store.memory_counts().await?)
    }

    /// Forgets the cached profile of a deleted user.
    pub async fn forget_user(&self, owner: &str) {
        self.profiles.invalidate(owner).await;
    }

    pub(crate) fn profiles(&self) -> &Profiles {
        &self.profiles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(
            checked_text("  I work in Kisumu \n").expect("ok"),
            "I work in Kisumu"
        );
        assert!(checked_text("   ").is_err());
        assert!(checked_text(&"x".repeat(2_001)).is_err());
        assert!(
            checked_text(&"é".repeat(2_000)).is_ok(),
            "characters, not bytes"
        );
        assert!(checked_text("bell\u{7}").is_err());
    }
}
