//! Conversation search: the words of a query (read as memory search reads
//! them: common words left out, the longer ones as word prefixes) matched
//! by the store's full-text index over one owner's finished messages; the
//! hits grouped by conversation, the most recent hit first, each with a
//! snippet around its first match, the matched words marked.

use std::collections::HashMap;

use serde::Serialize;

use crate::{
    memory::text::{fold, terms},
    store::{ChatStore, MessageRecord, Role, Session, StoreResult, memories::as_prefix},
};

/// Matching messages read for one search (the most recent).
const MAX_MESSAGES: i64 = 300;

/// Hits shown for one conversation.
const HITS_PER_SESSION: usize = 3;

/// Characters of a snippet before its first match, and in all.
const BEFORE: usize = 50;
const LENGTH: usize = 180;

/// A piece of a snippet: matched words are `hit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub text: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hit: bool,
}

/// A message that matched.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub message_id: String,
    pub role: Role,
    pub created_at: i64,
    pub snippet: Vec<Segment>,
}

/// A conversation with its hits, the most recent first.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    #[serde(flatten)]
    pub session: Session,
    pub hits: Vec<Hit>,
}

/// `owner`'s conversations (`None`: the local user's) with a message holding
/// every word of `query`, at most `limit`; none when it has no words to
/// search by.
pub async fn search(
    store: &dyn ChatStore,
    owner: Option<&str>,
    query: &str,
    limit: usize,
) -> StoreResult<Vec<Found>> {
    let terms = terms(query);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let messages = store.search_messages(owner, &terms, MAX_MESSAGES).await?;
    let mut order: Vec<String> = Vec::new();
    let mut hits: HashMap<String, Vec<Hit>> = HashMap::new();
    for message in messages {
        let MessageRecord {
            id,
            session_id,
            role,
            content,
            created_at,
            ..
        } = message;
        if !hits.contains_key(&session_id) {
            if order.len() == limit {
                continue;
            }
            order.push(session_id.clone());
        }
        let list = hits.entry(session_id).or_default();
        if list.len() < HITS_PER_SESSION {
            list.push(Hit {
                message_id: id,
                role,
                created_at,
                snippet: snippet(&content, &terms),
            });
        }
    }
    let mut found = Vec::with_capacity(order.len());
    for id in order {
        // The store matched only `owner`'s; a session gone since is left out.
        if let Some(session) = store.session(&id).await?
            && session.owner.as_deref() == owner
        {
            found.push(Found {
                session,
                hits: hits.remove(&id).unwrap_or_default(),
            });
        }
    }
    Ok(found)
}

/// The part of `content` around its first word matching `terms`, at most
/// `LENGTH` characters with white space run together, matched words marked.
pub fn snippet(content: &str, terms: &[String]) -> Vec<Segment> {
    let terms: Vec<String> = terms.iter().map(|t| fold(t)).collect();
    let matches = |word: &str| {
        let word = fold(word);
        terms.iter().any(|t| {
            if as_prefix(t) {
                word.starts_with(t.as_str())
            } else {
                word == *t
            }
        })
    };
    let chars: Vec<char> = content.chars().collect();
    // Words as (start, end) in characters.
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in chars.iter().chain(std::iter::once(&' ')).enumerate() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                words.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    let word = |(s, e): (usize, usize)| chars[s..e].iter().collect::<String>();
    let first = words
        .iter()
        .find(|w| matches(&word(**w)))
        .map_or(0, |w| w.0);
    // Start at a word's beginning, up to BEFORE characters earlier.
    let from = words
        .iter()
        .map(|w| w.0)
        .find(|s| *s + BEFORE >= first)
        .unwrap_or(first);
    let to = (from + LENGTH).min(chars.len());
    let mut out: Vec<Segment> = Vec::new();
    let mut push = |text: String, hit: bool| match out.last_mut() {
        Some(last) if last.hit == hit && !hit => last.text.push_str(&text),
        _ => out.push(Segment { text, hit }),
    };
    if from > 0 {
        push("…".into(), false);
    }
    let mut at = from;
    for &(s, e) in words.iter().filter(|(s, e)| *s >= from && *e <= to) {
        if matches(&word((s, e))) {
            push(plain(&chars[at..s]), false);
            push(word((s, e)), true);
            at = e;
        }
    }
    push(plain(&chars[at..to]), false);
    if to < chars.len() {
        push("…".into(), false);
    }
    out.retain(|s| !s.text.is_empty());
    out
}

/// Characters as one line: each run of white space one space.
fn plain(chars: &[char]) -> String {
    let mut out = String::with_capacity(chars.len());
    let mut space = false;
    for &c in chars {
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(segments: &[Segment]) -> String {
        segments
            .iter()
            .map(|s| {
                if s.hit {
                    format!("[{}]", s.text)
                } else {
                    s.text.clone()
                }
            })
            .collect()
    }

    fn terms(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn the_snippet_marks_every_matched_word_around_the_first() {
        let text = "Lamu county has 1,234 pupils.\n\nThe **largest** school in Lamu is Mpeketoni.";
        assert_eq!(
            marked(&snippet(text, &terms(&["lamu", "pupil"]))),
            "[Lamu] county has 1,234 [pupils]. The **largest** school in [Lamu] is Mpeketoni."
        );
        assert_eq!(
            marked(&snippet("Élimu bora", &terms(&["elimu"]))),
            "[Élimu] bora",
            "accents fold"
        );
    }

    #[test]
    fn a_long_text_is_cut_around_the_match_at_word_boundaries() {
        let text = format!(
            "{} the Kisumu figures {}",
            "word ".repeat(100),
            "more ".repeat(100)
        );
        let cut = marked(&snippet(&text, &terms(&["kisumu"])));
        assert!(cut.starts_with("…word "), "{cut}");
        assert!(cut.ends_with('…'), "{cut}");
        assert!(cut.contains("the [Kisumu] figures"), "{cut}");
        assert!(cut.chars().count() <= LENGTH + 6, "{}", cut.chars().count());
    }
}
