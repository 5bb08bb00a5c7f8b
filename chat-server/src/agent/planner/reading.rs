//! Reading a question: the words it is made of, and the country, county,
//! sub-county, level, ownership and language it names (from the values the
//! data knows), with what is left over.

use crate::domain::KnownValues;

/// Lower-case words: apostrophes dropped ("children's" -> "childrens"), other punctuation turned into
/// spaces except hyphens and decimal points inside words.
pub(super) fn words(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| !matches!(c, '\'' | '’'))
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    format!(
        " {} ",
        cleaned
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '.' || c == '\''))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

pub(super) fn has(q: &str, phrase: &str) -> bool {
    q.contains(&format!(" {phrase} "))
}

pub(super) fn any(q: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| has(q, p))
}

const STOP_WORDS: &[&str] = &[
    "what",
    "which",
    "where",
    "who",
    "is",
    "are",
    "was",
    "the",
    "a",
    "an",
    "in",
    "of",
    "for",
    "find",
    "show",
    "me",
    "list",
    "schools",
    "school",
    "named",
    "called",
    "tell",
    "about",
    "please",
    "any",
    "all",
    "there",
    "located",
    "near",
    "with",
    "and",
    "to",
    "on",
    "at",
    "get",
    "give",
    "info",
    "information",
    "details",
    "can",
    "you",
    "i",
    "want",
    "looking",
    "look",
    "up",
    "search",
    "some",
    "do",
    "does",
    "have",
    "has",
    "county",
    "story",
    "stories",
    "book",
    "books",
    "read",
    "reading",
    "children",
    "childrens",
    "kids",
    "language",
    "written",
    "by",
    "from",
    "that",
    "this",
    "my",
    "our",
    "country",
    "how",
    "many",
    "much",
    "s",
];

/// What the planner understood of a question.
#[derive(Debug, Default)]
pub(super) struct Reading {
    pub country: Option<&'static str>,
    pub county: Option<String>,
    pub sub_county: Option<String>,
    pub level: Option<&'static str>,
    pub ownership: Option<&'static str>,
    pub language: Option<String>,
    /// Words left once the recognised values are taken out.
    pub rest: String,
}

/// What `question` names, out of the values `known` lists.
pub(super) fn read(known: &KnownValues, question: &str) -> Reading {
    let mut q = words(question);
    let mut r = Reading::default();
    let take = |q: &mut String, phrase: &str| *q = q.replace(&format!(" {phrase} "), " ");
    if any(&q, &["kenya", "kenyan"]) {
        r.country = Some("KE");
    } else if any(
        &q,
        &[
            "florida",
            "usa",
            "us",
            "united states",
            "america",
            "american",
        ],
    ) {
        r.country = Some("US");
    }
    for w in [
        "kenya",
        "kenyan",
        "florida",
        "usa",
        "united states",
        "america",
        "american",
    ] {
        take(&mut q, w);
    }
    let mut counties = known.counties.clone();
    counties.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, country) in &counties {
        let phrase = words(name).trim().to_owned();
        // US county names are often plain words ("Lake", "Orange"): require "county" after them.
        let found = if country == "US" {
            has(&q, &format!("{phrase} county"))
        } else {
            has(&q, &phrase)
        };
        if found {
            r.county = Some(name.clone());
            r.country = r.country.or(if country == "US" {
                Some("US")
            } else {
                Some("KE")
            });
            take(&mut q, &phrase);
            break;
        }
    }
    let mut subs = known.sub_counties.clone();
    subs.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for name in subs {
        let phrase = words(&name).trim().to_owned();
        if has(&q, &phrase)
            && r.county
                .as_deref()
                .is_none_or(|c| words(c).trim() != phrase)
        {
            r.sub_county = Some(name.clone());
            take(&mut q, &phrase);
            break;
        }
    }
    for (phrases, level) in [
        (
            &[
                "pre-primary",
                "preprimary",
                "pre-kindergarten",
                "prekindergarten",
                "nursery",
                "ecde",
            ][..],
            "pre_primary",
        ),
        (&["primary", "elementary"][..], "primary"),
        (&["secondary", "high", "middle"][..], "secondary"),
    ] {
        if let Some(p) = phrases.iter().find(|p| has(&q, p)) {
            r.level = Some(level);
            take(&mut q, p);
            break;
        }
    }
    for (word, ownership) in [
        ("private", "private"),
        ("public", "public"),
        ("government", "public"),
    ] {
        if has(&q, word) {
            r.ownership = Some(ownership);
            take(&mut q, word);
        }
    }
    'languages: for (code, name, aliases) in &known.languages {
        for candidate in std::iter::once(name).chain(aliases.iter()) {
            let phrase = words(candidate).trim().to_owned();
            if phrase.len() > 2 && has(&q, &phrase) {
                r.language = Some(code.clone());
                take(&mut q, &phrase);
                break 'languages;
            }
        }
    }
    r.rest = q
        .split_whitespace()
        .filter(|w| !STOP_WORDS.contains(w))
        .collect::<Vec<_>>()
        .join(" ");
    r
}
