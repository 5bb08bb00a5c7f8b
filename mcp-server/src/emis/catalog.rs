//! The values a filter may take (countries, counties, sub-counties, levels,
//! ownerships, languages) with school and story counts. Every backend builds
//! one; tools validate filters against it so that an unknown value is an error
//! that suggests the closest valid ones instead of an empty answer.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::{Country, Level, Ownership, normalize::normalize};

/// How many close values an "unknown value" error suggests.
const SUGGESTIONS: usize = 5;

/// One county (or sub-county) and how many schools it has.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Region {
    /// Name as published; null collects the schools the source gives no name for.
    pub name: Option<String>,
    pub schools: u64,
    /// Sub-counties (Kenya only; empty for Florida and for Kenya's 2007 rows).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sub_counties: Vec<Region>,
}

/// A country with its counties.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CountryRegions {
    pub country: Country,
    pub name: String,
    pub schools: u64,
    pub counties: Vec<Region>,
}

/// A story language and how many stories it has.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct LanguageCount {
    pub code: String,
    pub name: String,
    pub stories: u64,
}

/// Known values, built by a backend from its data.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub regions: Vec<CountryRegions>,
    pub languages: Vec<LanguageCount>,
    /// Published school names (normalised, display), for completion and the offline planner.
    pub school_count: u64,
    pub story_count: u64,
}

/// A row the catalog is built from: one per (country, county, sub-county) with its school count.
#[derive(Debug, Clone)]
pub struct RegionRow {
    pub country: Country,
    pub county: Option<String>,
    pub sub_county: Option<String>,
    pub schools: u64,
}

/// Schools per sub-county per county per country, while the catalog is built.
type RegionTree = BTreeMap<Country, BTreeMap<Option<String>, BTreeMap<Option<String>, u64>>>;

/// A filter value that matches nothing the data knows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown {field} {value:?}; {hint}")]
pub struct UnknownValue {
    pub field: &'static str,
    pub value: String,
    pub hint: String,
}

impl UnknownValue {
    fn new(field: &'static str, value: &str, suggestions: Vec<String>, all: &str) -> Self {
        let hint = if suggestions.is_empty() {
            format!("valid values: {all}")
        } else {
            format!("did you mean: {}?", suggestions.join(", "))
        };
        UnknownValue {
            field,
            value: value.to_owned(),
            hint,
        }
    }
}

impl Catalog {
    /// Builds the catalog from per-region counts and per-language story counts.
    pub fn new(rows: Vec<RegionRow>, languages: Vec<(String, u64)>) -> Self {
        let mut tree: RegionTree = BTreeMap::new();
        for row in rows {
            *tree
                .entry(row.country)
                .or_default()
                .entry(row.county)
                .or_default()
                .entry(row.sub_county)
                .or_default() += row.schools;
        }
        let regions: Vec<CountryRegions> = tree
            .into_iter()
            .map(|(country, counties)| {
                let counties: Vec<Region> = counties
                    .into_iter()
                    .map(|(county, subs)| {
                        let schools = subs.values().sum();
                        let sub_counties = subs
                            .into_iter()
                            .filter(|(name, _)| name.is_some())
                            .map(|(name, schools)| Region {
                                name,
                                schools,
                                sub_counties: Vec::new(),
                            })
                            .collect();
                        Region {
                            name: county,
                            schools,
                            sub_counties,
                        }
                    })
                    .collect();
                CountryRegions {
                    country,
                    name: country.name().to_owned(),
                    schools: counties.iter().map(|c| c.schools).sum(),
                    counties,
                }
            })
            .collect();
        let school_count = regions.iter().map(|c| c.schools).sum();
        let mut languages: Vec<LanguageCount> = languages
            .into_iter()
            .map(|(code, stories)| LanguageCount {
                name: super::languages::language_name(&code).to_owned(),
                code,
                stories,
            })
            .collect();
        languages.sort_by(|a, b| b.stories.cmp(&a.stories).then_with(|| a.code.cmp(&b.code)));
        let story_count = languages.iter().map(|l| l.stories).sum();
        Catalog {
            regions,
            languages,
            school_count,
            story_count,
        }
    }

    /// Published county names (with their country).
    pub fn counties(&self) -> impl Iterator<Item = (Country, &str)> {
        self.regions.iter().flat_map(|c| {
            c.counties
                .iter()
                .filter_map(move |r| r.name.as_deref().map(|n| (c.country, n)))
        })
    }

    /// Published sub-county names (with their country and county).
    pub fn sub_counties(&self) -> impl Iterator<Item = (Country, Option<&str>, &str)> {
        self.regions.iter().flat_map(|c| {
            c.counties.iter().flat_map(move |county| {
                county.sub_counties.iter().filter_map(move |s| {
                    s.name
                        .as_deref()
                        .map(|n| (c.country, county.name.as_deref(), n))
                })
            })
        })
    }

    /// Resolves a county filter to its normalised form, or explains what is valid.
    pub fn county(&self, value: &str, country: Option<Country>) -> Result<String, UnknownValue> {
        let names: Vec<&str> = self
            .counties()
            .filter(|(c, _)| country.is_none_or(|want| want == *c))
            .map(|(_, n)| n)
            .collect();
        resolve("county", value, &names)
    }

    /// Resolves a sub-county filter to its normalised form, or explains what is valid.
    pub fn sub_county(
        &self,
        value: &str,
        country: Option<Country>,
        county_norm: Option<&str>,
    ) -> Result<String, UnknownValue> {
        let names: Vec<&str> = self
            .sub_counties()
            .filter(|(c, county, _)| {
                country.is_none_or(|want| want == *c)
                    && county_norm.is_none_or(|want| county.is_some_and(|n| normalize(n) == want))
            })
            .map(|(_, _, n)| n)
            .collect();
        resolve("sub_county", value, &names)
    }

    /// Resolves a language given as code or name ("sw", "Kiswahili", "swahili") to its code.
    pub fn language(&self, value: &str) -> Result<String, UnknownValue> {
        let wanted = normalize(value);
        for lang in &self.languages {
            if normalize(&lang.code) == wanted || normalize(&lang.name) == wanted {
                return Ok(lang.code.clone());
            }
            let aliases = super::languages::LANGUAGES
                .iter()
                .find(|(code, _, _)| *code == lang.code)
                .map_or(&[][..], |(_, _, aliases)| *aliases);
            if aliases.iter().any(|a| normalize(a) == wanted) {
                return Ok(lang.code.clone());
            }
        }
        let names: Vec<String> = self
            .languages
            .iter()
            .map(|l| format!("{} ({})", l.name, l.code))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        Err(UnknownValue::new(
            "language",
            value,
            closest(&wanted, &refs),
            &refs[..refs.len().min(12)].join(", "),
        ))
    }
}

/// Parses a country given as code or name.
pub fn parse_country(value: &str) -> Result<Country, UnknownValue> {
    match normalize(value).as_str() {
        "ke" | "ken" | "kenya" => Ok(Country::KE),
        "us"
        | "usa"
        | "united states"
        | "united states of america"
        | "florida"
        | "fl"
        | "us fl" => Ok(Country::US),
        _ => Err(UnknownValue::new(
            "country",
            value,
            Vec::new(),
            "KE (Kenya), US (Florida, United States)",
        )),
    }
}

/// Parses a school level, accepting the published words too ("elementary", "high").
pub fn parse_level(value: &str) -> Result<Level, UnknownValue> {
    let level = match normalize(value).replace(' ', "_").as_str() {
        "pre_primary" | "preprimary" | "prekindergarten" | "pre_kindergarten" | "pk" | "ecde"
        | "nursery" => Level::PrePrimary,
        "primary" | "elementary" => Level::Primary,
        "secondary" | "high" | "middle" | "high_school" | "middle_school" => Level::Secondary,
        "other" => Level::Other,
        "unknown" | "not_reported" => Level::Unknown,
        _ => {
            let all: Vec<&str> = Level::ALL.iter().map(|l| l.as_str()).collect();
            return Err(UnknownValue::new(
                "level",
                value,
                closest(&normalize(value), &all),
                &all.join(", "),
            ));
        }
    };
    Ok(level)
}

/// Parses an ownership filter.
pub fn parse_ownership(value: &str) -> Result<Ownership, UnknownValue> {
    match normalize(value).as_str() {
        "public" | "government" | "state" => Ok(Ownership::Public),
        "private" | "independent" => Ok(Ownership::Private),
        _ => Err(UnknownValue::new(
            "ownership",
            value,
            Vec::new(),
            "public, private",
        )),
    }
}

fn resolve(field: &'static str, value: &str, names: &[&str]) -> Result<String, UnknownValue> {
    let wanted = normalize(value);
    if names.iter().any(|n| normalize(n) == wanted) {
        return Ok(wanted);
    }
    let mut sorted: Vec<&str> = names.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let sample = if sorted.len() > 12 {
        format!(
            "{}, … ({} in all; list_regions shows them)",
            sorted[..12].join(", "),
            sorted.len()
        )
    } else {
        sorted.join(", ")
    };
    Err(UnknownValue::new(
        field,
        value,
        closest(&wanted, &sorted),
        &sample,
    ))
}

/// The known values closest to `wanted` (normalised): those it is a prefix of or
/// contained in first, then by Jaro-Winkler similarity above a floor.
fn closest(wanted: &str, names: &[&str]) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = names
        .iter()
        .map(|name| {
            let norm = normalize(name);
            let score =
                if !wanted.is_empty() && (norm.starts_with(wanted) || wanted.starts_with(&norm)) {
                    2.0
                } else if !wanted.is_empty() && norm.contains(wanted) {
                    1.5
                } else {
                    strsim::jaro_winkler(wanted, &norm)
                };
            (score, *name)
        })
        .filter(|(score, _)| *score >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut out: Vec<String> = Vec::new();
    for (_, name) in scored {
        if !out.iter().any(|o| o == name) {
            out.push(name.to_owned());
        }
        if out.len() == SUGGESTIONS {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let row = |county: &str, sub: Option<&str>, n| RegionRow {
            country: Country::KE,
            county: Some(county.to_owned()),
            sub_county: sub.map(str::to_owned),
            schools: n,
        };
        Catalog::new(
            vec![
                row("Nairobi", Some("Westlands"), 3),
                row("Nairobi North", None, 2),
                row("Baringo", None, 1),
            ],
            vec![("sw".into(), 4), ("en".into(), 9)],
        )
    }

    #[test]
    fn a_misspelt_county_suggests_the_close_ones() {
        let err = catalog()
            .county("Nairobbi", None)
            .expect_err("unknown county");
        assert!(err.to_string().contains("did you mean: Nairobi"), "{err}");
        assert_eq!(
            catalog().county("  nairobi ", None).as_deref(),
            Ok("nairobi")
        );
    }

    #[test]
    fn languages_resolve_by_code_name_or_alias() {
        let c = catalog();
        assert_eq!(c.language("Swahili").as_deref(), Ok("sw"));
        assert_eq!(c.language("KISWAHILI").as_deref(), Ok("sw"));
        assert_eq!(c.language("en").as_deref(), Ok("en"));
        assert!(c.language("Klingon").is_err());
    }

    #[test]
    fn levels_accept_published_words_and_reject_others_with_the_list() {
        assert_eq!(parse_level("Elementary"), Ok(Level::Primary));
        assert_eq!(parse_level("pre-primary"), Ok(Level::PrePrimary));
        let err = parse_level("primry").expect_err("unknown level");
        assert!(err.to_string().contains("primary"), "{err}");
    }
}
