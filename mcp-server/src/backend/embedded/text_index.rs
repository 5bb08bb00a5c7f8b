//! An in-memory inverted index over normalised words, with prefix and
//! one-typo matching, for school names and story text.
//!
//! Written here rather than taken from a search crate because the job is small
//! and latency-critical (p99 under a millisecond over 42k names): a sorted
//! vocabulary gives exact and prefix matches by binary search, and a sorted
//! table of one-character deletions (the SymSpell idea) finds words one edit
//! away without building an automaton per query.

use std::{
    collections::{HashMap, hash_map::DefaultHasher},
    hash::{Hash, Hasher},
};

use crate::emis::normalize::tokens;

/// Weight of a query word matching a document word exactly.
pub const EXACT: f32 = 1.0;
/// Weight of a query word that is the beginning of a document word.
pub const PREFIX: f32 = 0.75;
/// Weight of a query word one edit away from a document word.
pub const TYPO: f32 = 0.6;

/// Prefix expansion stops after this many vocabulary words, so "s" cannot fan out to everything.
const MAX_PREFIX_EXPANSION: usize = 256;

/// Stored flat (one string of words, one array of postings, offsets into
/// both) so that ~150k distinct words of story text cost a few megabytes
/// rather than one allocation each.
#[derive(Debug, Default)]
pub struct TextIndex {
    /// The sorted distinct words, concatenated.
    words: String,
    /// End offset of word `i` in `words` (it starts where word `i - 1` ends).
    word_ends: Vec<u32>,
    /// Documents containing each word, concatenated, sorted per word.
    postings: Vec<u32>,
    /// End offset of word `i`'s documents in `postings`.
    posting_ends: Vec<u32>,
    /// (hash of a word or of the word less one character, word id), sorted.
    deletions: Vec<(u64, u32)>,
    /// Words per document, to prefer documents the query covers more fully.
    doc_words: Vec<u16>,
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl TextIndex {
    /// Indexes `docs` (already normalised text, one per document id). With
    /// `typos`, words of four or more letters also match one edit away.
    pub fn build<'a>(docs: impl Iterator<Item = &'a str>, typos: bool) -> Self {
        let mut by_word: HashMap<&'a str, Vec<u32>> = HashMap::new();
        let mut doc_words = Vec::new();
        for (doc, text) in docs.enumerate() {
            let doc = to_u32(doc);
            let mut n = 0u16;
            for word in tokens(text) {
                n = n.saturating_add(1);
                let list = by_word.entry(word).or_default();
                if list.last() != Some(&doc) {
                    list.push(doc);
                }
            }
            doc_words.push(n);
        }
        let mut entries: Vec<(&str, Vec<u32>)> = by_word.into_iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut index = TextIndex {
            doc_words,
            ..Default::default()
        };
        for (id, (word, docs)) in entries.into_iter().enumerate() {
            if typos && word.chars().count() >= 4 {
                let id = to_u32(id);
                index.deletions.push((hash(word), id));
                for variant in one_deletions(word) {
                    index.deletions.push((hash(&variant), id));
                }
            }
            index.words.push_str(word);
            index.word_ends.push(to_u32(index.words.len()));
            index.postings.extend_from_slice(&docs);
            index.posting_ends.push(to_u32(index.postings.len()));
        }
        index.deletions.sort_unstable();
        index.deletions.dedup();
        index.words.shrink_to_fit();
        index.postings.shrink_to_fit();
        index.deletions.shrink_to_fit();
        index
    }

    fn word(&self, id: usize) -> &str {
        let start = if id == 0 {
            0
        } else {
            self.word_ends[id - 1] as usize
        };
        &self.words[start..self.word_ends[id] as usize]
    }

    fn docs_of(&self, id: usize) -> &[u32] {
        let start = if id == 0 {
            0
        } else {
            self.posting_ends[id - 1] as usize
        };
        &self.postings[start..self.posting_ends[id] as usize]
    }

    /// Number of words in document `doc`.
    pub fn doc_words(&self, doc: u32) -> u16 {
        self.doc_words.get(doc as usize).copied().unwrap_or(0)
    }

    /// The vocabulary words `word` matches, with the weight of each match.
    pub fn expand(&self, word: &str) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = Vec::new();
        // First vocabulary word >= `word`: exact and prefix matches follow it in sorted order.
        let (mut lo, mut hi) = (0, self.word_ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.word(mid) < word {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        for id in (lo..self.word_ends.len()).take(MAX_PREFIX_EXPANSION) {
            let candidate = self.word(id);
            if !candidate.starts_with(word) {
                break;
            }
            if candidate == word {
                out.push((to_u32(id), EXACT));
            } else if word.chars().count() >= 2 {
                out.push((to_u32(id), PREFIX));
            }
        }
        if !self.deletions.is_empty() && word.chars().count() >= 4 {
            let mut probes = vec![hash(word)];
            probes.extend(one_deletions(word).iter().map(|v| hash(v)));
            for probe in probes {
                let from = self.deletions.partition_point(|(h, _)| *h < probe);
                for &(h, id) in &self.deletions[from..] {
                    if h != probe {
                        break;
                    }
                    if out.iter().any(|(seen, _)| *seen == id) {
                        continue;
                    }
                    if strsim::damerau_levenshtein(word, self.word(id as usize)) <= 1 {
                        out.push((id, TYPO));
                    }
                }
            }
        }
        out
    }

    /// Documents containing any of `words`, each with the best weight it matched with.
    pub fn documents(&self, words: &[(u32, f32)]) -> HashMap<u32, f32> {
        let mut docs: HashMap<u32, f32> = HashMap::new();
        for &(word, weight) in words {
            for &doc in self.docs_of(word as usize) {
                let best = docs.entry(doc).or_insert(0.0);
                if weight > *best {
                    *best = weight;
                }
            }
        }
        docs
    }
}

fn hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

fn one_deletions(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    (0..chars.len())
        .map(|skip| {
            chars
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, c)| c)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> TextIndex {
        TextIndex::build(
            [
                "bakwanin",
                "bekibon primary",
                "carolyn beatrice parker elementary",
            ]
            .into_iter(),
            true,
        )
    }

    fn docs(index: &TextIndex, word: &str) -> Vec<(u32, f32)> {
        let mut d: Vec<_> = index.documents(&index.expand(word)).into_iter().collect();
        d.sort_by_key(|(doc, _)| *doc);
        d
    }

    #[test]
    fn exact_prefix_and_typo_matches_are_found_and_weighted() {
        let index = index();
        assert_eq!(docs(&index, "bakwanin"), vec![(0, EXACT)]);
        assert_eq!(docs(&index, "bakwa"), vec![(0, PREFIX)]);
        assert_eq!(docs(&index, "bakwanim"), vec![(0, TYPO)]);
        assert_eq!(docs(&index, "bakwnain"), vec![(0, TYPO)], "transposition");
        assert_eq!(docs(&index, "bakwaninn"), vec![(0, TYPO)], "insertion");
        assert_eq!(docs(&index, "parkr"), vec![(2, TYPO)], "deletion");
        assert!(docs(&index, "zzzz").is_empty());
    }

    #[test]
    fn short_words_do_not_fuzz() {
        assert!(docs(&index(), "xyz").is_empty());
    }
}
