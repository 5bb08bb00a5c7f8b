//! Each user's recallable memories in process, by word, so building a
//! prompt reads one row of the database rather than the user's memories.
//!
//! An index is built from the store (`recallable`) and labelled with the
//! owner's memory version, which the database moves on with every change
//! to what may be recalled; each recall reads that version first and
//! rebuilds the index when it moved, so a memory added, edited or deleted
//! through any replica is seen by the next prompt of every replica. Uses
//! (last used, use count, expiry) are no change: the replica that counts
//! one updates its own index, and other replicas see it when their index
//! is rebuilt (at the latest after `FRESH_FOR`); until then they may rank
//! by slightly older counts, and treat as lapsed a memory whose expiry a
//! use elsewhere pushed out, never the reverse.
//!
//! Hand-written rather than a search crate's index: the whole index is a
//! sorted map from folded word to memories (prefix ranges for the longer
//! terms), rebuilt in milliseconds, with no files to keep.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use super::{recall::Candidate, text::fold};
use crate::store::{
    StoreResult,
    memories::{Memory, MemoryKind, MemoryStore, Retention, Windows, as_prefix},
};

/// Bytes of memory text (and bookkeeping) all indexes together may hold.
const CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// What one memory costs in an index beyond its text.
const ENTRY_BYTES: u64 = 320;

/// An index is rebuilt at least this often, to take in other replicas' uses.
const FRESH_FOR: Duration = Duration::from_secs(600);

/// One memory with what its uses change.
struct Entry {
    memory: Memory,
    last_used_at: AtomicI64,
    use_count: AtomicI64,
    /// `i64::MAX` for never.
    expires_at: AtomicI64,
}

impl Entry {
    /// Whether it may be recalled at `now` in `session`.
    fn live(&self, now: i64, session: Option<&str>) -> bool {
        self.expires_at.load(Ordering::Relaxed) > now
            && (self.memory.retention != Retention::Session
                || self.memory.source.session_id.as_deref() == session)
    }

    /// The memory as it stands, uses included.
    fn current(&self) -> Memory {
        let mut memory = self.memory.clone();
        memory.last_used_at = self.last_used_at.load(Ordering::Relaxed);
        memory.use_count = self.use_count.load(Ordering::Relaxed);
        memory.expires_at = match self.expires_at.load(Ordering::Relaxed) {
            i64::MAX => None,
            at => Some(at),
        };
        memory
    }
}

/// One owner's recallable memories at one version.
pub struct OwnerIndex {
    version: i64,
    entries: Vec<Entry>,
    /// Folded word to the entries holding it.
    words: BTreeMap<String, Vec<u32>>,
    by_id: HashMap<String, u32>,
}

impl OwnerIndex {
    fn new(version: i64, memories: Vec<Memory>) -> Self {
        let mut words: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut by_id = HashMap::with_capacity(memories.len());
        let entries: Vec<Entry> = memories
            .into_iter()
            .enumerate()
            .map(|(i, memory)| {
                let n = u32::try_from(i).unwrap_or(u32::MAX);
                for word in memory.text.split(|c: char| !c.is_alphanumeric()) {
                    if word.is_empty() {
                        continue;
                    }
                    let list = words.entry(fold(word)).or_default();
                    if list.last() != Some(&n) {
                        list.push(n);
                    }
                }
                by_id.insert(memory.id.clone(), n);
                Entry {
                    last_used_at: AtomicI64::new(memory.last_used_at),
                    use_count: AtomicI64::new(memory.use_count),
                    expires_at: AtomicI64::new(memory.expires_at.unwrap_or(i64::MAX)),
                    memory,
                }
            })
            .collect();
        OwnerIndex {
            version,
            entries,
            words,
            by_id,
        }
    }

    fn weight(&self) -> u32 {
        let bytes: u64 = self
            .entries
            .iter()
            .map(|e| e.memory.text.len() as u64 + ENTRY_BYTES)
            .sum();
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }

    /// Entries holding `term` (folded): as a word prefix when it is long
    /// enough, else the whole word.
    fn holding(&self, term: &str, into: &mut Vec<u32>) {
        if as_prefix(term) {
            for (_, list) in self
                .words
                .range(term.to_owned()..)
                .take_while(|(word, _)| word.starts_with(term))
            {
                into.extend_from_slice(list);
            }
        } else if let Some(list) = self.words.get(term) {
            into.extend_from_slice(list);
        }
    }

    /// The `n` most recently used of `found`, most recent first.
    fn most_recent(&self, mut found: Vec<u32>, n: usize) -> Vec<u32> {
        let used = |i: &u32| {
            std::cmp::Reverse(
                self.entries[*i as usize]
                    .last_used_at
                    .load(Ordering::Relaxed),
            )
        };
        if n > 0 && found.len() > n {
            found.select_nth_unstable_by_key(n - 1, used);
        }
        found.truncate(n);
        found.sort_by_key(used);
        found
    }

    /// What a prompt at `now` in `session` chooses from, each once: the
    /// `matches` most recently used that hold any of `terms`, then the
    /// `standing` most recently used pinned or profile ones and of any
    /// kind. Bounded whatever the user keeps.
    pub fn candidates(
        &self,
        terms: &[String],
        session: Option<&str>,
        now: i64,
        (matches, standing): (usize, usize),
    ) -> Vec<Candidate> {
        let live = |i: &u32| self.entries[*i as usize].live(now, session);
        let mut hit = Vec::new();
        for term in terms {
            self.holding(&fold(term), &mut hit);
        }
        hit.sort_unstable();
        hit.dedup();
        hit.retain(live);
        let all = 0..u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let pinned: Vec<u32> = all
            .clone()
            .filter(|i| {
                let m = &self.entries[*i as usize].memory;
                (m.retention == Retention::Pinned || m.kind == MemoryKind::Profile) && live(i)
            })
            .collect();
        let recent: Vec<u32> = all.filter(live).collect();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (list, matched) in [
            (self.most_recent(hit, matches), true),
            (self.most_recent(pinned, standing), false),
            (self.most_recent(recent, standing), false),
        ] {
            for i in list {
                if seen.insert(i) {
                    out.push(Candidate {
                        memory: self.entries[i as usize].current(),
                        matched,
                    });
                }
            }
        }
        out
    }

    /// Counts a use of `ids` at `at`, moving their expiry as the store does.
    fn used(&self, ids: &[String], at: i64, windows: &Windows) {
        for id in ids {
            if let Some(&i) = self.by_id.get(id) {
                let entry = &self.entries[i as usize];
                entry.last_used_at.store(at, Ordering::Relaxed);
                entry.use_count.fetch_add(1, Ordering::Relaxed);
                let expires = windows
                    .expiry(entry.memory.retention, at)
                    .unwrap_or(i64::MAX);
                entry.expires_at.store(expires, Ordering::Relaxed);
            }
        }
    }
}

/// The indexes of the users recalled lately, within `CAPACITY_BYTES`.
pub struct RecallIndex {
    cache: moka::sync::Cache<String, Arc<OwnerIndex>>,
}

impl Default for RecallIndex {
    fn default() -> Self {
        RecallIndex {
            cache: moka::sync::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|_, index: &Arc<OwnerIndex>| index.weight())
                .time_to_live(FRESH_FOR)
                .build(),
        }
    }
}

impl RecallIndex {
    /// `owner`'s index as their memories stand: one read of their version,
    /// and a rebuild from `store` when it moved.
    pub async fn of(
        &self,
        store: &dyn MemoryStore,
        owner: &str,
        now: i64,
    ) -> StoreResult<Arc<OwnerIndex>> {
        // The version first: memories read after it are at least that new.
        let version = store.memory_version(owner).await?;
        if let Some(index) = self.cache.get(owner)
            && index.version == version
        {
            return Ok(index);
        }
        let index = Arc::new(OwnerIndex::new(
            version,
            store.recallable(owner, now).await?,
        ));
        self.cache.insert(owner.to_owned(), index.clone());
        Ok(index)
    }

    /// Counts a use of `ids` in `owner`'s index, if it is held.
    pub fn used(&self, owner: &str, ids: &[String], at: i64, windows: &Windows) {
        if let Some(index) = self.cache.get(owner) {
            index.used(ids, at, windows);
        }
    }

    /// Takes in a memory said again (refreshed without a change of version).
    pub fn refreshed(&self, memory: &Memory) {
        if let Some(index) = self.cache.get(&memory.owner)
            && let Some(&i) = index.by_id.get(&memory.id)
        {
            let entry = &index.entries[i as usize];
            entry
                .last_used_at
                .store(memory.last_used_at, Ordering::Relaxed);
            entry
                .expires_at
                .store(memory.expires_at.unwrap_or(i64::MAX), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(id: &str, text: &str, retention: Retention, used: i64) -> Memory {
        Memory {
            expires_at: Some(1_000),
            ..super::super::recall::tests::memory(id, text, retention, 5, used)
        }
    }

    fn ids(candidates: &[Candidate]) -> Vec<(&str, bool)> {
        candidates
            .iter()
            .map(|c| (c.memory.id.as_str(), c.matched))
            .collect()
    }

    fn terms(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn words_match_folded_long_ones_as_prefixes_and_the_recent_come_first() {
        let index = OwnerIndex::new(
            1,
            vec![
                memory("old", "Schools of Murang'a", Retention::Long, 1),
                memory("new", "the MURANGA schools report", Retention::Long, 5),
                memory("accent", "Élimu ya msingi", Retention::Long, 3),
                memory("st", "St Mary's", Retention::Long, 4),
                memory("other", "maps", Retention::Long, 2),
            ],
        );
        let found = index.candidates(&terms(&["school", "elimu", "st"]), None, 10, (2, 0));
        assert_eq!(
            ids(&found),
            [("new", true), ("st", true)],
            "the two most recently used of four that match"
        );
        let found = index.candidates(&terms(&["elimu", "sta"]), None, 10, (5, 0));
        assert_eq!(
            ids(&found),
            [("accent", true)],
            "accents fold; a short term only matches a whole word"
        );
        let found = index.candidates(&terms(&["maps"]), None, 10, (5, 2));
        assert_eq!(
            ids(&found),
            [("other", true), ("new", false), ("st", false)],
            "then the most recent of any kind, each once"
        );
    }

    #[test]
    fn lapsed_and_other_sessions_memories_are_left_out_and_uses_count() {
        let mut here = memory("here", "Kisumu visit", Retention::Session, 1);
        here.source.session_id = Some("s1".into());
        let mut pinned = memory("pinned", "Kisumu office", Retention::Pinned, 0);
        pinned.expires_at = None;
        let index = OwnerIndex::new(
            1,
            vec![
                here,
                pinned,
                memory("lapses", "Kisumu county", Retention::Short, 2),
            ],
        );
        let kisumu = terms(&["kisumu"]);
        assert_eq!(
            ids(&index.candidates(&kisumu, Some("s1"), 10, (10, 0))),
            [("lapses", true), ("here", true), ("pinned", true)]
        );
        assert_eq!(
            ids(&index.candidates(&kisumu, Some("s2"), 2_000, (10, 0))),
            [("pinned", true)],
            "another session's memory, and one lapsed at 1,000"
        );
        let windows = Windows {
            short_ms: 5_000,
            long_ms: 50_000,
        };
        index.used(&["lapses".to_owned()], 1_500, &windows);
        let found = index.candidates(&kisumu, Some("s2"), 2_000, (10, 0));
        assert_eq!(ids(&found), [("lapses", true), ("pinned", true)]);
        assert_eq!(found[0].memory.use_count, 1);
        assert_eq!(found[0].memory.expires_at, Some(6_500));
    }
}
