//! The EMIS domain: schools and stories as one model, whichever data set or
//! backend they come from, plus the text normalisation and geography they use.

pub mod catalog;
pub mod dataset;
pub mod geo;
pub mod languages;
pub mod normalize;

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Country of a school (ISO 3166-1 alpha-2).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Country {
    /// Kenya
    KE,
    /// United States (Florida)
    US,
}

impl Country {
    pub const ALL: [Country; 2] = [Country::KE, Country::US];

    pub fn code(self) -> &'static str {
        match self {
            Country::KE => "KE",
            Country::US => "US",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Country::KE => "Kenya",
            Country::US => "United States (Florida)",
        }
    }
}

/// School level, normalised across data sets; the published value is kept in `level_detail`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    PrePrimary,
    Primary,
    Secondary,
    Other,
    Unknown,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::PrePrimary,
        Level::Primary,
        Level::Secondary,
        Level::Other,
        Level::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::PrePrimary => "pre_primary",
            Level::Primary => "primary",
            Level::Secondary => "secondary",
            Level::Other => "other",
            Level::Unknown => "unknown",
        }
    }
}

/// Who runs a school.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    Public,
    Private,
}

impl Ownership {
    pub const ALL: [Ownership; 2] = [Ownership::Public, Ownership::Private];

    pub fn as_str(self) -> &'static str {
        match self {
            Ownership::Public => "public",
            Ownership::Private => "private",
        }
    }
}

/// One school with every field the data sets publish. Missing values are null,
/// never zero or an empty string. Repeated text (county, ward, source...) is
/// shared between schools (`Arc<str>`), which keeps the bundled data small in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct School {
    /// `KE-<objectid>` for Kenya, `US-<NCES id>` for Florida.
    pub id: String,
    /// Name as published.
    pub name: String,
    pub country: Country,
    pub level: Level,
    /// Level exactly as the source publishes it (e.g. `Primary`, `ELEMENTARY`, `NOT REPORTED`).
    pub level_detail: Arc<str>,
    /// `public`, `private`, or null where the source does not say (Kenya's 2007 rows).
    pub ownership: Option<Ownership>,
    /// Operational status (Florida only): open, closed, new, added, changed_agency,
    /// temporarily_closed, future, reopened.
    pub status: Option<Arc<str>>,
    /// School type (Florida only): regular, special_education, career_technical, alternative.
    pub school_type: Option<Arc<str>>,
    pub county: Option<Arc<str>>,
    /// Kenya only.
    pub sub_county: Option<Arc<str>>,
    /// Kenya only.
    pub ward: Option<Arc<str>>,
    /// Kenya only.
    pub zone: Option<Arc<str>>,
    /// Kenya's district (2016 rows only).
    pub district: Option<Arc<str>>,
    /// Florida only.
    pub city: Option<Arc<str>>,
    /// Street address (Florida only).
    pub address: Option<Arc<str>>,
    /// ZIP code (Florida only).
    pub zip: Option<Arc<str>>,
    /// NCES school district id (Florida only).
    pub district_id: Option<Arc<str>>,
    /// Grade span such as `KG-05` (Florida only).
    pub grades: Option<Arc<str>>,
    pub website: Option<Arc<str>>,
    pub phone: Option<Arc<str>>,
    pub latitude: f64,
    pub longitude: f64,
    /// Pupils enrolled; null where the source has no figure (all of Kenya).
    pub enrolment: Option<u32>,
    /// Full-time-equivalent teachers; null where the source has no figure (all of Kenya).
    pub teachers: Option<u32>,
    /// enrolment / teachers, where both are known and teachers > 0.
    pub pupil_teacher_ratio: Option<f64>,
    /// Kenya's ministry code; not unique.
    pub code: Option<Arc<str>>,
    /// Where the row comes from.
    pub source: Arc<str>,
}

/// The fields of a school that a list shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SchoolSummary {
    pub id: String,
    pub name: String,
    pub country: Country,
    pub level: Level,
    pub ownership: Option<Ownership>,
    pub county: Option<Arc<str>>,
    pub sub_county: Option<Arc<str>>,
    pub city: Option<Arc<str>>,
    pub latitude: f64,
    pub longitude: f64,
    pub enrolment: Option<u32>,
    pub teachers: Option<u32>,
}

impl From<&School> for SchoolSummary {
    fn from(s: &School) -> Self {
        SchoolSummary {
            id: s.id.clone(),
            name: s.name.clone(),
            country: s.country,
            level: s.level,
            ownership: s.ownership,
            county: s.county.clone(),
            sub_county: s.sub_county.clone(),
            city: s.city.clone(),
            latitude: s.latitude,
            longitude: s.longitude,
            enrolment: s.enrolment,
            teachers: s.teachers,
        }
    }
}

/// One African Storybook story (CC BY).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Story {
    /// `asp-<language>-<number>`.
    pub id: String,
    pub story_number: String,
    /// ISO 639 code as published (some carry a regional suffix, e.g. `tw-asan`).
    pub language: String,
    pub language_name: String,
    pub title: String,
    /// Full text; pages are separated by a blank line.
    pub body: String,
    pub pages: u32,
    pub words: u32,
    pub license: String,
    pub text_by: String,
    pub illustration_by: String,
    pub translation_by: Option<String>,
    pub asp_url: Option<String>,
    pub license_url: Option<String>,
    pub source_repo: String,
    pub source_path: String,
    pub source_commit: String,
    /// Credit line that must accompany the story wherever its text is shown.
    pub attribution: String,
}

/// The attribution line the African Storybook licence asks for.
pub fn story_attribution(
    title: &str,
    text_by: &str,
    illustration_by: &str,
    translation_by: Option<&str>,
    license: &str,
) -> String {
    let mut line = format!("\"{title}\", text by {text_by}, illustrated by {illustration_by}");
    if let Some(t) = translation_by {
        line.push_str(", translated by ");
        line.push_str(t);
    }
    line.push_str(", African Storybook (africanstorybook.org), licensed ");
    line.push_str(license);
    line.push('.');
    line
}

/// A story as a search result lists it: everything but the body, plus an excerpt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StorySummary {
    pub id: String,
    pub title: String,
    pub language: String,
    pub language_name: String,
    pub pages: u32,
    pub words: u32,
    pub license: String,
    pub attribution: String,
    /// The opening of the story (about 200 characters).
    pub excerpt: String,
}

impl From<&Story> for StorySummary {
    fn from(s: &Story) -> Self {
        StorySummary {
            id: s.id.clone(),
            title: s.title.clone(),
            language: s.language.clone(),
            language_name: s.language_name.clone(),
            pages: s.pages,
            words: s.words,
            license: s.license.clone(),
            attribution: s.attribution.clone(),
            excerpt: excerpt(&s.body, 200),
        }
    }
}

/// The first `max_chars` characters of `body` on one line, cut at a word boundary.
pub fn excerpt(body: &str, max_chars: usize) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let cut: String = flat.chars().take(max_chars).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}
