//! A question read into what it asks before any tool is chosen: a figure
//! (count, total, average, ratio) over a scope, a comparison of places (or
//! levels, or ownerships) with one figure each, a ranking of groups or of
//! schools by a figure, one field of a named school, or a question the data
//! cannot answer (declined). Places are matched against the catalogue,
//! tolerating a typo in longer names. Lists, stories, nearby schools, ids
//! and breakdowns ("by county") are read by `choosing`.

use super::reading::{any, has, words};
use crate::domain::KnownValues;

/// What is counted or measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Figure {
    Schools,
    Enrolment,
    Teachers,
    /// Pupils per teacher, over the schools that report both.
    Ratio,
    /// Pupils per school, over the schools that report enrolment.
    AverageEnrolment,
}

/// A field of one school.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Field {
    Enrolment,
    Teachers,
    Ratio,
    Phone,
    Address,
    Website,
    Grades,
    Level,
    Coordinates,
}

/// What groups are ranked by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Dimension {
    County,
    SubCounty,
    Level,
    Ownership,
    School,
}

/// The schools a figure is over.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Scope {
    pub country: Option<&'static str>,
    pub county: Option<String>,
    pub sub_county: Option<String>,
    pub level: Option<&'static str>,
    pub ownership: Option<&'static str>,
}

/// Why a question is declined.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Decline {
    /// Kenya's data has no enrolment or teacher counts.
    KenyaFigure,
    /// The data has one year only.
    Trend,
    /// Not a question about schools or stories.
    OutOfDomain,
}

/// What a question asks.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Intent {
    Figure {
        figure: Figure,
        scope: Scope,
    },
    Compare {
        figure: Figure,
        sides: Vec<(String, Scope)>,
    },
    Rank {
        figure: Figure,
        by: Dimension,
        scope: Scope,
        highest: bool,
        top: usize,
    },
    Field {
        field: Field,
        name: String,
        scope: Scope,
    },
    Decline(Decline),
    /// Read by `choosing` (lists, stories, nearby, ids, breakdowns).
    Other,
}

/// A place a question names.
#[derive(Debug, Clone, PartialEq)]
struct Place {
    /// Where in the question's tokens it starts and ends.
    at: usize,
    end: usize,
    label: String,
    kind: PlaceKind,
}

#[derive(Debug, Clone, PartialEq)]
enum PlaceKind {
    Country(&'static str),
    County(String, &'static str),
    SubCounty(String),
}

/// Words of the planner's own questions: never read as a misspelt place.
const VOCABULARY: &[&str] = &[
    "schools",
    "school",
    "number",
    "compare",
    "secondary",
    "primary",
    "private",
    "public",
    "largest",
    "highest",
    "lowest",
    "teachers",
    "teacher",
    "pupils",
    "students",
    "enrolment",
    "enrollment",
    "which",
    "where",
    "there",
    "county",
    "counties",
    "average",
    "total",
    "ratio",
    "most",
    "fewest",
    "smallest",
    "biggest",
    "between",
    "against",
    "versus",
    "their",
    "about",
    "stories",
    "story",
    "elementary",
    "phone",
    "address",
    "website",
    "number",
    "florida",
    "kenya",
    "kenyan",
    "learners",
    "middle",
    "level",
    "levels",
    "grades",
    "ownership",
    "other",
    "these",
    "those",
    "pupil-teacher",
    "government",
    "within",
    "across",
];

/// Single-word sub-counties that are also plain words.
const PLAIN_SUB_COUNTIES: &[&str] = &[
    "central", "east", "west", "north", "south", "township", "town", "city", "island", "lake",
    "hills", "valley", "mosop", "central",
];

/// The question's tokens: lower-case words, hyphens and full stops splitting
/// too ("miami-dade" is two), with whether each began with a capital.
fn tokens(question: &str) -> Vec<(String, bool)> {
    question
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
        .map(|w| {
            let capital = w.chars().next().is_some_and(char::is_uppercase);
            let folded: String = words(w).trim().chars().filter(|c| *c != '-').collect();
            (folded, capital)
        })
        .filter(|(w, _)| !w.is_empty())
        .collect()
}

fn name_tokens(name: &str) -> Vec<String> {
    tokens(name).into_iter().map(|(w, _)| w).collect()
}

/// Whether `word` is `name` or a typo of it (one edit in five letters or
/// more, two in nine or more).
fn close(word: &str, name: &str) -> bool {
    if word == name {
        return true;
    }
    let n = name.chars().count();
    if n < 5 || VOCABULARY.contains(&word) {
        return false;
    }
    let allowed = if n >= 9 { 2 } else { 1 };
    strsim::damerau_levenshtein(word, name) <= allowed
}

/// Every place `question` names, in order, none overlapping.
fn places(known: &KnownValues, question: &str) -> Vec<Place> {
    let toks = tokens(question);
    let mut found: Vec<(bool, Place)> = Vec::new();
    let mut try_name =
        |label: &str, kind: PlaceKind, fuzzy: bool, needs: &dyn Fn(usize, usize) -> bool| {
            let name = name_tokens(label);
            if name.is_empty() || name.len() > toks.len() {
                return;
            }
            for at in 0..=toks.len() - name.len() {
                let window = &toks[at..at + name.len()];
                let exact = window.iter().zip(&name).all(|((w, _), n)| w == n);
                let near =
                    fuzzy && !exact && window.iter().zip(&name).all(|((w, _), n)| close(w, n));
                if (exact || near) && needs(at, at + name.len()) {
                    found.push((
                        exact,
                        Place {
                            at,
                            end: at + name.len(),
                            label: label.to_owned(),
                            kind: kind.clone(),
                        },
                    ));
                }
            }
        };
    let anywhere = |_: usize, _: usize| true;
    for (word, code) in [
        ("kenya", "KE"),
        ("kenyan", "KE"),
        ("florida", "US"),
        ("usa", "US"),
    ] {
        try_name(word, PlaceKind::Country(code), false, &anywhere);
    }
    for (name, country) in &known.counties {
        if country == "US" {
            // Florida county names are often plain words ("Lake", "Orange"):
            // one counts when "county" follows it, it has two words, or it is
            // written with a capital inside the sentence.
            let single = name_tokens(name).len() == 1;
            let needs = |at: usize, end: usize| {
                toks.get(end)
                    .is_some_and(|(w, _)| w == "county" || w == "counties")
                    || !single
                    || (at > 0 && toks[at].1)
            };
            try_name(name, PlaceKind::County(name.clone(), "US"), true, &needs);
        } else {
            try_name(name, PlaceKind::County(name.clone(), "KE"), true, &anywhere);
        }
    }
    for name in &known.sub_counties {
        let plain = name_tokens(name);
        if plain.len() == 1
            && (PLAIN_SUB_COUNTIES.contains(&plain[0].as_str()) || plain[0].len() < 4)
        {
            continue;
        }
        try_name(name, PlaceKind::SubCounty(name.clone()), false, &anywhere);
    }
    for (_, place) in &mut found {
        if let PlaceKind::Country(code) = place.kind {
            place.label = if code == "KE" { "Kenya" } else { "Florida" }.to_owned();
        }
    }
    // Exact matches first, then the longer; a county beats a sub-county of the same name.
    found.sort_by_key(|(exact, p)| {
        (
            !*exact,
            std::cmp::Reverse(p.end - p.at),
            matches!(p.kind, PlaceKind::SubCounty(_)),
        )
    });
    let mut kept: Vec<Place> = Vec::new();
    for (_, place) in found {
        if kept.iter().all(|k| place.end <= k.at || place.at >= k.end) {
            kept.push(place);
        }
    }
    kept.sort_by_key(|p| p.at);
    kept
}

/// The scope `place` adds to `base`.
fn with_place(base: &Scope, place: &Place) -> Scope {
    let mut scope = base.clone();
    match &place.kind {
        PlaceKind::Country(code) => scope.country = Some(code),
        PlaceKind::County(name, code) => {
            scope.county = Some(name.clone());
            scope.country = Some(code);
        }
        PlaceKind::SubCounty(name) => {
            scope.sub_county = Some(name.clone());
            scope.country = Some("KE");
        }
    }
    scope
}

const LEVELS: &[(&[&str], &str)] = &[
    (
        &[
            "pre-primary",
            "preprimary",
            "pre-kindergarten",
            "prekindergarten",
            "nursery",
            "ecde",
        ],
        "pre_primary",
    ),
    (&["primary", "elementary"], "primary"),
    (&["secondary", "high", "middle"], "secondary"),
];

const OWNERSHIPS: &[(&str, &str)] = &[
    ("private", "private"),
    ("public", "public"),
    ("government", "public"),
];

/// Every level the question names, in order of the list.
fn levels(q: &str) -> Vec<&'static str> {
    LEVELS
        .iter()
        .filter(|(words, _)| words.iter().any(|w| has(q, w)))
        .map(|(_, level)| *level)
        .collect()
}

fn ownerships(q: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = OWNERSHIPS
        .iter()
        .filter(|(w, _)| has(q, w))
        .map(|(_, o)| *o)
        .collect();
    out.dedup();
    out
}

/// Words that mean the question is about something else.
const OUT_OF_DOMAIN: &[&str] = &[
    "weather",
    "temperature",
    "forecast",
    "news",
    "stock",
    "stocks",
    "bitcoin",
    "football",
    "recipe",
    "joke",
    "movie",
    "song",
    "president",
    "capital city",
    "time is it",
    "population of",
    "exchange rate",
    "translate",
];

const TRENDS: &[&str] = &[
    "trend",
    "trends",
    "over time",
    "over the years",
    "changed",
    "change since",
    "since 20",
    "growth",
    "grown",
    "increase",
    "increased",
    "decrease",
    "decreased",
    "last year",
    "per year",
    "each year",
    "year on year",
    "in 2010",
    "in 2015",
    "in 2020",
    "history of",
];

fn figure_of(q: &str) -> Option<Figure> {
    if any(
        q,
        &[
            "pupil-teacher ratio",
            "pupil teacher ratio",
            "student-teacher ratio",
            "student teacher ratio",
            "ratio",
            "ptr",
            "pupils per teacher",
            "students per teacher",
        ],
    ) {
        return Some(Figure::Ratio);
    }
    let pupils = any(
        q,
        &[
            "enrolment",
            "enrollment",
            "enrolled",
            "pupils",
            "students",
            "learners",
        ],
    );
    if any(q, &["average", "mean"]) && (pupils || any(q, &["size", "school size"])) {
        return Some(Figure::AverageEnrolment);
    }
    if pupils {
        return Some(Figure::Enrolment);
    }
    if any(q, &["teachers", "teacher", "staff"]) {
        return Some(Figure::Teachers);
    }
    None
}

fn field_of(q: &str) -> Option<Field> {
    if any(
        q,
        &[
            "phone",
            "telephone",
            "phone number",
            "contact number",
            "call",
        ],
    ) {
        return Some(Field::Phone);
    }
    if any(q, &["website", "web site", "url", "web page", "webpage"]) {
        return Some(Field::Website);
    }
    if any(q, &["address", "where is", "located", "street"]) {
        return Some(Field::Address);
    }
    if any(q, &["grades", "grade range", "which grades", "what grades"]) {
        return Some(Field::Grades);
    }
    if any(q, &["coordinates", "latitude", "longitude", "gps"]) {
        return Some(Field::Coordinates);
    }
    if any(
        q,
        &[
            "what level",
            "which level",
            "level of",
            "kind of school",
            "type of school",
        ],
    ) {
        return Some(Field::Level);
    }
    match figure_of(q) {
        Some(Figure::Ratio) => Some(Field::Ratio),
        Some(Figure::Enrolment | Figure::AverageEnrolment) => Some(Field::Enrolment),
        Some(Figure::Teachers) => Some(Field::Teachers),
        _ => None,
    }
}

/// Words that only frame a question about one school's field.
const FRAME: &[&str] = &[
    "what",
    "whats",
    "is",
    "are",
    "the",
    "a",
    "an",
    "of",
    "at",
    "for",
    "does",
    "do",
    "did",
    "have",
    "has",
    "how",
    "many",
    "much",
    "tell",
    "me",
    "give",
    "show",
    "find",
    "number",
    "phone",
    "telephone",
    "contact",
    "call",
    "website",
    "web",
    "site",
    "url",
    "page",
    "address",
    "where",
    "located",
    "street",
    "grades",
    "grade",
    "range",
    "which",
    "coordinates",
    "latitude",
    "longitude",
    "gps",
    "level",
    "kind",
    "type",
    "enrolment",
    "enrollment",
    "enrolled",
    "pupils",
    "students",
    "learners",
    "teachers",
    "teacher",
    "staff",
    "pupil-teacher",
    "pupil",
    "student",
    "ratio",
    "ptr",
    "its",
    "it",
    "there",
    "please",
    "can",
    "you",
    "i",
    "want",
    "to",
    "know",
    "schools",
    "school",
    "in",
    "per",
    "and",
    "with",
    "total",
    "all",
    "public",
    "private",
    "government",
    "primary",
    "secondary",
    "elementary",
    "high",
    "middle",
    "county",
    "counties",
    "sub-county",
    "average",
    "mean",
    "size",
    "that",
    "this",
    "by",
    "s",
    "work",
    "attend",
    "teach",
    "go",
    "study",
    "enrol",
    "employ",
    "employed",
    "currently",
];

/// The school a field question names: what is left once the frame words
/// and the places after "in" are taken out, in the question's own words.
fn school_name(
    question: &str,
    scope_places: &[Place],
    places_at: &[(usize, usize)],
) -> Option<String> {
    let toks = tokens(question);
    let mut keep = Vec::new();
    for (i, (w, _)) in toks.iter().enumerate() {
        if scope_places.iter().any(|p| i >= p.at && i < p.end) {
            continue;
        }
        keep.push((i, w.as_str()));
    }
    // A place is no name of its own ("Florida high schools"), but may be part of one.
    let all_places: Vec<(usize, usize)> = places_at.to_vec();
    let meaningful = keep.iter().any(|(i, w)| {
        !FRAME.contains(w) && w.len() > 1 && !all_places.iter().any(|(a, b)| i >= a && i < b)
    });
    if !meaningful {
        return None;
    }
    // The name: from the first meaningful word to the last, frame words inside it kept
    // ("Miami Senior High School").
    let first = keep.iter().position(|(_, w)| !FRAME.contains(w))?;
    let last = keep.iter().rposition(|(_, w)| !FRAME.contains(w))?;
    let mut end = last;
    // A trailing "school", "high school", "academy" belongs to the name.
    while end + 1 < keep.len()
        && matches!(
            keep[end + 1].1,
            "school" | "high" | "primary" | "secondary" | "elementary" | "middle"
        )
    {
        end += 1;
    }
    let mut start = first;
    while start > 0
        && matches!(
            keep[start - 1].1,
            "high" | "primary" | "secondary" | "elementary" | "middle"
        )
    {
        start -= 1;
    }
    Some(
        keep[start..=end]
            .iter()
            .map(|(_, w)| *w)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// "top 5", "5 largest": how many are asked for.
fn top_n(q: &str) -> Option<usize> {
    let toks: Vec<&str> = q.split_whitespace().collect();
    toks.windows(2).find_map(|w| {
        let n = |s: &str| s.parse::<usize>().ok().filter(|n| (1..=50).contains(n));
        match w {
            ["top", x] => n(x),
            [
                x,
                "largest" | "biggest" | "smallest" | "most" | "best" | "highest" | "lowest",
            ] => n(x),
            _ => None,
        }
    })
}

/// What `question` asks.
pub(super) fn read(known: &KnownValues, question: &str) -> Intent {
    let q = words(question);
    if any(&q, OUT_OF_DOMAIN) {
        return Intent::Decline(Decline::OutOfDomain);
    }
    if any(&q, TRENDS) {
        return Intent::Decline(Decline::Trend);
    }
    // Stories, positions, ids, memory and region lists are `choosing`'s.
    if any(
        &q,
        &[
            "story",
            "stories",
            "book",
            "books",
            "storybook",
            "hadithi",
            "histoires",
            "contes",
            "historias",
            "tale",
            "tales",
            "remember",
            "recall",
            "forget",
        ],
    ) || q
        .split_whitespace()
        .any(|w| w.starts_with("ke-") || w.starts_with("us-") || w.starts_with("asp-"))
        || q.split_whitespace()
            .filter(|w| w.contains('.') && w.parse::<f64>().is_ok())
            .count()
            >= 2
    {
        return Intent::Other;
    }
    // "My county" is the profile's, and a breakdown is a table: `choosing` reads both.
    if any(
        &q,
        &[
            "my county",
            "my district",
            "my area",
            "where i work",
            "my sub-county",
        ],
    ) || [
        "county",
        "sub-county",
        "sub county",
        "level",
        "ownership",
        "country",
    ]
    .iter()
    .any(|g| {
        any(
            &q,
            &[
                &format!("by {g}"),
                &format!("per {g}"),
                &format!("each {g}"),
            ],
        )
    }) {
        return Intent::Other;
    }
    let found = places(known, question);
    let levels = levels(&q);
    let ownerships = ownerships(&q);
    let mut scope = Scope {
        level: levels.first().copied(),
        ownership: ownerships.first().copied(),
        ..Scope::default()
    };
    let breakdown = [
        "county",
        "sub-county",
        "sub county",
        "level",
        "ownership",
        "country",
    ]
    .iter()
    .any(|g| {
        any(
            &q,
            &[
                &format!("by {g}"),
                &format!("per {g}"),
                &format!("each {g}"),
            ],
        )
    }) || any(&q, &["breakdown", "broken down"]);
    let highest = any(
        &q,
        &[
            "most", "highest", "largest", "biggest", "greatest", "top", "more", "larger", "bigger",
            "higher",
        ],
    );
    let lowest = any(
        &q,
        &[
            "least", "lowest", "fewest", "smallest", "fewer", "less", "smaller", "lower",
        ],
    );
    let figure = figure_of(&q);

    // A field of one named school.
    if let Some(field) = field_of(&q)
        && !highest
        && !lowest
        && !any(
            &q,
            &[
                "how many schools",
                "number of schools",
                "compare",
                "comparison",
                "versus",
                "vs",
            ],
        )
    {
        // Places after "in" are where the school is; others may be part of its name.
        let toks = tokens(question);
        let scope_places: Vec<Place> = found
            .iter()
            .filter(|p| p.at > 0 && matches!(toks[p.at - 1].0.as_str(), "in" | "within" | "across"))
            .cloned()
            .collect();
        let spans: Vec<(usize, usize)> = found.iter().map(|p| (p.at, p.end)).collect();
        if let Some(name) = school_name(question, &scope_places, &spans) {
            let mut scope = Scope::default();
            for place in &scope_places {
                scope = with_place(&scope, place);
            }
            let country = found.iter().find_map(|p| match p.kind {
                PlaceKind::Country(c) => Some(c),
                _ => None,
            });
            scope.country = scope.country.or(country);
            return Intent::Field { field, name, scope };
        }
    }

    // Kenya's data has counts only.
    let figure = figure.unwrap_or(Figure::Schools);
    let kenyan = |s: &Scope| s.country == Some("KE");

    // Several places: one figure each.
    let distinct: Vec<&Place> = {
        let mut seen: Vec<&Place> = Vec::new();
        for p in &found {
            if !seen.iter().any(|s| s.label == p.label) {
                seen.push(p);
            }
        }
        seen
    };
    let comparing = any(
        &q,
        &[
            "compare",
            "comparison",
            "versus",
            "vs",
            "against",
            "or",
            "more",
            "fewer",
            "difference",
            "than",
        ],
    );
    if distinct.len() >= 2 && !breakdown {
        let sides: Vec<(String, Scope)> = distinct
            .iter()
            .map(|p| (p.label.clone(), with_place(&scope, p)))
            .collect();
        if figure != Figure::Schools && sides.iter().any(|(_, s)| kenyan(s)) {
            return Intent::Decline(Decline::KenyaFigure);
        }
        return Intent::Compare { figure, sides };
    }
    for place in &found {
        scope = with_place(&scope, place);
    }
    // Two levels or two ownerships compared within one place.
    if comparing && !breakdown && (levels.len() >= 2 || ownerships.len() >= 2) {
        let sides: Vec<(String, Scope)> = if levels.len() >= 2 {
            levels
                .iter()
                .map(|l| {
                    (
                        format!("{} schools", l.replace('_', "-")),
                        Scope {
                            level: Some(l),
                            ..scope.clone()
                        },
                    )
                })
                .collect()
        } else {
            ownerships
                .iter()
                .map(|o| {
                    (
                        format!("{o} schools"),
                        Scope {
                            ownership: Some(o),
                            ..scope.clone()
                        },
                    )
                })
                .collect()
        };
        if figure != Figure::Schools && kenyan(&scope) {
            return Intent::Decline(Decline::KenyaFigure);
        }
        return Intent::Compare { figure, sides };
    }
    if figure != Figure::Schools && kenyan(&scope) {
        return Intent::Decline(Decline::KenyaFigure);
    }

    // A ranking: which group, or which school, has the most.
    let superlative = any(
        &q,
        &[
            "most", "highest", "largest", "biggest", "greatest", "top", "least", "lowest",
            "fewest", "smallest",
        ],
    );
    if superlative && !breakdown {
        let by = if any(
            &q,
            &["sub-county", "sub-counties", "sub county", "subcounty"],
        ) {
            Dimension::SubCounty
        } else if any(&q, &["county", "counties"]) && !any(&q, &["school in", "schools in"])
            || any(&q, &["which county", "what county", "counties"])
        {
            Dimension::County
        } else if any(&q, &["which level", "what level", "levels"]) {
            Dimension::Level
        } else if any(&q, &["public or private", "ownership"]) {
            Dimension::Ownership
        } else {
            Dimension::School
        };
        let figure = match (by, figure) {
            // "The largest school" is the one with the most pupils.
            (Dimension::School, Figure::Schools | Figure::AverageEnrolment) => Figure::Enrolment,
            (_, f) => f,
        };
        let top = top_n(&q).unwrap_or(if by == Dimension::School { 5 } else { 10 });
        return Intent::Rank {
            figure,
            by,
            scope,
            highest: !any(&q, &["least", "lowest", "fewest", "smallest"]),
            top,
        };
    }
    // A figure over the scope, unless a breakdown is asked for.
    let counting = any(
        &q,
        &[
            "how many",
            "number of",
            "count",
            "total",
            "sum",
            "average",
            "mean",
            "ratio",
            "ptr",
            "enrolment",
            "enrollment",
            "pupils",
            "students",
            "teachers",
        ],
    );
    if counting && !breakdown {
        return Intent::Figure { figure, scope };
    }
    // Something `choosing` can read (a list, a search, a breakdown), or nothing at all.
    let schoolish = any(
        &q,
        &[
            "school",
            "schools",
            "academy",
            "college",
            "find",
            "list",
            "show",
            "search",
            "where",
            "which",
            "regions",
            "counties",
            "sub-counties",
            "statistics",
            "stats",
            "breakdown",
        ],
    ) || !found.is_empty()
        || !levels.is_empty()
        || !ownerships.is_empty();
    if schoolish || breakdown {
        Intent::Other
    } else {
        Intent::Decline(Decline::OutOfDomain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownValues {
        KnownValues {
            counties: vec![
                ("Nairobi".into(), "KE".into()),
                ("Mombasa".into(), "KE".into()),
                ("Kisumu".into(), "KE".into()),
                ("Nakuru".into(), "KE".into()),
                ("MIAMI-DADE".into(), "US".into()),
                ("ORANGE".into(), "US".into()),
                ("HENDRY".into(), "US".into()),
            ],
            sub_counties: vec!["Westlands".into(), "Kisumu East".into()],
            languages: vec![],
        }
    }

    #[test]
    fn the_questions_that_went_wrong_are_read_for_what_they_ask() {
        let k = known();
        match read(&k, "Compare the number of schools in Nairobi and Mombasa") {
            Intent::Compare {
                figure: Figure::Schools,
                sides,
            } => {
                assert_eq!(
                    sides.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
                    ["Nairobi", "Mombasa"]
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            read(&k, "What is the enrolment of Miami Senior High School?"),
            Intent::Field {
                field: Field::Enrolment,
                name: "miami senior high school".into(),
                scope: Scope::default()
            }
        );
        assert!(matches!(
            read(
                &k,
                "Which Florida county has the highest pupil-teacher ratio?"
            ),
            Intent::Rank {
                figure: Figure::Ratio,
                by: Dimension::County,
                highest: true,
                ..
            }
        ));
        assert!(matches!(
            read(&k, "What is the phone number of Florida Virtual Elementary School?"),
            Intent::Field { field: Field::Phone, ref name, .. } if name == "florida virtual elementary school"
        ));
        assert!(matches!(
            read(&k, "What is the largest school in Florida by enrolment?"),
            Intent::Rank {
                figure: Figure::Enrolment,
                by: Dimension::School,
                scope: Scope {
                    country: Some("US"),
                    ..
                },
                ..
            }
        ));
        assert!(matches!(
            read(&k, "What is the pupil-teacher ratio in Miami-Dade?"),
            Intent::Figure { figure: Figure::Ratio, scope: Scope { county: Some(ref c), .. } } if c == "MIAMI-DADE"
        ));
        match read(&k, "Which has more secondary schools, Kisumu or Nakuru?") {
            Intent::Compare {
                figure: Figure::Schools,
                sides,
            } => {
                assert_eq!(sides[0].1.level, Some("secondary"));
                assert_eq!(sides[1].1.county.as_deref(), Some("Nakuru"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn misspelt_places_are_the_catalogues_and_plain_words_are_not_places() {
        let k = known();
        assert!(matches!(
            read(&k, "How many schools are in Nairobbi?"),
            Intent::Figure { scope: Scope { county: Some(ref c), .. }, .. } if c == "Nairobi"
        ));
        assert!(matches!(
            read(&k, "how many schools in orange county"),
            Intent::Figure { scope: Scope { county: Some(ref c), .. }, .. } if c == "ORANGE"
        ));
        assert!(matches!(
            read(&k, "how many schools sell orange juice"),
            Intent::Figure {
                scope: Scope { county: None, .. },
                ..
            }
        ));
        assert_eq!(
            read(&k, "What's the weather in Nairobi?"),
            Intent::Decline(Decline::OutOfDomain)
        );
        assert_eq!(
            read(&k, "How many pupils are in Kisumu?"),
            Intent::Decline(Decline::KenyaFigure)
        );
        assert_eq!(
            read(&k, "How has enrolment changed since 2010?"),
            Intent::Decline(Decline::Trend)
        );
        assert_eq!(
            read(&k, "Tell me a joke"),
            Intent::Decline(Decline::OutOfDomain)
        );
        assert_eq!(read(&k, "Find Moi Girls school in Nairobi"), Intent::Other);
        assert_eq!(
            read(&k, "How many schools are there in each country?"),
            Intent::Other
        );
    }
}
