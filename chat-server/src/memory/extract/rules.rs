//! Extraction without a model: the explicit statements a user makes about
//! themselves and how they want answers ("remember that ...", "from now on
//! ...", "I work in ...", "I am a ...", "call me ...", "answer in ..."),
//! sentence by sentence. Statements of role, place, name, language or
//! detail also fill the profile.

use super::{Fact, Learnt};
use crate::{
    domain::{Detail, KnownValues, ProfileRole},
    store::memories::{MemoryKind, Retention},
};

/// Role words, longest first so "head teacher" wins over "teacher".
const ROLES: &[(&str, ProfileRole)] = &[
    ("head teacher", ProfileRole::HeadTeacher),
    ("headteacher", ProfileRole::HeadTeacher),
    ("principal", ProfileRole::HeadTeacher),
    ("education officer", ProfileRole::CountyOfficer),
    ("county officer", ProfileRole::CountyOfficer),
    ("district officer", ProfileRole::CountyOfficer),
    ("teacher", ProfileRole::Teacher),
    ("parent", ProfileRole::Parent),
    ("mother", ProfileRole::Parent),
    ("father", ProfileRole::Parent),
    ("researcher", ProfileRole::Researcher),
];

/// The text after the first of `openings` that starts `sentence` (compared
/// in lower case), as the user wrote it.
fn after<'a>(sentence: &'a str, openings: &[&str]) -> Option<&'a str> {
    let lower = sentence.to_lowercase();
    openings.iter().find_map(|opening| {
        lower
            .starts_with(opening)
            .then(|| sentence.get(opening.len()..))
            .flatten()
            .map(|rest| rest.trim_start_matches([':', ',']).trim())
            .filter(|rest| !rest.is_empty())
    })
}

/// The sentences of `message`: split at full stops, question and
/// exclamation marks, semicolons and new lines; "please" dropped in front.
fn sentences(message: &str) -> Vec<&str> {
    message
        .split(['.', '!', '?', ';', '\n'])
        .map(str::trim)
        .map(|s| {
            let lower = s.to_lowercase();
            if lower.starts_with("please ") {
                s[7..].trim()
            } else {
                s
            }
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The county of the data that `text` names, with its country.
fn county_in(known: &KnownValues, text: &str) -> Option<(String, String)> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let joined = format!(" {} ", words.join(" "));
    known
        .counties
        .iter()
        .filter(|(name, _)| joined.contains(&format!(" {} ", name.to_lowercase())))
        .max_by_key(|(name, _)| name.len())
        .cloned()
}

/// A language of the data (or English) that `text` names.
fn language_in(known: &KnownValues, text: &str) -> Option<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 2)
        .find_map(|w| known.language_name(w))
}

fn fact(text: &str, kind: MemoryKind, slot: Option<&str>) -> Fact {
    Fact {
        text: text.trim().to_owned(),
        kind,
        retention: Retention::Long,
        slot: slot.map(str::to_owned),
        tool_call: None,
    }
}

/// What `message` (the user's) states explicitly.
pub fn extract(message: &str, known: &KnownValues) -> Learnt {
    let mut learnt = Learnt::default();
    for sentence in sentences(message) {
        if let Some(what) = after(
            sentence,
            &["remember that ", "remember ", "kumbuka kwamba "],
        ) {
            // "Remember that I work in Kisumu" is also a statement of where.
            let inner = extract(what, known);
            if inner.facts.is_empty() {
                learnt.facts.push(fact(what, MemoryKind::Fact, None));
            } else {
                learnt.merge(inner);
            }
            continue;
        }
        let lower = sentence.to_lowercase();
        if let Some(what) = after(sentence, &["from now on "]) {
            let language = (lower.contains(" in ") || lower.contains("speak"))
                .then(|| language_in(known, what))
                .flatten();
            let slot = language.is_some().then_some("language");
            learnt
                .facts
                .push(fact(sentence, MemoryKind::Preference, slot));
            learnt.profile.language = language.or(learnt.profile.language.take());
            learnt.profile.detail = detail_in(&lower).or(learnt.profile.detail.take());
            continue;
        }
        if let Some(place) = after(
            sentence,
            &[
                "i work in ",
                "i work at ",
                "i am based in ",
                "i'm based in ",
                "i teach in ",
                "i teach at ",
            ],
        ) {
            learnt
                .facts
                .push(fact(sentence, MemoryKind::Profile, Some("workplace")));
            if let Some((county, country)) = county_in(known, place) {
                learnt.profile.county = Some(county);
                learnt.profile.country = Some(country);
            }
            continue;
        }
        if let Some(what) = after(
            sentence,
            &[
                "i am a ",
                "i am an ",
                "i'm a ",
                "i'm an ",
                "i work as a ",
                "i work as an ",
            ],
        ) {
            let what_lower = what.to_lowercase();
            if let Some((_, role)) = ROLES.iter().find(|(word, _)| what_lower.contains(word)) {
                learnt
                    .facts
                    .push(fact(sentence, MemoryKind::Profile, Some("role")));
                learnt.profile.role = Some(*role);
                if let Some((county, country)) = county_in(known, what) {
                    learnt.profile.county = Some(county);
                    learnt.profile.country = Some(country);
                }
            }
            continue;
        }
        if let Some(name) = after(sentence, &["call me ", "my name is "]) {
            let name: String = name
                .split_whitespace()
                .take(4)
                .collect::<Vec<_>>()
                .join(" ");
            if !name.is_empty()
                && name.chars().count() <= crate::domain::profile::MAX_DISPLAY_NAME_CHARS
            {
                learnt
                    .facts
                    .push(fact(sentence, MemoryKind::Profile, Some("name")));
                learnt.profile.display_name = Some(name);
            }
            continue;
        }
        if let Some(what) = after(
            sentence,
            &[
                "answer in ",
                "answer me in ",
                "reply in ",
                "respond in ",
                "always answer in ",
                "talk to me in ",
            ],
        ) && let Some(language) = language_in(known, what)
        {
            learnt
                .facts
                .push(fact(sentence, MemoryKind::Preference, Some("language")));
            learnt.profile.language = Some(language);
            continue;
        }
        if let Some(detail) = detail_in(&lower)
            && (lower.starts_with("i prefer ")
                || lower.starts_with("i like ")
                || lower.starts_with("keep "))
        {
            learnt
                .facts
                .push(fact(sentence, MemoryKind::Preference, Some("detail")));
            learnt.profile.detail = Some(detail);
        }
    }
    learnt
}

fn detail_in(lower: &str) -> Option<Detail> {
    if [
        "short answer",
        "answers short",
        "brief",
        "keep it short",
        "concise",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        Some(Detail::Short)
    } else if ["detailed answer", "more detail", "in detail", "long answer"]
        .iter()
        .any(|w| lower.contains(w))
    {
        Some(Detail::Detailed)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownValues {
        KnownValues {
            counties: vec![
                ("Kisumu".into(), "KE".into()),
                ("Nairobi".into(), "KE".into()),
                ("ORANGE".into(), "US".into()),
            ],
            sub_counties: vec![],
            languages: vec![("sw".into(), "Kiswahili".into(), vec!["swahili".into()])],
        }
    }

    fn texts(learnt: &Learnt) -> Vec<(&str, MemoryKind, Option<&str>)> {
        learnt
            .facts
            .iter()
            .map(|f| (f.text.as_str(), f.kind, f.slot.as_deref()))
            .collect()
    }

    #[test]
    fn explicit_statements_become_memories_and_profile_fields() {
        let learnt = extract(
            "Hello! I work in Kisumu. I am a county education officer. Please answer in Swahili. Call me Achieng",
            &known(),
        );
        assert_eq!(
            texts(&learnt),
            [
                ("I work in Kisumu", MemoryKind::Profile, Some("workplace")),
                (
                    "I am a county education officer",
                    MemoryKind::Profile,
                    Some("role")
                ),
                (
                    "answer in Swahili",
                    MemoryKind::Preference,
                    Some("language")
                ),
                ("Call me Achieng", MemoryKind::Profile, Some("name")),
            ]
        );
        let p = &learnt.profile;
        assert_eq!(
            (p.county.as_deref(), p.country.as_deref()),
            (Some("Kisumu"), Some("KE"))
        );
        assert_eq!(p.role, Some(ProfileRole::CountyOfficer));
        assert_eq!(p.language.as_deref(), Some("Kiswahili"));
        assert_eq!(p.display_name.as_deref(), Some("Achieng"));
    }

    #[test]
    fn remember_and_from_now_on_are_kept_as_said() {
        let learnt = extract(
            "Remember that my school is Moi Girls. From now on keep answers short",
            &known(),
        );
        assert_eq!(
            texts(&learnt),
            [
                ("my school is Moi Girls", MemoryKind::Fact, None),
                (
                    "From now on keep answers short",
                    MemoryKind::Preference,
                    None
                ),
            ]
        );
        assert_eq!(learnt.profile.detail, Some(Detail::Short));
        let place = extract("Remember that I work in Nairobi", &known());
        assert_eq!(place.profile.county.as_deref(), Some("Nairobi"));
        assert_eq!(
            place.facts.len(),
            1,
            "one memory, not two: {:?}",
            place.facts
        );
    }

    #[test]
    fn questions_and_other_peoples_roles_are_not_statements() {
        for said in [
            "How many schools are in Kisumu?",
            "What does a teacher earn in Nairobi?",
            "I am a bit confused",
            "Answer in Klingon",
        ] {
            let learnt = extract(said, &known());
            assert!(learnt.facts.is_empty(), "{said}: {:?}", learnt.facts);
            assert!(learnt.profile.is_empty(), "{said}");
        }
    }
}
