//! Long-term memory in the chat database: each user's memories (`memories`,
//! partitioned by month on PostgreSQL, with a full-text index on both
//! engines) and profile (`user_profiles`). Every call names the owner and
//! touches nothing of anyone else's; `sql::memories` implements it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use crate::domain::Profile;

/// The owner of the local user's memories (an install without auth).
pub const LOCAL_OWNER: &str = "";

/// Search terms this long match as word prefixes ("school" finds
/// "schools"); shorter ones only whole words (as a prefix, "st" would match
/// a large part of every user's memories, and cost as much).
const MIN_PREFIX: usize = 4;

/// Whether search term `term` matches as a word prefix.
pub fn as_prefix(term: &str) -> bool {
    term.chars().count() >= MIN_PREFIX
}

/// What a memory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// Something true of the user or their work ("I work in Kisumu").
    Fact,
    /// How they want answers ("answer in Kiswahili").
    Preference,
    /// A statement behind a profile field (role, place, name, language).
    Profile,
}

/// How long a memory is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// Recalled in its own conversation only.
    Session,
    /// Until `MEMORY_RETENTION_SHORT_DAYS` (30) pass without its use.
    Short,
    /// Until `MEMORY_RETENTION_LONG_DAYS` (365) pass without its use.
    Long,
    /// Until the user removes it.
    Pinned,
}

/// How a memory came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The user wrote it (Memory page, API).
    Told,
    /// An agent saved it with the `remember` tool.
    Tool,
    /// Extracted after a turn, by the rules or by the model.
    Extracted,
}

macro_rules! text_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

text_enum!(MemoryKind { Fact => "fact", Preference => "preference", Profile => "profile" });
text_enum!(Retention { Session => "session", Short => "short", Long => "long", Pinned => "pinned" });
text_enum!(Origin { Told => "told", Tool => "tool", Extracted => "extracted" });

/// Where a memory came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub session_id: Option<String>,
    /// The message it was said in.
    pub message_id: Option<String>,
    /// The tool call whose result it came from.
    pub tool_call_id: Option<String>,
}

/// A saved memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub id: String,
    #[serde(skip)]
    pub owner: String,
    pub kind: MemoryKind,
    pub text: String,
    /// What only one memory can hold at a time (`workplace`, `language`...).
    pub slot: Option<String>,
    pub retention: Retention,
    pub origin: Origin,
    pub source: Source,
    /// Its size in the prompt.
    pub tokens: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: i64,
    pub use_count: i64,
    /// When it lapses (`None`: pinned).
    pub expires_at: Option<i64>,
    /// The memory that replaced it (history, never recalled).
    pub replaced_by: Option<String>,
}

/// A memory to save.
#[derive(Debug, Clone)]
pub struct NewMemory<'a> {
    pub owner: &'a str,
    pub kind: MemoryKind,
    pub text: &'a str,
    /// The text as compared for duplicates.
    pub norm: &'a str,
    pub slot: Option<&'a str>,
    pub retention: Retention,
    pub origin: Origin,
    pub source: Source,
    pub tokens: i64,
    pub at: i64,
    pub expires_at: Option<i64>,
}

/// What saving a memory did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    New(Memory),
    /// The same text was remembered already: that memory, refreshed (and
    /// kept at the longer of the two retentions).
    Merged(Memory),
    /// The user has `max` memories and none of them is short-term.
    Full,
}

/// A change to a memory; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct MemoryChange {
    /// The new text with its norm and tokens.
    pub text: Option<(String, String, i64)>,
    pub kind: Option<MemoryKind>,
    /// The new retention with its expiry.
    pub retention: Option<(Retention, Option<i64>)>,
    pub at: i64,
}

/// How long each retention keeps a memory after its last use, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub short_ms: i64,
    pub long_ms: i64,
}

impl Windows {
    /// When a memory of `retention` used at `at` lapses.
    pub fn expiry(&self, retention: Retention, at: i64) -> Option<i64> {
        match retention {
            Retention::Session | Retention::Short => Some(at + self.short_ms),
            Retention::Long => Some(at + self.long_ms),
            Retention::Pinned => None,
        }
    }
}

/// Memories across all users, for the security report (never their text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemoryCounts {
    pub total: i64,
    pub users: i64,
    pub session: i64,
    pub short: i64,
    pub long: i64,
    pub pinned: i64,
    /// Replaced memories kept as history.
    pub history: i64,
}

#[async_trait]
pub trait MemoryStore: Send + Sync {
    /// Saves a memory in one transaction: an active one of the same owner
    /// with the same norm is merged instead; one with the same slot is
    /// replaced (kept as history, lapsing after the short window); at `max`
    /// active memories the least used short-term one makes room.
    async fn add_memory(
        &self,
        memory: &NewMemory<'_>,
        max: i64,
        windows: &Windows,
    ) -> StoreResult<Added>;
    async fn memory(&self, owner: &str, id: &str) -> StoreResult<Option<Memory>>;
    /// Active memories, newest first; with `terms`, those containing every
    /// term (as a word prefix). With the count of all that match.
    async fn memories(
        &self,
        owner: &str,
        terms: &[String],
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<Memory>, i64)>;
    /// Everything kept of `owner`'s memories, history included, oldest first.
    async fn export_memories(&self, owner: &str) -> StoreResult<Vec<Memory>>;
    async fn change_memory(
        &self,
        owner: &str,
        id: &str,
        change: &MemoryChange,
    ) -> StoreResult<Option<Memory>>;
    async fn delete_memory(&self, owner: &str, id: &str) -> StoreResult<bool>;
    /// Deletes all of `owner`'s memories, history included.
    async fn delete_memories(&self, owner: &str) -> StoreResult<u64>;
    /// The version of `owner`'s memories (0 before the first): the
    /// database moves it on with every change to what may be recalled
    /// (not with a use counted), so a recall index of that version is
    /// still true.
    async fn memory_version(&self, owner: &str) -> StoreResult<i64>;
    /// Everything of `owner`'s that may be recalled at `now` in some
    /// conversation: nothing replaced or lapsed (session memories of every
    /// session, each knowing its own), in no order.
    async fn recallable(&self, owner: &str, now: i64) -> StoreResult<Vec<Memory>>;
    /// Counts `times` uses of each of `ids`, the last at `at`, which also
    /// moves their expiry.
    async fn mark_used(
        &self,
        owner: &str,
        ids: &[String],
        times: i64,
        at: i64,
        windows: &Windows,
    ) -> StoreResult<()>;
    /// Removes memories lapsed by `now`; how many went.
    async fn prune_memories(&self, now: i64) -> StoreResult<u64>;
    /// Makes the monthly partitions from `now`'s month to `months` ahead
    /// (PostgreSQL; nothing to do on SQLite).
    async fn prepare_partitions(&self, now: i64, months: u32) -> StoreResult<()>;
    async fn memory_counts(&self) -> StoreResult<MemoryCounts>;
    async fn profile(&self, owner: &str) -> StoreResult<Option<Profile>>;
    async fn save_profile(&self, owner: &str, profile: &Profile, at: i64) -> StoreResult<()>;
    async fn delete_profile(&self, owner: &str) -> StoreResult<bool>;
}
