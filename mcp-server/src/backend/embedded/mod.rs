//! The default backend: the bundled data sets, indexed in memory at start-up.

mod text_index;

use std::collections::HashMap;

use async_trait::async_trait;

use self::text_index::TextIndex;
use super::{
    BackendError, ContentSearch, EmisBackend, GroupAggregate, GroupBy, NearPage, NearQuery,
    NearbySchool, OPTIONAL_WORDS, SchoolFilter, SchoolPage, SchoolSearch, StoryPage, sort_groups,
};
use crate::emis::{
    Country, Level, Ownership, School, SchoolSummary, Story, StorySummary,
    catalog::{Catalog, RegionRow},
    dataset::{Dataset, round2},
    geo::haversine_km,
    normalize::{normalize, tokens},
};

const NONE: u32 = u32::MAX;

/// Filterable attributes of a school, kept compact and apart from the record.
#[derive(Debug, Clone, Copy)]
struct Facets {
    country: Country,
    level: Level,
    ownership: Option<Ownership>,
    county: u32,
    sub_county: u32,
}

/// Interns normalised region names to small ids, remembering the first published spelling.
#[derive(Debug, Default)]
struct Names {
    ids: HashMap<String, u32>,
    display: Vec<String>,
}

impl Names {
    fn intern(&mut self, published: Option<&str>) -> u32 {
        let Some(published) = published else {
            return NONE;
        };
        let norm = normalize(published);
        if let Some(id) = self.ids.get(&norm) {
            return *id;
        }
        let id = self.display.len() as u32;
        self.ids.insert(norm, id);
        self.display.push(published.to_owned());
        id
    }

    /// The id of a normalised name; `Some(NONE)` matches nothing when the name is unknown here.
    fn lookup(&self, norm: Option<&str>) -> Option<u32> {
        norm.map(|n| self.ids.get(n).copied().unwrap_or(NONE - 1))
    }

    fn name(&self, id: u32) -> Option<String> {
        self.display.get(id as usize).cloned()
    }
}

/// Resolved filter: ids instead of names.
struct Matcher {
    country: Option<Country>,
    level: Option<Level>,
    ownership: Option<Ownership>,
    county: Option<u32>,
    sub_county: Option<u32>,
}

impl Matcher {
    fn matches(&self, f: &Facets) -> bool {
        self.country.is_none_or(|c| c == f.country)
            && self.level.is_none_or(|l| l == f.level)
            && self.ownership.is_none_or(|o| Some(o) == f.ownership)
            && self.county.is_none_or(|c| c == f.county)
            && self.sub_county.is_none_or(|s| s == f.sub_county)
    }
}

/// The bundled data, indexed.
#[derive(Debug)]
pub struct EmbeddedBackend {
    schools: Vec<School>,
    facets: Vec<Facets>,
    counties: Names,
    sub_counties: Names,
    name_norms: Vec<Box<str>>,
    /// Position of each school in name order, for stable tie-breaks.
    name_rank: Vec<u32>,
    /// School indexes in name order.
    by_name: Vec<u32>,
    /// School indexes in id order.
    by_id: Vec<u32>,
    names: TextIndex,
    stories: Vec<Story>,
    /// Story indexes in id order.
    stories_by_id: Vec<u32>,
    story_title_norms: Vec<Box<str>>,
    stories_by_title: Vec<u32>,
    titles: TextIndex,
    bodies: TextIndex,
    catalog: Catalog,
}

impl EmbeddedBackend {
    /// Indexes a loaded data set.
    pub fn new(data: Dataset) -> Self {
        let Dataset {
            schools, stories, ..
        } = data;
        let mut counties = Names::default();
        let mut sub_counties = Names::default();
        let facets: Vec<Facets> = schools
            .iter()
            .map(|s| Facets {
                country: s.country,
                level: s.level,
                ownership: s.ownership,
                county: counties.intern(s.county.as_deref()),
                sub_county: sub_counties.intern(s.sub_county.as_deref()),
            })
            .collect();
        let name_norms: Vec<Box<str>> = schools
            .iter()
            .map(|s| normalize(&s.name).into_boxed_str())
            .collect();
        let names = TextIndex::build(name_norms.iter().map(AsRef::as_ref), true);
        let mut by_name: Vec<u32> = (0..schools.len() as u32).collect();
        by_name.sort_by(|&a, &b| {
            name_norms[a as usize]
                .cmp(&name_norms[b as usize])
                .then_with(|| schools[a as usize].id.cmp(&schools[b as usize].id))
        });
        let mut name_rank = vec![0u32; schools.len()];
        for (rank, &i) in by_name.iter().enumerate() {
            name_rank[i as usize] = rank as u32;
        }
        let mut by_id: Vec<u32> = (0..schools.len() as u32).collect();
        by_id.sort_by(|&a, &b| schools[a as usize].id.cmp(&schools[b as usize].id));

        let story_title_norms: Vec<Box<str>> = stories
            .iter()
            .map(|s| normalize(&s.title).into_boxed_str())
            .collect();
        let titles = TextIndex::build(story_title_norms.iter().map(AsRef::as_ref), true);
        let body_norms: Vec<String> = stories.iter().map(|s| normalize(&s.body)).collect();
        let bodies = TextIndex::build(body_norms.iter().map(String::as_str), false);
        drop(body_norms);
        let mut stories_by_title: Vec<u32> = (0..stories.len() as u32).collect();
        stories_by_title.sort_by(|&a, &b| {
            story_title_norms[a as usize]
                .cmp(&story_title_norms[b as usize])
                .then_with(|| stories[a as usize].id.cmp(&stories[b as usize].id))
        });
        let mut stories_by_id: Vec<u32> = (0..stories.len() as u32).collect();
        stories_by_id.sort_by(|&a, &b| stories[a as usize].id.cmp(&stories[b as usize].id));

        let catalog = build_catalog(&schools, &stories);
        EmbeddedBackend {
            schools,
            facets,
            counties,
            sub_counties,
            name_norms,
            name_rank,
            by_name,
            by_id,
            names,
            stories,
            stories_by_id,
            story_title_norms,
            stories_by_title,
            titles,
            bodies,
            catalog,
        }
    }

    fn matcher(&self, filter: &SchoolFilter) -> Matcher {
        Matcher {
            country: filter.country,
            level: filter.level,
            ownership: filter.ownership,
            county: self.counties.lookup(filter.county.as_deref()),
            sub_county: self.sub_counties.lookup(filter.sub_county.as_deref()),
        }
    }

    /// Schools matching `query_norm` and the filter, best first.
    fn rank_schools(&self, query_norm: &str, matcher: &Matcher) -> Vec<u32> {
        let scored = rank(query_norm, &[(&self.names, 1.0)], |doc| {
            matcher.matches(&self.facets[doc as usize])
        });
        let mut scored: Vec<(u32, f32)> = scored
            .into_iter()
            .map(|(doc, score)| {
                let name = &self.name_norms[doc as usize];
                let bonus = if name.as_ref() == query_norm {
                    5.0
                } else if name.starts_with(query_norm) {
                    1.0
                } else {
                    0.0
                };
                let coverage = query_words(query_norm).0.len() as f32
                    / f32::from(self.names.doc_words(doc).max(1));
                (doc, score + bonus + 0.5 * coverage.min(1.0))
            })
            .collect();
        scored.sort_unstable_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.name_rank[a.0 as usize].cmp(&self.name_rank[b.0 as usize]))
        });
        scored.into_iter().map(|(doc, _)| doc).collect()
    }

    fn summaries(&self, docs: &[u32]) -> Vec<SchoolSummary> {
        docs.iter()
            .map(|&i| SchoolSummary::from(&self.schools[i as usize]))
            .collect()
    }
}

/// Query words split into required and optional (filler words like "school").
fn query_words(query_norm: &str) -> (Vec<&str>, Vec<&str>) {
    let (optional, required): (Vec<&str>, Vec<&str>) =
        tokens(query_norm).partition(|w| OPTIONAL_WORDS.contains(w));
    if required.is_empty() {
        (optional, Vec::new())
    } else {
        (required, optional)
    }
}

/// Scores documents over weighted indexes: every required word must match in
/// one of them; optional words add a little. Returns (document, score).
fn rank(
    query_norm: &str,
    indexes: &[(&TextIndex, f32)],
    keep: impl Fn(u32) -> bool,
) -> Vec<(u32, f32)> {
    let (required, optional) = query_words(query_norm);
    if required.is_empty() {
        return Vec::new();
    }
    let per_word = |word: &str| {
        let mut docs: HashMap<u32, f32> = HashMap::new();
        for (index, weight) in indexes {
            for (doc, w) in index.documents(&index.expand(word)) {
                let slot = docs.entry(doc).or_insert(0.0);
                *slot = slot.max(w * weight);
            }
        }
        docs
    };
    let mut sets: Vec<HashMap<u32, f32>> = required.iter().map(|w| per_word(w)).collect();
    sets.sort_by_key(HashMap::len);
    let Some((first, rest)) = sets.split_first() else {
        return Vec::new();
    };
    let extras: Vec<HashMap<u32, f32>> = optional.iter().map(|w| per_word(w)).collect();
    first
        .iter()
        .filter(|(doc, _)| keep(**doc))
        .filter_map(|(&doc, &w)| {
            let mut score = w;
            for set in rest {
                score += set.get(&doc)?;
            }
            score += extras.iter().filter_map(|set| set.get(&doc)).sum::<f32>() * 0.1;
            Some((doc, score))
        })
        .collect()
}

/// Scores documents matching any of the query's words: the sum of the
/// words' weights, so the stories that match more of them come first.
fn rank_any(
    query_norm: &str,
    indexes: &[(&TextIndex, f32)],
    keep: impl Fn(u32) -> bool,
) -> Vec<(u32, f32)> {
    let (required, _) = query_words(query_norm);
    let mut docs: HashMap<u32, f32> = HashMap::new();
    for word in required {
        let mut best: HashMap<u32, f32> = HashMap::new();
        for (index, weight) in indexes {
            for (doc, w) in index.documents(&index.expand(word)) {
                let slot = best.entry(doc).or_insert(0.0);
                *slot = slot.max(w * weight);
            }
        }
        for (doc, w) in best {
            *docs.entry(doc).or_insert(0.0) += w;
        }
    }
    docs.into_iter().filter(|(doc, _)| keep(*doc)).collect()
}

fn build_catalog(schools: &[School], stories: &[Story]) -> Catalog {
    let mut regions: HashMap<(Country, Option<String>, Option<String>), u64> = HashMap::new();
    for s in schools {
        *regions
            .entry((
                s.country,
                s.county.as_deref().map(str::to_owned),
                s.sub_county.as_deref().map(str::to_owned),
            ))
            .or_default() += 1;
    }
    let rows = regions
        .into_iter()
        .map(|((country, county, sub_county), schools)| RegionRow {
            country,
            county,
            sub_county,
            schools,
        })
        .collect();
    let mut languages: HashMap<String, u64> = HashMap::new();
    for s in stories {
        *languages.entry(s.language.clone()).or_default() += 1;
    }
    Catalog::new(rows, languages.into_iter().collect())
}

fn page<T: Copy>(items: &[T], offset: usize, limit: usize) -> &[T] {
    let start = offset.min(items.len());
    let end = start.saturating_add(limit).min(items.len());
    &items[start..end]
}

#[async_trait]
impl EmisBackend for EmbeddedBackend {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    async fn search_schools(&self, search: &SchoolSearch) -> Result<SchoolPage, BackendError> {
        let matcher = self.matcher(&search.filter);
        let query = search
            .query
            .as_deref()
            .map(normalize)
            .filter(|q| !q.is_empty());
        let mut hits: Vec<u32> = match query {
            Some(q) if search.sort.is_none() => self.rank_schools(&q, &matcher),
            Some(q) => {
                // Ordered by a figure: the matches, in name order to break ties.
                let mut matched = self.rank_schools(&q, &matcher);
                matched.sort_unstable_by_key(|&i| self.name_rank[i as usize]);
                matched
            }
            None => self
                .by_name
                .iter()
                .copied()
                .filter(|&i| matcher.matches(&self.facets[i as usize]))
                .collect(),
        };
        if let Some(sort) = search.sort {
            // Stable: equal figures (and the schools without one) stay in name order.
            hits.sort_by(|&a, &b| {
                let (a, b) = (
                    sort.by.of(&self.schools[a as usize]),
                    sort.by.of(&self.schools[b as usize]),
                );
                match (a, b) {
                    (Some(a), Some(b)) if sort.descending => b.total_cmp(&a),
                    (Some(a), Some(b)) => a.total_cmp(&b),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            });
        }
        Ok(SchoolPage {
            total: hits.len() as u64,
            schools: self.summaries(page(&hits, search.offset, search.limit)),
        })
    }

    async fn get_school(&self, id: &str) -> Result<Option<School>, BackendError> {
        let id = id.trim();
        let found = self
            .by_id
            .binary_search_by(|&i| self.schools[i as usize].id.as_str().cmp(id));
        Ok(found
            .ok()
            .map(|pos| self.schools[self.by_id[pos] as usize].clone()))
    }

    async fn schools_near(&self, query: &NearQuery) -> Result<NearPage, BackendError> {
        let matcher = self.matcher(&query.filter);
        let mut hits: Vec<(f64, u32)> = self
            .schools
            .iter()
            .enumerate()
            .filter(|(i, _)| matcher.matches(&self.facets[*i]))
            .filter_map(|(i, s)| {
                let d = haversine_km(query.latitude, query.longitude, s.latitude, s.longitude);
                (d <= query.radius_km).then_some((d, i as u32))
            })
            .collect();
        hits.sort_unstable_by(|a, b| {
            a.0.total_cmp(&b.0).then_with(|| {
                self.schools[a.1 as usize]
                    .id
                    .cmp(&self.schools[b.1 as usize].id)
            })
        });
        let total = hits.len() as u64;
        let schools = hits
            .into_iter()
            .take(query.limit)
            .map(|(d, i)| NearbySchool {
                distance_km: round2(d),
                school: SchoolSummary::from(&self.schools[i as usize]),
            })
            .collect();
        Ok(NearPage { total, schools })
    }

    async fn statistics(
        &self,
        filter: &SchoolFilter,
        group_by: GroupBy,
    ) -> Result<Vec<GroupAggregate>, BackendError> {
        let matcher = self.matcher(filter);
        let mut groups: HashMap<Option<String>, GroupAggregate> = HashMap::new();
        for (school, facets) in self.schools.iter().zip(&self.facets) {
            if !matcher.matches(facets) {
                continue;
            }
            let key = match group_by {
                GroupBy::Country => Some(school.country.code().to_owned()),
                GroupBy::County => self.counties.name(facets.county),
                GroupBy::SubCounty => self.sub_counties.name(facets.sub_county),
                GroupBy::Level => Some(school.level.as_str().to_owned()),
                GroupBy::Ownership => school.ownership.map(|o| o.as_str().to_owned()),
            };
            let group = groups.entry(key.clone()).or_insert_with(|| GroupAggregate {
                key,
                ..Default::default()
            });
            group.schools += 1;
            if school.country == Country::KE {
                group.kenya_schools += 1;
            }
            if let Some(e) = school.enrolment {
                group.schools_reporting_enrolment += 1;
                group.enrolment += u64::from(e);
            }
            if let Some(t) = school.teachers {
                group.schools_reporting_teachers += 1;
                group.teachers += u64::from(t);
            }
            if let (Some(e), Some(t)) = (school.enrolment, school.teachers)
                && e > 0
                && t > 0
            {
                group.schools_in_ratio += 1;
                group.ratio_enrolment += u64::from(e);
                group.ratio_teachers += u64::from(t);
            }
        }
        let mut groups: Vec<GroupAggregate> = groups.into_values().collect();
        sort_groups(&mut groups);
        Ok(groups)
    }

    async fn search_content(&self, search: &ContentSearch) -> Result<StoryPage, BackendError> {
        let language = search.language.as_deref();
        let keep = |doc: u32| language.is_none_or(|l| self.stories[doc as usize].language == l);
        let query = search
            .query
            .as_deref()
            .map(normalize)
            .filter(|q| !q.is_empty());
        let hits: Vec<u32> = match query {
            Some(q) => {
                let indexes = [(&self.titles, 2.0), (&self.bodies, 1.0)];
                let mut scored = if search.any_word {
                    rank_any(&q, &indexes, keep)
                } else {
                    rank(&q, &indexes, keep)
                };
                for (doc, score) in &mut scored {
                    if self.story_title_norms[*doc as usize].as_ref() == q {
                        *score += 5.0;
                    }
                }
                scored.sort_unstable_by(|a, b| {
                    b.1.total_cmp(&a.1).then_with(|| {
                        self.stories[a.0 as usize]
                            .id
                            .cmp(&self.stories[b.0 as usize].id)
                    })
                });
                scored.into_iter().map(|(doc, _)| doc).collect()
            }
            None => self
                .stories_by_title
                .iter()
                .copied()
                .filter(|&d| keep(d))
                .collect(),
        };
        Ok(StoryPage {
            total: hits.len() as u64,
            stories: page(&hits, search.offset, search.limit)
                .iter()
                .map(|&i| StorySummary::from(&self.stories[i as usize]))
                .collect(),
        })
    }

    async fn get_content(&self, id: &str) -> Result<Option<Story>, BackendError> {
        let id = id.trim();
        let found = self
            .stories_by_id
            .binary_search_by(|&i| self.stories[i as usize].id.as_str().cmp(id));
        Ok(found
            .ok()
            .map(|pos| self.stories[self.stories_by_id[pos] as usize].clone()))
    }

    async fn complete_school_ids(
        &self,
        partial: &str,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let upper = partial.trim().to_ascii_uppercase();
        if upper.starts_with("KE-") || upper.starts_with("US-") || upper == "KE" || upper == "US" {
            let start = self
                .by_id
                .partition_point(|&i| self.schools[i as usize].id.as_str() < upper.as_str());
            return Ok(self.by_id[start..]
                .iter()
                .map(|&i| &self.schools[i as usize].id)
                .take_while(|id| id.starts_with(&upper))
                .take(limit)
                .cloned()
                .collect());
        }
        let query = normalize(partial);
        let everything = Matcher {
            country: None,
            level: None,
            ownership: None,
            county: None,
            sub_county: None,
        };
        let ranked = if query.is_empty() {
            self.by_name.clone()
        } else {
            self.rank_schools(&query, &everything)
        };
        Ok(ranked
            .into_iter()
            .take(limit)
            .map(|i| self.schools[i as usize].id.clone())
            .collect())
    }

    async fn complete_content_ids(
        &self,
        partial: &str,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let lower = partial.trim().to_ascii_lowercase();
        if lower.starts_with("asp-") || lower.is_empty() {
            let mut ids: Vec<&String> = self
                .stories
                .iter()
                .map(|s| &s.id)
                .filter(|id| id.starts_with(&lower))
                .collect();
            ids.sort_unstable();
            return Ok(ids.into_iter().take(limit).cloned().collect());
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
        Ok(())
    }
}
