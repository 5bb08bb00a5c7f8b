//! The EMIS backend: one trait, two implementations (the bundled data indexed
//! in memory, and PostgreSQL). Tools talk only to the trait; filters reach it
//! already validated and normalised.

pub mod embedded;
pub mod postgres;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::emis::{
    Country, Level, Ownership, School, SchoolSummary, Story, StorySummary, catalog::Catalog,
};

/// Validated filters shared by search, nearby and statistics. County and
/// sub-county are normalised (see `emis::normalize`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SchoolFilter {
    pub country: Option<Country>,
    pub county: Option<String>,
    pub sub_county: Option<String>,
    pub level: Option<Level>,
    pub ownership: Option<Ownership>,
}

/// A school search: free text (matched on the name) plus filters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolSearch {
    pub query: Option<String>,
    pub filter: SchoolFilter,
    /// `None`: best match first (a query), else by name.
    pub sort: Option<SchoolSort>,
    pub limit: usize,
    pub offset: usize,
}

/// A figure of each school that a search may be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortFigure {
    Enrolment,
    Teachers,
    /// Enrolment over teachers, where both are given and teachers > 0.
    PupilTeacherRatio,
}

/// A search ordered by a figure; schools without it come last (by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SchoolSort {
    pub by: SortFigure,
    pub descending: bool,
}

impl SortFigure {
    /// `school`'s figure, `None` where the data has none.
    pub fn of(self, school: &School) -> Option<f64> {
        match self {
            SortFigure::Enrolment => school.enrolment.map(f64::from),
            SortFigure::Teachers => school.teachers.map(f64::from),
            SortFigure::PupilTeacherRatio => match (school.enrolment, school.teachers) {
                (Some(e), Some(t)) if t > 0 => Some(f64::from(e) / f64::from(t)),
                _ => None,
            },
        }
    }
}

/// A page of schools and how many matched in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SchoolPage {
    /// Schools matching the query and filters, across all pages.
    pub total: u64,
    pub schools: Vec<SchoolSummary>,
}

/// Schools within a radius of a point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearQuery {
    pub latitude: f64,
    pub longitude: f64,
    pub radius_km: f64,
    pub filter: SchoolFilter,
    pub limit: usize,
}

/// A school with its distance from the query point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NearbySchool {
    /// Great-circle distance from the query point, in kilometres (two decimals).
    pub distance_km: f64,
    #[serde(flatten)]
    pub school: SchoolSummary,
}

/// Nearby schools, nearest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NearPage {
    /// Schools inside the radius (matching the filters), of which `schools` lists the nearest.
    pub total: u64,
    pub schools: Vec<NearbySchool>,
}

/// What statistics are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Country,
    County,
    SubCounty,
    Level,
    Ownership,
}

impl GroupBy {
    pub const ALL: [GroupBy; 5] = [
        GroupBy::Country,
        GroupBy::County,
        GroupBy::SubCounty,
        GroupBy::Level,
        GroupBy::Ownership,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Country => "country",
            GroupBy::County => "county",
            GroupBy::SubCounty => "sub_county",
            GroupBy::Level => "level",
            GroupBy::Ownership => "ownership",
        }
    }
}

/// Raw figures for one group, before the tool explains the gaps.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupAggregate {
    /// Group value as published; `None` for schools the source gives no value for.
    pub key: Option<String>,
    pub schools: u64,
    pub schools_reporting_enrolment: u64,
    pub schools_reporting_teachers: u64,
    /// Sum over schools that report enrolment (0 when none do).
    pub enrolment: u64,
    /// Sum over schools that report teachers (0 when none do).
    pub teachers: u64,
    /// Schools that report both enrolment and teachers, more than 0 of each:
    /// the only ones a pupil-teacher ratio may be computed over (the data's
    /// rule; its count of such Florida schools, 3,755, leaves out those
    /// reporting 0 pupils).
    pub schools_in_ratio: u64,
    /// Enrolment and teachers summed over those schools.
    pub ratio_enrolment: u64,
    pub ratio_teachers: u64,
    /// Kenyan schools in the group (which have no enrolment or teacher figures).
    pub kenya_schools: u64,
}

/// A story search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContentSearch {
    pub query: Option<String>,
    /// A story may match any of the query's words (else it must match all).
    pub any_word: bool,
    /// Language code, validated.
    pub language: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

/// A page of stories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoryPage {
    pub total: u64,
    pub stories: Vec<StorySummary>,
}

/// Why a backend could not answer.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The database is down or the pool is exhausted: try again later.
    #[error("the EMIS database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: a bug or corrupt data.
    #[error("the EMIS backend failed")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The EMIS data behind the tools.
#[async_trait]
pub trait EmisBackend: Send + Sync + 'static {
    /// `embedded` or `postgres`.
    fn kind(&self) -> &'static str;
    /// Known filter values and counts.
    fn catalog(&self) -> &Catalog;
    async fn search_schools(&self, search: &SchoolSearch) -> Result<SchoolPage, BackendError>;
    async fn get_school(&self, id: &str) -> Result<Option<School>, BackendError>;
    async fn schools_near(&self, query: &NearQuery) -> Result<NearPage, BackendError>;
    /// Groups sorted by school count, largest first, then by key.
    async fn statistics(
        &self,
        filter: &SchoolFilter,
        group_by: GroupBy,
    ) -> Result<Vec<GroupAggregate>, BackendError>;
    async fn search_content(&self, search: &ContentSearch) -> Result<StoryPage, BackendError>;
    async fn get_content(&self, id: &str) -> Result<Option<Story>, BackendError>;
    /// School ids whose id starts with, or whose name matches, `partial` (for completion).
    async fn complete_school_ids(
        &self,
        partial: &str,
        limit: usize,
    ) -> Result<Vec<String>, BackendError>;
    /// Story ids whose id starts with, or whose title matches, `partial` (for completion).
    async fn complete_content_ids(
        &self,
        partial: &str,
        limit: usize,
    ) -> Result<Vec<String>, BackendError>;
    /// Whether the backend can serve requests now.
    async fn ping(&self) -> Result<(), BackendError>;
}

/// Words a school-name query may contain without them being required to match
/// ("Parker Elementary School" finds "PARKER ELEMENTARY").
pub const OPTIONAL_WORDS: &[&str] = &["school", "schools", "sch", "the", "of", "and", "a"];

/// Sorts groups the way every backend reports them: most schools first, then by key (nulls last).
pub fn sort_groups(groups: &mut [GroupAggregate]) {
    groups.sort_by(|a, b| {
        b.schools
            .cmp(&a.schools)
            .then_with(|| a.key.is_none().cmp(&b.key.is_none()))
            .then_with(|| a.key.cmp(&b.key))
    });
}
