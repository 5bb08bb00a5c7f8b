//! The production backend: EMIS tables in PostgreSQL (`migrations/postgres/emis`),
//! loaded by `mcp-server import`. Name search uses pg_trgm word similarity on
//! the server-normalised names; every value is a bound parameter.

use std::{path::Path, sync::Arc, time::Duration};

use async_trait::async_trait;
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::{
    PgPool, Postgres, QueryBuilder, Row,
    migrate::Migrator,
    postgres::{PgPoolOptions, PgRow},
};

use super::{
    BackendError, ContentSearch, EmisBackend, GroupAggregate, GroupBy, NearPage, NearQuery,
    NearbySchool, OPTIONAL_WORDS, SchoolFilter, SchoolPage, SchoolSearch, SortFigure, StoryPage,
    sort_groups,
};
use crate::emis::{
    Country, Level, Ownership, School, SchoolSummary, Story, StorySummary,
    catalog::{Catalog, RegionRow},
    dataset::{Dataset, round2},
    geo::{EARTH_RADIUS_KM, bounding_box},
    normalize::{normalize, tokens},
};

/// The EMIS schema. The chat server's tables may share the database and its
/// migration table, so migrations this crate does not know are tolerated.
pub fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("../migrations/postgres/emis");
    migrator.set_ignore_missing(true);
    migrator
}

/// Rows per INSERT batch during import.
const BATCH: usize = 2_000;

const SUMMARY_COLUMNS: &str = "id, name, country, level, ownership, county, sub_county, city, latitude, longitude, enrolment, teachers";

/// EMIS data in PostgreSQL.
#[derive(Debug)]
pub struct PostgresBackend {
    pool: PgPool,
    catalog: Catalog,
}

impl From<sqlx::Error> for BackendError {
    fn from(error: sqlx::Error) -> Self {
        classify(error)
    }
}

fn classify(error: sqlx::Error) -> BackendError {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => BackendError::Unavailable(Box::new(error)),
        other => BackendError::Internal(Box::new(other)),
    }
}

/// Opens a pool, with short timeouts so an outage fails a request instead of hanging it.
pub async fn pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
}

impl PostgresBackend {
    /// Connects, applies the schema, and reads the catalog.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let pool = pool(url, max_connections).await?;
        migrator().run(&pool).await?;
        let catalog = load_catalog(&pool).await?;
        if catalog.school_count == 0 {
            tracing::warn!("the EMIS tables are empty; run `mcp-server import` to load the data");
        }
        Ok(PostgresBackend { pool, catalog })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

async fn load_catalog(pool: &PgPool) -> Result<Catalog, sqlx::Error> {
    let regions = sqlx::query(
        "SELECT country, county, sub_county, count(*) AS n FROM emis_schools GROUP BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| {
        let Some(country) = parse_country(row.try_get("country")?) else {
            return Ok(None);
        };
        Ok(Some(RegionRow {
            country,
            county: row.try_get("county")?,
            sub_county: row.try_get("sub_county")?,
            schools: row.try_get::<i64, _>("n")? as u64,
        }))
    })
    .filter_map(Result::transpose)
    .collect::<Result<_, sqlx::Error>>()?;
    let languages = sqlx::query("SELECT language, count(*) AS n FROM emis_stories GROUP BY 1")
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|row| {
            Ok((
                row.try_get::<String, _>("language")?,
                row.try_get::<i64, _>("n")? as u64,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Catalog::new(regions, languages))
}

fn parse_country(code: &str) -> Option<Country> {
    match code {
        "KE" => Some(Country::KE),
        "US" => Some(Country::US),
        _ => None,
    }
}

fn parse_level(value: &str) -> Level {
    Level::ALL
        .into_iter()
        .find(|l| l.as_str() == value)
        .unwrap_or(Level::Unknown)
}

fn parse_ownership(value: Option<&str>) -> Option<Ownership> {
    value.and_then(|v| Ownership::ALL.into_iter().find(|o| o.as_str() == v))
}

// Columns are read with `try_get`: a schema that does not match is an
// error for the request, never a panic.

fn text(row: &PgRow, column: &str) -> Result<Option<Arc<str>>, sqlx::Error> {
    Ok(row.try_get::<Option<String>, _>(column)?.map(Arc::from))
}

fn count(row: &PgRow, column: &str) -> Result<Option<u32>, sqlx::Error> {
    Ok(row
        .try_get::<Option<i32>, _>(column)?
        .and_then(|n| u32::try_from(n).ok()))
}

fn summary(row: &PgRow) -> Result<SchoolSummary, sqlx::Error> {
    Ok(SchoolSummary {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        country: parse_country(row.try_get("country")?).unwrap_or(Country::KE),
        level: parse_level(row.try_get("level")?),
        ownership: parse_ownership(row.try_get("ownership")?),
        county: text(row, "county")?,
        sub_county: text(row, "sub_county")?,
        city: text(row, "city")?,
        latitude: row.try_get("latitude")?,
        longitude: row.try_get("longitude")?,
        enrolment: count(row, "enrolment")?,
        teachers: count(row, "teachers")?,
    })
}

fn school(row: &PgRow) -> Result<School, sqlx::Error> {
    Ok(School {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        country: parse_country(row.try_get("country")?).unwrap_or(Country::KE),
        level: parse_level(row.try_get("level")?),
        level_detail: Arc::from(row.try_get::<String, _>("level_detail")?),
        ownership: parse_ownership(row.try_get("ownership")?),
        status: text(row, "status")?,
        school_type: text(row, "school_type")?,
        county: text(row, "county")?,
        sub_county: text(row, "sub_county")?,
        ward: text(row, "ward")?,
        zone: text(row, "zone")?,
        district: text(row, "district")?,
        city: text(row, "city")?,
        address: text(row, "address")?,
        zip: text(row, "zip")?,
        district_id: text(row, "district_id")?,
        grades: text(row, "grades")?,
        website: text(row, "website")?,
        phone: text(row, "phone")?,
        latitude: row.try_get("latitude")?,
        longitude: row.try_get("longitude")?,
        enrolment: count(row, "enrolment")?,
        teachers: count(row, "teachers")?,
        pupil_teacher_ratio: row.try_get("pupil_teacher_ratio")?,
        code: text(row, "code")?,
        source: Arc::from(row.try_get::<String, _>("source")?),
    })
}

fn story(row: &PgRow) -> Result<Story, sqlx::Error> {
    Ok(Story {
        id: row.try_get("id")?,
        story_number: row.try_get("story_number")?,
        language: row.try_get("language")?,
        language_name: row.try_get("language_name")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        pages: row.try_get::<i32, _>("pages")?.max(0) as u32,
        words: row.try_get::<i32, _>("words")?.max(0) as u32,
        license: row.try_get("license")?,
        text_by: row.try_get("text_by")?,
        illustration_by: row.try_get("illustration_by")?,
        translation_by: row.try_get("translation_by")?,
        asp_url: row.try_get("asp_url")?,
        license_url: row.try_get("license_url")?,
        source_repo: row.try_get("source_repo")?,
        source_path: row.try_get("source_path")?,
        source_commit: row.try_get("source_commit")?,
        attribution: row.try_get("attribution")?,
    })
}

/// Appends `AND ...` for every filter set.
fn push_filter(qb: &mut QueryBuilder<'_, Postgres>, filter: &SchoolFilter) {
    if let Some(c) = filter.country {
        qb.push(" AND country = ").push_bind(c.code());
    }
    if let Some(c) = &filter.county {
        qb.push(" AND county_norm = ").push_bind(c.clone());
    }
    if let Some(s) = &filter.sub_county {
        qb.push(" AND sub_county_norm = ").push_bind(s.clone());
    }
    if let Some(l) = filter.level {
        qb.push(" AND level = ").push_bind(l.as_str());
    }
    if let Some(o) = filter.ownership {
        qb.push(" AND ownership = ").push_bind(o.as_str());
    }
}

/// Required and optional words of a query, as in the embedded backend.
fn query_words(query_norm: &str) -> (Vec<String>, Vec<String>) {
    let (optional, required): (Vec<&str>, Vec<&str>) =
        tokens(query_norm).partition(|w| OPTIONAL_WORDS.contains(w));
    let own = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
    if required.is_empty() {
        (own(optional), Vec::new())
    } else {
        (own(required), own(optional))
    }
}

#[async_trait]
impl EmisBackend for PostgresBackend {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    async fn search_schools(&self, search: &SchoolSearch) -> Result<SchoolPage, BackendError> {
        let query = search
            .query
            .as_deref()
            .map(normalize)
            .filter(|q| !q.is_empty());
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {SUMMARY_COLUMNS}, count(*) OVER () AS total"
        ));
        match &query {
            Some(q) => {
                let (required, _) = query_words(q);
                qb.push(", (");
                for (i, word) in required.iter().enumerate() {
                    if i > 0 {
                        qb.push(" + ");
                    }
                    qb.push("word_similarity(")
                        .push_bind(word.clone())
                        .push(", name_norm)");
                }
                qb.push(") + CASE WHEN name_norm = ").push_bind(q.clone());
                qb.push(" THEN 5 WHEN starts_with(name_norm, ")
                    .push_bind(q.clone());
                qb.push(") THEN 1 ELSE 0 END + 0.5 * LEAST(1.0, ")
                    .push_bind(required.len() as f64);
                qb.push(" / GREATEST(1, array_length(string_to_array(name_norm, ' '), 1))) AS score FROM emis_schools WHERE true");
                for word in &required {
                    qb.push(" AND ")
                        .push_bind(word.clone())
                        .push(" <% name_norm");
                }
                push_filter(&mut qb, &search.filter);
                qb.push(" ORDER BY ");
                if search.sort.is_none() {
                    qb.push("score DESC, ");
                }
            }
            None => {
                qb.push(" FROM emis_schools WHERE true");
                push_filter(&mut qb, &search.filter);
                qb.push(" ORDER BY ");
            }
        }
        if let Some(sort) = search.sort {
            // The expressions are fixed strings, never caller text.
            let figure = match sort.by {
                SortFigure::Enrolment => "enrolment",
                SortFigure::Teachers => "teachers",
                SortFigure::PupilTeacherRatio => "enrolment::float8 / NULLIF(teachers, 0)",
            };
            qb.push(format!(
                "{figure} {} NULLS LAST, ",
                if sort.descending { "DESC" } else { "ASC" }
            ));
        }
        qb.push("name_norm, id");
        qb.push(" LIMIT ")
            .push_bind(search.limit as i64)
            .push(" OFFSET ")
            .push_bind(search.offset as i64);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(classify)?;
        let total = match rows.first() {
            Some(row) => row.try_get::<i64, _>("total")? as u64,
            // The page is past the end: count separately so `total` stays right.
            None if search.offset > 0 => {
                self.count_schools(query.as_deref(), &search.filter).await?
            }
            None => 0,
        };
        Ok(SchoolPage {
            total,
            schools: rows.iter().map(summary).collect::<Result<_, _>>()?,
        })
    }

    async fn get_school(&self, id: &str) -> Result<Option<School>, BackendError> {
        let row = sqlx::query("SELECT * FROM emis_schools WHERE id = $1")
            .bind(id.trim())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        Ok(row.as_ref().map(school).transpose()?)
    }

    async fn schools_near(&self, query: &NearQuery) -> Result<NearPage, BackendError> {
        let (lat_min, lat_max, lon_min, lon_max) =
            bounding_box(query.latitude, query.longitude, query.radius_km);
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT *, count(*) OVER () AS total FROM (SELECT {SUMMARY_COLUMNS}, 2 * "
        ));
        qb.push_bind(EARTH_RADIUS_KM);
        qb.push(" * asin(least(1, sqrt(power(sin(radians(latitude - ")
            .push_bind(query.latitude);
        qb.push(") / 2), 2) + cos(radians(")
            .push_bind(query.latitude);
        qb.push(")) * cos(radians(latitude)) * power(sin(radians(longitude - ")
            .push_bind(query.longitude);
        qb.push(") / 2), 2)))) AS distance_km FROM emis_schools WHERE latitude BETWEEN ")
            .push_bind(lat_min);
        qb.push(" AND ").push_bind(lat_max);
        if lon_min >= -180.0 && lon_max <= 180.0 {
            qb.push(" AND longitude BETWEEN ")
                .push_bind(lon_min)
                .push(" AND ")
                .push_bind(lon_max);
        }
        push_filter(&mut qb, &query.filter);
        qb.push(") AS near WHERE distance_km <= ")
            .push_bind(query.radius_km);
        qb.push(" ORDER BY distance_km, id LIMIT ")
            .push_bind(query.limit as i64);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(classify)?;
        let total = match rows.first() {
            Some(row) => row.try_get::<i64, _>("total")? as u64,
            None => 0,
        };
        let schools = rows
            .iter()
            .map(|row| {
                Ok(NearbySchool {
                    distance_km: round2(row.try_get("distance_km")?),
                    school: summary(row)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(NearPage { total, schools })
    }

    async fn statistics(
        &self,
        filter: &SchoolFilter,
        group_by: GroupBy,
    ) -> Result<Vec<GroupAggregate>, BackendError> {
        // Column names come from this match, never from input.
        let (key, group) = match group_by {
            GroupBy::Country => ("country", "country"),
            GroupBy::County => ("min(county)", "county_norm"),
            GroupBy::SubCounty => ("min(sub_county)", "sub_county_norm"),
            GroupBy::Level => ("level", "level"),
            GroupBy::Ownership => ("ownership", "ownership"),
        };
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {key} AS key, count(*) AS schools, count(enrolment) AS with_enrolment, \
             count(teachers) AS with_teachers, coalesce(sum(enrolment), 0)::bigint AS enrolment, \
             coalesce(sum(teachers), 0)::bigint AS teachers, count(*) FILTER (WHERE country = 'KE') AS kenya, \
             count(*) FILTER (WHERE enrolment > 0 AND teachers > 0) AS in_ratio, \
             coalesce(sum(enrolment) FILTER (WHERE enrolment > 0 AND teachers > 0), 0)::bigint AS ratio_enrolment, \
             coalesce(sum(teachers) FILTER (WHERE enrolment > 0 AND teachers > 0), 0)::bigint AS ratio_teachers \
             FROM emis_schools WHERE true"
        ));
        push_filter(&mut qb, filter);
        qb.push(format!(" GROUP BY {group}"));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(classify)?;
        let mut groups: Vec<GroupAggregate> = rows
            .iter()
            .map(|row| {
                Ok(GroupAggregate {
                    key: row.try_get("key")?,
                    schools: row.try_get::<i64, _>("schools")? as u64,
                    schools_reporting_enrolment: row.try_get::<i64, _>("with_enrolment")? as u64,
                    schools_reporting_teachers: row.try_get::<i64, _>("with_teachers")? as u64,
                    enrolment: row.try_get::<i64, _>("enrolment")? as u64,
                    teachers: row.try_get::<i64, _>("teachers")? as u64,
                    kenya_schools: row.try_get::<i64, _>("kenya")? as u64,
                    schools_in_ratio: row.try_get::<i64, _>("in_ratio")? as u64,
                    ratio_enrolment: row.try_get::<i64, _>("ratio_enrolment")? as u64,
                    ratio_teachers: row.try_get::<i64, _>("ratio_teachers")? as u64,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        sort_groups(&mut groups);
        Ok(groups)
    }

    async fn search_content(&self, search: &ContentSearch) -> Result<StoryPage, BackendError> {
        let query = search
            .query
            .as_deref()
            .map(normalize)
            .filter(|q| !q.is_empty());
        let mut qb = QueryBuilder::<Postgres>::new("SELECT *, count(*) OVER () AS total");
        match &query {
            Some(q) => {
                let (required, _) = query_words(q);
                let joined = prefix_query(&required);
                let joined = if search.any_word {
                    joined.replace(" & ", " | ")
                } else {
                    joined
                };
                qb.push(", ts_rank(search, to_tsquery('simple', ")
                    .push_bind(joined);
                qb.push(")) + 2 * word_similarity(").push_bind(q.clone());
                qb.push(", title_norm) + CASE WHEN title_norm = ")
                    .push_bind(q.clone());
                qb.push(" THEN 5 ELSE 0 END AS score FROM emis_stories WHERE (");
                for (i, word) in required.iter().enumerate() {
                    if i > 0 {
                        qb.push(if search.any_word { " OR " } else { " AND " });
                    }
                    qb.push("(search @@ to_tsquery('simple', ")
                        .push_bind(prefix_query(std::slice::from_ref(word)));
                    qb.push(") OR ")
                        .push_bind(word.clone())
                        .push(" <% title_norm)");
                }
                qb.push(")");
            }
            None => {
                qb.push(", 0 AS score FROM emis_stories WHERE true");
            }
        }
        if let Some(language) = &search.language {
            qb.push(" AND language = ").push_bind(language.clone());
        }
        qb.push(if query.is_some() {
            " ORDER BY score DESC, id"
        } else {
            " ORDER BY title_norm, id"
        });
        qb.push(" LIMIT ")
            .push_bind(search.limit as i64)
            .push(" OFFSET ")
            .push_bind(search.offset as i64);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(classify)?;
        let total = match rows.first() {
            Some(row) => row.try_get::<i64, _>("total")? as u64,
            None => 0,
        };
        Ok(StoryPage {
            total,
            stories: rows
                .iter()
                .map(|r| story(r).map(|s| StorySummary::from(&s)))
                .collect::<Result<_, _>>()?,
        })
    }

    async fn get_content(&self, id: &str) -> Result<Option<Story>, BackendError> {
        let row = sqlx::query("SELECT * FROM emis_stories WHERE id = $1")
            .bind(id.trim())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        Ok(row.as_ref().map(story).transpose()?)
    }

    async fn complete_school_ids(
        &self,
        partial: &str,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let upper = partial.trim().to_ascii_uppercase();
        if upper.starts_with("KE") || upper.starts_with("US") {
            let rows = sqlx::query(
                "SELECT id FROM emis_schools WHERE starts_with(id, $1) ORDER BY id LIMIT $2",
            )
            .bind(&upper)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
            return Ok(rows
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()?);
        }
        let page = self
            .search_schools(&SchoolSearch {
                query: Some(partial.to_owned()),
                filter: SchoolFilter::default(),
                sort: None,
                limit,
                offset: 0,
            })
            .await?;
        Ok(page.schools.into_iter().map(|s| s.id).collect())
    }

    async fn complete_content_ids(
        &self,
        partial: &str,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let lower = partial.trim().to_ascii_lowercase();
        if lower.is_empty() || lower.starts_with("asp-") {
            let rows = sqlx::query(
                "SELECT id FROM emis_stories WHERE starts_with(id, $1) ORDER BY id LIMIT $2",
            )
            .bind(&lower)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
            return Ok(rows
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()?);
        }
        let page = self
            .search_content(&ContentSearch {
                query: Some(partial.to_owned()),
                any_word: false,
                language: None,
                limit,
                offset: 0,
            })
            .await?;
        Ok(page.stories.into_iter().map(|s| s.id).collect())
    }

    async fn ping(&self) -> Result<(), BackendError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)
            .map(|_| ())
    }
}

impl PostgresBackend {
    async fn count_schools(
        &self,
        query: Option<&str>,
        filter: &SchoolFilter,
    ) -> Result<u64, BackendError> {
        let mut qb =
            QueryBuilder::<Postgres>::new("SELECT count(*) AS n FROM emis_schools WHERE true");
        if let Some(q) = query {
            for word in query_words(q).0 {
                qb.push(" AND ").push_bind(word).push(" <% name_norm");
            }
        }
        push_filter(&mut qb, filter);
        let row = qb.build().fetch_one(&self.pool).await.map_err(classify)?;
        Ok(row.try_get::<i64, _>("n")? as u64)
    }
}

/// `a:* & b:*` over normalised words (letters and digits only, so nothing in
/// them is tsquery syntax).
fn prefix_query(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| format!("{w}:*"))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ImportReport {
    pub files: Vec<crate::emis::dataset::FileReport>,
    pub schools_in_database: u64,
    pub stories_in_database: u64,
    pub schools_removed: u64,
    pub stories_removed: u64,
}

/// Loads the data sets into PostgreSQL in one transaction: upserts every row
/// and removes rows that are no longer in the data, so running it again leaves
/// the same tables.
pub async fn import(url: &str, data_dir: Option<&Path>) -> anyhow::Result<ImportReport> {
    let data = match data_dir {
        Some(dir) => Dataset::from_dir(dir)?,
        None => Dataset::bundled()?,
    };
    for report in &data.reports {
        eprintln!("{report}");
        for reason in &report.reasons {
            eprintln!("  rejected {reason}");
        }
        for renamed in &report.renamed {
            eprintln!("  renamed {renamed}");
        }
    }
    let pool = pool(url, 2).await?;
    migrator().run(&pool).await?;
    let progress = ProgressBar::new((data.schools.len() + data.stories.len()) as u64);
    progress.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} rows ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut tx = pool.begin().await?;
    progress.set_message("schools");
    for chunk in data.schools.chunks(BATCH) {
        upsert_schools(&mut tx, chunk).await?;
        progress.inc(chunk.len() as u64);
    }
    progress.set_message("stories");
    for chunk in data.stories.chunks(BATCH / 4) {
        upsert_stories(&mut tx, chunk).await?;
        progress.inc(chunk.len() as u64);
    }
    let school_ids: Vec<&str> = data.schools.iter().map(|s| s.id.as_str()).collect();
    let story_ids: Vec<&str> = data.stories.iter().map(|s| s.id.as_str()).collect();
    let schools_removed = sqlx::query("DELETE FROM emis_schools WHERE id <> ALL($1)")
        .bind(&school_ids)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let stories_removed = sqlx::query("DELETE FROM emis_stories WHERE id <> ALL($1)")
        .bind(&story_ids)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    progress.finish_with_message("done");
    let schools_in_database: i64 = sqlx::query_scalar("SELECT count(*) FROM emis_schools")
        .fetch_one(&pool)
        .await?;
    let stories_in_database: i64 = sqlx::query_scalar("SELECT count(*) FROM emis_stories")
        .fetch_one(&pool)
        .await?;
    let report = ImportReport {
        files: data.reports,
        schools_in_database: schools_in_database as u64,
        stories_in_database: stories_in_database as u64,
        schools_removed,
        stories_removed,
    };
    eprintln!(
        "database now holds {} schools and {} stories ({} schools and {} stories removed)",
        report.schools_in_database, report.stories_in_database, schools_removed, stories_removed
    );
    Ok(report)
}

async fn upsert_schools(
    tx: &mut sqlx::PgConnection,
    schools: &[School],
) -> Result<(), sqlx::Error> {
    let col = |f: fn(&School) -> Option<&str>| schools.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO emis_schools (id, name, name_norm, country, level, level_detail, ownership, status, school_type, \
         county, county_norm, sub_county, sub_county_norm, ward, zone, district, city, address, zip, district_id, \
         grades, website, phone, latitude, longitude, enrolment, teachers, pupil_teacher_ratio, code, source) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], \
         $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], \
         $24::float8[], $25::float8[], $26::int4[], $27::int4[], $28::float8[], $29::text[], $30::text[]) \
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, name_norm = EXCLUDED.name_norm, \
         country = EXCLUDED.country, level = EXCLUDED.level, level_detail = EXCLUDED.level_detail, \
         ownership = EXCLUDED.ownership, status = EXCLUDED.status, school_type = EXCLUDED.school_type, \
         county = EXCLUDED.county, county_norm = EXCLUDED.county_norm, sub_county = EXCLUDED.sub_county, \
         sub_county_norm = EXCLUDED.sub_county_norm, ward = EXCLUDED.ward, zone = EXCLUDED.zone, \
         district = EXCLUDED.district, city = EXCLUDED.city, address = EXCLUDED.address, zip = EXCLUDED.zip, \
         district_id = EXCLUDED.district_id, grades = EXCLUDED.grades, website = EXCLUDED.website, \
         phone = EXCLUDED.phone, latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, \
         enrolment = EXCLUDED.enrolment, teachers = EXCLUDED.teachers, \
         pupil_teacher_ratio = EXCLUDED.pupil_teacher_ratio, code = EXCLUDED.code, source = EXCLUDED.source",
    )
    .bind(schools.iter().map(|s| s.id.clone()).collect::<Vec<_>>())
    .bind(schools.iter().map(|s| s.name.clone()).collect::<Vec<_>>())
    .bind(schools.iter().map(|s| normalize(&s.name)).collect::<Vec<_>>())
    .bind(schools.iter().map(|s| s.country.code()).collect::<Vec<_>>())
    .bind(schools.iter().map(|s| s.level.as_str()).collect::<Vec<_>>())
    .bind(schools.iter().map(|s| s.level_detail.as_ref()).collect::<Vec<_>>())
    .bind(schools.iter().map(|s| s.ownership.map(|o| o.as_str())).collect::<Vec<_>>())
    .bind(col(|s| s.status.as_deref()))
    .bind(col(|s| s.school_type.as_deref()))
    .bind(col(|s| s.county.as_deref()))
    .bind(schools.iter().map(|s| s.county.as_deref().map(normalize)).collect::<Vec<_>>())
    .bind(col(|s| s.sub_county.as_deref()))
    .bind(schools.iter().map(|s| s.sub_county.as_deref().map(normalize)).collect::<Vec<_>>())
    .bind(col(|s| s.ward.as_deref()))
    .bind(col(|s| s.zone.as_deref()))
    .bind(col(|s| s.district.as_deref()))
    .bind(col(|s| s.city.as_deref()))
    .bind(col(|s| s.address.as_deref()))
    .bind(col(|s| s.zip.as_deref()))
    .bind(col(|s| s.district_id.as_deref()))
    .bind(col(|s| s.grades.as_deref()))
    .bind(col(|s| s.website.as_deref()))
    .bind(col(|s| s.phone.as_deref()))
    .bind(schools.iter().map(|s| s.latitude).collect::<Vec<_>>())
    .bind(schools.iter().map(|s| s.longitude).collect::<Vec<_>>())
    .bind(schools.iter().map(|s| s.enrolment.map(|n| n as i32)).collect::<Vec<_>>())
    .bind(schools.iter().map(|s| s.teachers.map(|n| n as i32)).collect::<Vec<_>>())
    .bind(schools.iter().map(|s| s.pupil_teacher_ratio).collect::<Vec<_>>())
    .bind(col(|s| s.code.as_deref()))
    .bind(schools.iter().map(|s| s.source.as_ref()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn upsert_stories(tx: &mut sqlx::PgConnection, stories: &[Story]) -> Result<(), sqlx::Error> {
    let text = |f: fn(&Story) -> String| stories.iter().map(f).collect::<Vec<_>>();
    let opt = |f: fn(&Story) -> Option<String>| stories.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO emis_stories (id, story_number, language, language_name, title, title_norm, body, pages, words, \
         license, text_by, illustration_by, translation_by, asp_url, license_url, source_repo, source_path, \
         source_commit, attribution, search) \
         SELECT id, story_number, language, language_name, title, title_norm, body, pages, words, license, text_by, \
         illustration_by, translation_by, asp_url, license_url, source_repo, source_path, source_commit, attribution, \
         to_tsvector('simple', search_text) \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int4[], \
         $9::int4[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], \
         $17::text[], $18::text[], $19::text[], $20::text[]) AS t(id, story_number, language, language_name, title, \
         title_norm, body, pages, words, license, text_by, illustration_by, translation_by, asp_url, license_url, \
         source_repo, source_path, source_commit, attribution, search_text) \
         ON CONFLICT (id) DO UPDATE SET story_number = EXCLUDED.story_number, language = EXCLUDED.language, \
         language_name = EXCLUDED.language_name, title = EXCLUDED.title, title_norm = EXCLUDED.title_norm, \
         body = EXCLUDED.body, pages = EXCLUDED.pages, words = EXCLUDED.words, license = EXCLUDED.license, \
         text_by = EXCLUDED.text_by, illustration_by = EXCLUDED.illustration_by, \
         translation_by = EXCLUDED.translation_by, asp_url = EXCLUDED.asp_url, license_url = EXCLUDED.license_url, \
         source_repo = EXCLUDED.source_repo, source_path = EXCLUDED.source_path, \
         source_commit = EXCLUDED.source_commit, attribution = EXCLUDED.attribution, search = EXCLUDED.search",
    )
    .bind(text(|s| s.id.clone()))
    .bind(text(|s| s.story_number.clone()))
    .bind(text(|s| s.language.clone()))
    .bind(text(|s| s.language_name.clone()))
    .bind(text(|s| s.title.clone()))
    .bind(text(|s| normalize(&s.title)))
    .bind(text(|s| s.body.clone()))
    .bind(stories.iter().map(|s| s.pages as i32).collect::<Vec<_>>())
    .bind(stories.iter().map(|s| s.words as i32).collect::<Vec<_>>())
    .bind(text(|s| s.license.clone()))
    .bind(text(|s| s.text_by.clone()))
    .bind(text(|s| s.illustration_by.clone()))
    .bind(opt(|s| s.translation_by.clone()))
    .bind(opt(|s| s.asp_url.clone()))
    .bind(opt(|s| s.license_url.clone()))
    .bind(text(|s| s.source_repo.clone()))
    .bind(text(|s| s.source_path.clone()))
    .bind(text(|s| s.source_commit.clone()))
    .bind(text(|s| s.attribution.clone()))
    .bind(text(|s| normalize(&format!("{} {}", s.title, s.body))))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
