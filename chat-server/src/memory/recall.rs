//! Which memories go into a prompt, and how they read there. Candidates
//! (`index`: the user's memories that hold the question's words, pinned and
//! profile memories, the most recently used; a bounded few hundred) are scored by how well they match
//! the question's words (each word weighted by how rare it is among them),
//! retention, recency and use, then taken best first while they fit the
//! token budget; the profile and the chosen memories become a section of
//! the system prompt.

use super::text::fold;
use crate::{
    domain::Profile,
    store::memories::{Memory, MemoryKind, Retention, as_prefix},
};

/// A memory that may be recalled, and whether it matched the question's
/// words (`matching` scores how well).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub memory: Memory,
    pub matched: bool,
}

/// At most this many memories go into one prompt.
pub const MAX_RECALLED: usize = 20;

/// What a memory's line costs beyond its text: the dash, the handle.
const LINE_TOKENS: i64 = 6;

const DAY_MS: f64 = 86_400_000.0;

/// How well each candidate's words match `terms` (folded; the longer as
/// word prefixes),
/// from 0 to 1: the matched terms' weights over all terms' weights, a term
/// weighing more the fewer candidates have it.
fn matching(candidates: &[Candidate], terms: &[String]) -> Vec<f64> {
    if terms.is_empty() {
        return vec![0.0; candidates.len()];
    }
    let terms: Vec<String> = terms.iter().map(|t| fold(t)).collect();
    let has: Vec<Vec<bool>> = candidates
        .iter()
        .map(|c| {
            let words: Vec<String> = c
                .memory
                .text
                .split(|ch: char| !ch.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(fold)
                .collect();
            terms
                .iter()
                .map(|t| {
                    c.matched
                        && words.iter().any(|w| {
                            if as_prefix(t) {
                                w.starts_with(t.as_str())
                            } else {
                                w == t
                            }
                        })
                })
                .collect()
        })
        .collect();
    let n = candidates.len() as f64;
    let weights: Vec<f64> = (0..terms.len())
        .map(|t| {
            let df = has.iter().filter(|h| h[t]).count() as f64;
            (1.0 + (n + 1.0) / (df + 0.5)).ln()
        })
        .collect();
    let total: f64 = weights.iter().sum();
    has.iter()
        .map(|h| {
            let got: f64 = h
                .iter()
                .zip(&weights)
                .filter(|(m, _)| **m)
                .map(|(_, w)| w)
                .sum();
            got / total
        })
        .collect()
}

fn score(memory: &Memory, matched: f64, now: i64) -> f64 {
    let retention = match memory.retention {
        Retention::Pinned => 0.6,
        Retention::Session => 0.5,
        Retention::Long => 0.4,
        Retention::Short => 0.3,
    };
    let kind = match memory.kind {
        MemoryKind::Preference | MemoryKind::Profile => 0.3,
        MemoryKind::Fact => 0.0,
    };
    let age_days = (now - memory.last_used_at).max(0) as f64 / DAY_MS;
    let recency = 0.5 * (-age_days / 14.0).exp();
    let used = 0.15 * (1.0 + memory.use_count.max(0) as f64).ln();
    2.0 * matched + retention + kind + recency + used
}

/// The candidates best first for a question of `terms`, as many as fit
/// `budget` tokens (one that does not fit makes way for smaller ones), at
/// most `MAX_RECALLED`; with `matched_only`, only those matching a term.
pub fn choose(
    candidates: Vec<Candidate>,
    terms: &[String],
    now: i64,
    budget: i64,
    matched_only: bool,
) -> Vec<Memory> {
    let matching = matching(&candidates, terms);
    let mut scored: Vec<(f64, Memory)> = candidates
        .into_iter()
        .zip(matching)
        .filter(|(_, m)| !matched_only || terms.is_empty() || *m > 0.0)
        .map(|(c, m)| (score(&c.memory, m, now), c.memory))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let mut left = budget;
    let mut chosen = Vec::new();
    for (_, memory) in scored {
        let cost = memory.tokens + LINE_TOKENS;
        if cost <= left {
            left -= cost;
            chosen.push(memory);
            if chosen.len() == MAX_RECALLED {
                break;
            }
        }
    }
    chosen
}

/// The profile's lines, or nothing when it is empty.
pub fn profile_section(profile: &Profile) -> String {
    if profile.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n\n## About the user\nFrom their profile. Use it to answer for them (their county, their language, \
         the detail they like) without saying you were told.",
    );
    if let Some(name) = &profile.display_name {
        out.push_str(&format!("\n- Name: {name}"));
    }
    if let Some(role) = profile.role {
        out.push_str(&format!("\n- Role: {}", role.label()));
    }
    match (&profile.county, &profile.country) {
        (Some(county), Some(country)) => {
            out.push_str(&format!("\n- Works in: {county} county ({country})"))
        }
        (None, Some(country)) => out.push_str(&format!("\n- Country: {country}")),
        _ => {}
    }
    if let Some(language) = &profile.language {
        out.push_str(&format!("\n- Answer in: {language}"));
    }
    if let Some(detail) = profile.detail {
        out.push_str(&format!("\n- Answers: {}", detail.as_str()));
    }
    out
}

/// The chosen memories' lines, each with the handle the memory tools take.
pub fn memories_section(memories: &[(String, &Memory)]) -> String {
    if memories.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n\n## What you remember about the user\nSaved memories (the user sees and manages them on their Memory \
         page). Follow their preferences; `forget` one by its handle when they ask.",
    );
    for (handle, memory) in memories {
        let text: String = memory.text.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push_str(&format!("\n- [{handle}] {text}"));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::memories::{Origin, Source};

    /// A memory of owner "o" for tests.
    pub(crate) fn memory(
        id: &str,
        text: &str,
        retention: Retention,
        tokens: i64,
        last_used_at: i64,
    ) -> Memory {
        Memory {
            id: id.into(),
            owner: "o".into(),
            kind: MemoryKind::Fact,
            text: text.into(),
            slot: None,
            retention,
            origin: Origin::Told,
            source: Source::default(),
            tokens,
            created_at: 0,
            updated_at: 0,
            last_used_at,
            use_count: 0,
            expires_at: None,
            replaced_by: None,
        }
    }

    fn candidate(id: &str, text: &str, retention: Retention, tokens: i64) -> Candidate {
        Candidate {
            memory: memory(id, text, retention, tokens, 0),
            matched: true,
        }
    }

    fn terms(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    fn ids(chosen: &[Memory]) -> Vec<&str> {
        chosen.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn the_rarer_word_counts_for_more_and_the_budget_is_kept() {
        let candidates = vec![
            candidate("common", "primary schools report", Retention::Short, 5),
            candidate("rare", "the Baringo visit", Retention::Short, 5),
            candidate("both", "Baringo primary schools", Retention::Short, 5),
            candidate("also-common", "primary pupils", Retention::Short, 5),
            candidate("huge", "primary primary", Retention::Long, 500),
            Candidate {
                memory: memory("pinned", "I like maps", Retention::Pinned, 5, 0),
                matched: false,
            },
        ];
        let chosen = choose(
            candidates.clone(),
            &terms(&["primary", "baringo"]),
            0,
            44,
            false,
        );
        assert_eq!(
            ids(&chosen),
            ["both", "rare", "also-common", "common"],
            "both words first, then the rarer; the one that does not fit makes way"
        );
        let total: i64 = chosen.iter().map(|m| m.tokens + LINE_TOKENS).sum();
        assert!(total <= 44);
        let roomier = choose(candidates, &terms(&["primary", "baringo"]), 0, 55, false);
        assert_eq!(roomier.last().map(|m| m.id.as_str()), Some("pinned"));
        assert!(
            choose(
                vec![candidate("x", "x", Retention::Long, 5)],
                &[],
                0,
                10,
                false
            )
            .is_empty()
        );
    }

    #[test]
    fn a_prefix_matches_and_matched_only_leaves_the_rest_out() {
        let candidates = vec![
            candidate("schools", "Kisumu schools", Retention::Long, 5),
            Candidate {
                memory: memory("unmatched", "I like maps", Retention::Pinned, 5, 0),
                matched: false,
            },
        ];
        let chosen = choose(candidates, &terms(&["school"]), 0, 100, true);
        assert_eq!(ids(&chosen), ["schools"]);
    }

    #[test]
    fn of_two_unmatched_the_recently_used_wins() {
        let day = 86_400_000;
        let unmatched = |id, used| Candidate {
            memory: memory(id, id, Retention::Long, 5, used),
            matched: false,
        };
        let chosen = choose(
            vec![unmatched("old", 0), unmatched("recent", 60 * day)],
            &[],
            61 * day,
            11,
            false,
        );
        assert_eq!(ids(&chosen), ["recent"]);
    }
}
