//! Which memories go into a prompt, and how they read there. Candidates
//! (the store's best full-text matches, pinned and profile memories, the
//! most recently used) are scored by match, retention, recency and use,
//! then taken best first while they fit the token budget; the profile and
//! the chosen memories become a section of the system prompt.

use crate::{
    domain::Profile,
    store::memories::{Candidate, Memory, MemoryKind, Retention},
};

/// At most this many memories go into one prompt.
pub const MAX_RECALLED: usize = 20;

/// What a memory's line costs beyond its text: the dash, the handle.
const LINE_TOKENS: i64 = 6;

const DAY_MS: f64 = 86_400_000.0;

fn score(candidate: &Candidate, best_rank: f64, now: i64) -> f64 {
    let m = &candidate.memory;
    let matched = if best_rank > 0.0 {
        2.0 * candidate.rank / best_rank
    } else {
        0.0
    };
    let retention = match m.retention {
        Retention::Pinned => 0.6,
        Retention::Session => 0.5,
        Retention::Long => 0.4,
        Retention::Short => 0.3,
    };
    let kind = match m.kind {
        MemoryKind::Preference | MemoryKind::Profile => 0.3,
        MemoryKind::Fact => 0.0,
    };
    let age_days = (now - m.last_used_at).max(0) as f64 / DAY_MS;
    let recency = 0.5 * (-age_days / 14.0).exp();
    let used = 0.15 * (1.0 + m.use_count.max(0) as f64).ln();
    matched + retention + kind + recency + used
}

/// The candidates best first, as many as fit `budget` tokens (a memory that
/// does not fit makes way for smaller ones), at most `MAX_RECALLED`.
pub fn choose(mut candidates: Vec<Candidate>, now: i64, budget: i64) -> Vec<Memory> {
    let best = candidates.iter().map(|c| c.rank).fold(0.0, f64::max);
    let mut scored: Vec<(f64, Memory)> = candidates
        .drain(..)
        .map(|c| (score(&c, best, now), c.memory))
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
mod tests {
    use super::*;
    use crate::store::memories::{Origin, Source};

    fn memory(id: &str, retention: Retention, tokens: i64, last_used_at: i64) -> Memory {
        Memory {
            id: id.into(),
            owner: "o".into(),
            kind: MemoryKind::Fact,
            text: id.into(),
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

    fn candidate(id: &str, rank: f64, retention: Retention, tokens: i64) -> Candidate {
        Candidate {
            memory: memory(id, retention, tokens, 0),
            rank,
        }
    }

    #[test]
    fn matches_come_first_and_the_budget_is_kept() {
        let chosen = choose(
            vec![
                candidate("pinned", 0.0, Retention::Pinned, 5),
                candidate("match", 0.5, Retention::Short, 5),
                candidate("huge", 0.4, Retention::Long, 500),
                candidate("weak", 0.1, Retention::Short, 5),
            ],
            0,
            40,
        );
        let ids: Vec<&str> = chosen.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            ["match", "weak", "pinned"],
            "the one that does not fit makes way"
        );
        let total: i64 = chosen.iter().map(|m| m.tokens + LINE_TOKENS).sum();
        assert!(total <= 40);
        assert!(choose(vec![candidate("x", 1.0, Retention::Long, 5)], 0, 10).is_empty());
    }

    #[test]
    fn of_two_unmatched_the_recently_used_wins() {
        let day = 86_400_000;
        let chosen = choose(
            vec![
                Candidate {
                    memory: memory("old", Retention::Long, 5, 0),
                    rank: 0.0,
                },
                Candidate {
                    memory: memory("recent", Retention::Long, 5, 60 * day),
                    rank: 0.0,
                },
            ],
            61 * day,
            11,
        );
        assert_eq!(chosen[0].id, "recent");
        assert_eq!(chosen.len(), 1);
    }
}
