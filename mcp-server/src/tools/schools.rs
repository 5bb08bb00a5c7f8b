//! School tools: search, details, nearby, statistics, regions.

use rmcp::{
    Json,
    handler::server::wrapper::Parameters,
    schemars::{self, JsonSchema},
    tool, tool_router,
};
use serde::{Deserialize, Serialize};

use super::{
    EmisServer,
    args::{self, FilterArgs},
};
use crate::{
    backend::{GroupAggregate, GroupBy, NearPage, NearQuery, SchoolPage, SchoolSearch},
    emis::{School, catalog::CountryRegions, catalog::parse_country, dataset::round2},
};

/// Largest radius `find_schools_near` accepts.
pub const MAX_RADIUS_KM: f64 = 500.0;

// The filter fields repeat in each argument struct on purpose: serde cannot combine
// `flatten` with `deny_unknown_fields`, and a misspelt argument must be an error,
// not a silently unfiltered answer.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchSchoolsArgs {
    /// Words from the school's name, e.g. "Moi Girls" or "Parker Elementary". Typos,
    /// accents and letter case are tolerated. Omit to list schools by the filters alone.
    pub query: Option<String>,
    /// "KE" for Kenya or "US" for Florida (United States).
    pub country: Option<String>,
    /// County name as published, e.g. "Nairobi", "Kisumu" (Kenya) or "Orange", "Miami-Dade" (Florida).
    pub county: Option<String>,
    /// Kenyan sub-county, e.g. "Westlands".
    pub sub_county: Option<String>,
    /// One of "pre_primary", "primary", "secondary", "other", "unknown".
    pub level: Option<String>,
    /// "public" or "private".
    pub ownership: Option<String>,
    /// Order by a figure instead: "enrolment", "teachers" or "pupil_teacher_ratio"
    /// (largest first; schools without the figure last). E.g. the largest school
    /// of a county is `sort_by: "enrolment", limit: 1`.
    pub sort_by: Option<String>,
    /// "desc" (largest first, the default) or "asc", with `sort_by`.
    pub order: Option<String>,
    /// How many schools to return: 1 to 100, default 10.
    pub limit: Option<i64>,
    /// How many matching schools to skip (for paging), default 0.
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetSchoolArgs {
    /// School id as returned by the other tools, e.g. "KE-1234" or "US-120000207976".
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindSchoolsNearArgs {
    /// Latitude of the point, in decimal degrees (-90 to 90).
    pub latitude: f64,
    /// Longitude of the point, in decimal degrees (-180 to 180).
    pub longitude: f64,
    /// Search radius in kilometres, more than 0 and at most 500; default 5.
    pub radius_km: Option<f64>,
    /// "KE" for Kenya or "US" for Florida (United States).
    pub country: Option<String>,
    /// One of "pre_primary", "primary", "secondary", "other", "unknown".
    pub level: Option<String>,
    /// "public" or "private".
    pub ownership: Option<String>,
    /// How many schools to return, nearest first: 1 to 100, default 10.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchoolStatisticsArgs {
    /// What to group by: "country", "county", "sub_county", "level" or "ownership".
    pub group_by: String,
    /// "KE" for Kenya or "US" for Florida (United States).
    pub country: Option<String>,
    /// County name as published, e.g. "Nairobi" or "Orange".
    pub county: Option<String>,
    /// Kenyan sub-county.
    pub sub_county: Option<String>,
    /// One of "pre_primary", "primary", "secondary", "other", "unknown".
    pub level: Option<String>,
    /// "public" or "private".
    pub ownership: Option<String>,
    /// Rank the groups by a figure instead of their number of schools:
    /// "schools", "enrolment", "teachers", "pupil_teacher_ratio" or
    /// "average_enrolment" (pupils per school reporting it); groups without
    /// the figure come last.
    pub sort_by: Option<String>,
    /// "desc" (largest first, the default) or "asc", with `sort_by`.
    pub order: Option<String>,
    /// How many groups to return, largest first: 1 to 500, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRegionsArgs {
    /// Only this country: "KE" (Kenya) or "US" (Florida). Default: both.
    pub country: Option<String>,
    /// Include Kenya's sub-counties under each county (default true).
    pub include_sub_counties: Option<bool>,
}

/// Figures for one group of schools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatisticsGroup {
    /// Group value as published (null collects schools the source gives no value for).
    pub key: Option<String>,
    /// Number of schools in the group.
    pub schools: u64,
    /// Pupils enrolled, summed over the schools that report enrolment; null when none does.
    pub enrolment: Option<u64>,
    /// Full-time-equivalent teachers, summed over the schools that report them; null when none does.
    pub teachers: Option<u64>,
    /// Pupils per teacher (two decimals) over the schools that report both
    /// figures, more than 0 of each (`schools_in_ratio`); null when none does.
    pub pupil_teacher_ratio: Option<f64>,
    /// Schools the ratio is computed over.
    pub schools_in_ratio: u64,
    pub schools_reporting_enrolment: u64,
    pub schools_reporting_teachers: u64,
    /// Why a figure is null or covers only part of the group.
    pub notes: Vec<String>,
}

/// School statistics grouped as asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatisticsResult {
    pub group_by: GroupBy,
    /// All schools matching the filters.
    pub total: StatisticsGroup,
    /// Number of groups in all (`groups` may list fewer, see `limit`).
    pub total_groups: u64,
    pub groups: Vec<StatisticsGroup>,
}

/// The location hierarchy with school counts.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RegionsResult {
    pub countries: Vec<CountryRegions>,
}

#[tool_router(router = school_router, vis = "pub(super)")]
impl EmisServer {
    #[tool(
        description = "Search schools in Kenya and Florida (US) by name and/or filters (country, county, sub_county, level, ownership). Returns the total number of matches and one page of schools, best match first when a query is given, otherwise alphabetical.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    pub async fn search_schools(
        &self,
        Parameters(a): Parameters<SearchSchoolsArgs>,
    ) -> Result<Json<SchoolPage>, String> {
        let filter = FilterArgs {
            country: a.country.as_deref(),
            county: a.county.as_deref(),
            sub_county: a.sub_county.as_deref(),
            level: a.level.as_deref(),
            ownership: a.ownership.as_deref(),
        }
        .resolve(self.backend().catalog())?;
        let search = SchoolSearch {
            query: args::text("query", a.query.as_deref())?,
            filter,
            sort: args::sort(a.sort_by.as_deref(), a.order.as_deref())?,
            limit: args::limit(a.limit, 10, 100)?,
            offset: args::offset(a.offset)?,
        };
        self.backend()
            .search_schools(&search)
            .await
            .map(Json)
            .map_err(Self::backend_error)
    }

    #[tool(
        description = "Every published field of one school: location (county, sub-county, ward, city, address, coordinates), level, ownership, status, contacts, enrolment, teachers and pupil-teacher ratio (null where the source has no figure).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    pub async fn get_school(
        &self,
        Parameters(a): Parameters<GetSchoolArgs>,
    ) -> Result<Json<School>, String> {
        let id = args::text("id", Some(&a.id))?.ok_or("id must not be empty")?;
        match self
            .backend()
            .get_school(&id)
            .await
            .map_err(Self::backend_error)?
        {
            Some(school) => Ok(Json(school)),
            None => Err(format!(
                "no school has id {id:?}; ids look like \"KE-1234\" or \"US-120000207976\" (search_schools finds them by name)"
            )),
        }
    }

    #[tool(
        description = "Schools within a radius of a point, nearest first, each with its great-circle distance in km. Optional level, ownership and country filters.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    pub async fn find_schools_near(
        &self,
        Parameters(a): Parameters<FindSchoolsNearArgs>,
    ) -> Result<Json<NearPage>, String> {
        if !a.latitude.is_finite() || !(-90.0..=90.0).contains(&a.latitude) {
            return Err(format!(
                "latitude must be between -90 and 90 (got {})",
                a.latitude
            ));
        }
        if !a.longitude.is_finite() || !(-180.0..=180.0).contains(&a.longitude) {
            return Err(format!(
                "longitude must be between -180 and 180 (got {})",
                a.longitude
            ));
        }
        let radius_km = a.radius_km.unwrap_or(5.0);
        if !radius_km.is_finite() || radius_km <= 0.0 || radius_km > MAX_RADIUS_KM {
            return Err(format!(
                "radius_km must be more than 0 and at most {MAX_RADIUS_KM} (got {radius_km})"
            ));
        }
        let filter = FilterArgs {
            country: a.country.as_deref(),
            level: a.level.as_deref(),
            ownership: a.ownership.as_deref(),
            ..Default::default()
        }
        .resolve(self.backend().catalog())?;
        let query = NearQuery {
            latitude: a.latitude,
            longitude: a.longitude,
            radius_km,
            filter,
            limit: args::limit(a.limit, 10, 100)?,
        };
        self.backend()
            .schools_near(&query)
            .await
            .map(Json)
            .map_err(Self::backend_error)
    }

    #[tool(
        description = "Counts schools and sums enrolment and teachers, grouped by country, county, sub_county, level or ownership, with optional filters. Figures the data cannot give are null with a note saying why (Kenya's data has no enrolment or teacher counts).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    pub async fn school_statistics(
        &self,
        Parameters(a): Parameters<SchoolStatisticsArgs>,
    ) -> Result<Json<StatisticsResult>, String> {
        let group_by = parse_group_by(&a.group_by)?;
        let filter = FilterArgs {
            country: a.country.as_deref(),
            county: a.county.as_deref(),
            sub_county: a.sub_county.as_deref(),
            level: a.level.as_deref(),
            ownership: a.ownership.as_deref(),
        }
        .resolve(self.backend().catalog())?;
        let limit = args::limit(a.limit, 50, 500)?;
        let rank = args::group_sort(a.sort_by.as_deref(), a.order.as_deref())?;
        let mut groups = self
            .backend()
            .statistics(&filter, group_by)
            .await
            .map_err(Self::backend_error)?;
        let mut total = GroupAggregate {
            key: Some("all".into()),
            ..Default::default()
        };
        for g in &groups {
            total.schools += g.schools;
            total.kenya_schools += g.kenya_schools;
            total.schools_reporting_enrolment += g.schools_reporting_enrolment;
            total.schools_reporting_teachers += g.schools_reporting_teachers;
            total.enrolment += g.enrolment;
            total.teachers += g.teachers;
            total.schools_in_ratio += g.schools_in_ratio;
            total.ratio_enrolment += g.ratio_enrolment;
            total.ratio_teachers += g.ratio_teachers;
        }
        if let Some((figure, descending)) = rank {
            // Stable: equal figures keep the backend's order (most schools first).
            groups.sort_by(|a, b| match (figure(a), figure(b)) {
                (Some(x), Some(y)) if descending => y.total_cmp(&x),
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
        }
        Ok(Json(StatisticsResult {
            group_by,
            total: explain(&total),
            total_groups: groups.len() as u64,
            groups: groups.iter().take(limit).map(explain).collect(),
        }))
    }

    #[tool(
        description = "The location hierarchy: countries, their counties and (Kenya) sub-counties, each with its number of schools. Use it to find valid county and sub-county names.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    pub async fn list_regions(
        &self,
        Parameters(a): Parameters<ListRegionsArgs>,
    ) -> Result<Json<RegionsResult>, String> {
        let country = args::text("country", a.country.as_deref())?
            .map(|c| parse_country(&c))
            .transpose()
            .map_err(|e| e.to_string())?;
        let with_subs = a.include_sub_counties.unwrap_or(true);
        let countries = self
            .backend()
            .catalog()
            .regions
            .iter()
            .filter(|c| country.is_none_or(|want| want == c.country))
            .cloned()
            .map(|mut c| {
                if !with_subs {
                    c.counties
                        .iter_mut()
                        .for_each(|county| county.sub_counties.clear());
                }
                c
            })
            .collect();
        Ok(Json(RegionsResult { countries }))
    }
}

fn parse_group_by(value: &str) -> Result<GroupBy, String> {
    let wanted = crate::emis::normalize::normalize(value).replace(' ', "_");
    GroupBy::ALL
        .into_iter()
        .find(|g| g.as_str() == wanted || (wanted == "subcounty" && *g == GroupBy::SubCounty))
        .ok_or_else(|| {
            let all: Vec<&str> = GroupBy::ALL.iter().map(|g| g.as_str()).collect();
            format!(
                "unknown group_by {value:?}; valid values: {}",
                all.join(", ")
            )
        })
}

/// Turns raw sums into reported figures, null where the data cannot give them, with notes.
fn explain(g: &GroupAggregate) -> StatisticsGroup {
    let mut notes = Vec::new();
    let mut figure = |name: &str, reporting: u64, sum: u64| -> Option<u64> {
        let others = g.schools - g.kenya_schools;
        if reporting == 0 {
            notes.push(if g.kenya_schools == g.schools {
                format!("{name}: not available; Kenya's school data publishes no {name} figures")
            } else if g.kenya_schools > 0 {
                format!("{name}: not available; Kenya publishes no {name} figures and none of the other {others} schools reports it")
            } else {
                format!("{name}: not available; none of these schools reports it")
            });
            None
        } else {
            if reporting < g.schools {
                let missing = g.schools - reporting;
                let why = if g.kenya_schools > 0 {
                    format!("{} Kenyan schools have no figures", g.kenya_schools)
                } else {
                    "the source marks the rest as missing".to_owned()
                };
                notes.push(format!(
                    "{name}: sum over the {reporting} of {} schools that report it ({missing} do not: {why})",
                    g.schools
                ));
            }
            Some(sum)
        }
    };
    let enrolment = figure("enrolment", g.schools_reporting_enrolment, g.enrolment);
    let teachers = figure("teachers", g.schools_reporting_teachers, g.teachers);
    // Over the schools that report both figures, more than 0 of each, only
    // (the data's rule): sums over different sets of schools make no ratio.
    let pupil_teacher_ratio = if g.schools_in_ratio > 0 && g.ratio_teachers > 0 {
        if g.schools_in_ratio < g.schools {
            notes.push(format!(
                "pupil_teacher_ratio: over the {} of {} schools that report both pupils and teachers (more than 0 of each)",
                g.schools_in_ratio, g.schools
            ));
        }
        Some(round2(g.ratio_enrolment as f64 / g.ratio_teachers as f64))
    } else {
        notes.push(match (enrolment, teachers) {
            (Some(_), Some(_)) => "pupil_teacher_ratio: not available; no school reports both pupils and teachers (more than 0 of each)".into(),
            _ => "pupil_teacher_ratio: not available; it needs both enrolment and teacher figures".into(),
        });
        None
    };
    StatisticsGroup {
        key: g.key.clone(),
        schools: g.schools,
        enrolment,
        teachers,
        pupil_teacher_ratio,
        schools_in_ratio: g.schools_in_ratio,
        schools_reporting_enrolment: g.schools_reporting_enrolment,
        schools_reporting_teachers: g.schools_reporting_teachers,
        notes,
    }
}
