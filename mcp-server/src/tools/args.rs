//! Argument checks shared by the tools: every bad value becomes a tool error
//! that says what was wrong and what is accepted.

use crate::{
    backend::{GroupAggregate, SchoolFilter, SchoolSort, SortFigure},
    emis::catalog::{Catalog, parse_country, parse_level, parse_ownership},
};

/// Longest free-text argument accepted (queries, names).
pub const MAX_TEXT_CHARS: usize = 200;
/// Deepest page a client may ask for.
pub const MAX_OFFSET: i64 = 100_000;

/// `limit` within 1..=max, `default` when absent.
pub fn limit(value: Option<i64>, default: usize, max: usize) -> Result<usize, String> {
    match value {
        None => Ok(default),
        Some(n) if n >= 1 && n <= max as i64 => Ok(n as usize),
        Some(n) => Err(format!("limit must be between 1 and {max} (got {n})")),
    }
}

/// `offset` within 0..=MAX_OFFSET, 0 when absent.
pub fn offset(value: Option<i64>) -> Result<usize, String> {
    match value {
        None => Ok(0),
        Some(n) if (0..=MAX_OFFSET).contains(&n) => Ok(n as usize),
        Some(n) => Err(format!(
            "offset must be between 0 and {MAX_OFFSET} (got {n})"
        )),
    }
}

/// Trimmed text, `None` when blank, an error when longer than `MAX_TEXT_CHARS`.
pub fn text(field: &str, value: Option<&str>) -> Result<Option<String>, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let chars = value.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(format!(
            "{field} is too long ({chars} characters; at most {MAX_TEXT_CHARS})"
        ));
    }
    Ok(Some(value.to_owned()))
}

/// `sort_by` and `order` as a search's order; `order` alone is an error.
pub fn sort(by: Option<&str>, order: Option<&str>) -> Result<Option<SchoolSort>, String> {
    let descending = match order.map(|o| o.trim().to_ascii_lowercase()).as_deref() {
        None | Some("desc" | "descending") => true,
        Some("asc" | "ascending") => false,
        Some(other) => return Err(format!("order must be \"desc\" or \"asc\" (got {other:?})")),
    };
    let Some(by) = by.map(str::trim).filter(|b| !b.is_empty()) else {
        return match order {
            Some(_) => Err(
                "order needs sort_by (\"enrolment\", \"teachers\" or \"pupil_teacher_ratio\")"
                    .into(),
            ),
            None => Ok(None),
        };
    };
    let by = match by.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
        "enrolment" | "enrollment" | "pupils" | "students" => SortFigure::Enrolment,
        "teachers" => SortFigure::Teachers,
        "pupil_teacher_ratio" | "ptr" | "ratio" => SortFigure::PupilTeacherRatio,
        _ => {
            return Err(format!(
                "sort_by must be \"enrolment\", \"teachers\" or \"pupil_teacher_ratio\" (got {by:?})"
            ));
        }
    };
    Ok(Some(SchoolSort { by, descending }))
}

/// A group's figure that statistics may be ranked by.
pub type GroupFigure = fn(&GroupAggregate) -> Option<f64>;

/// `sort_by` and `order` of `school_statistics`: the figure and whether
/// largest first.
pub fn group_sort(
    by: Option<&str>,
    order: Option<&str>,
) -> Result<Option<(GroupFigure, bool)>, String> {
    // The same words and errors as a search's order, plus the group figures.
    let figure: GroupFigure = match by
        .map(|b| b.trim().to_ascii_lowercase().replace(['-', ' '], "_"))
        .as_deref()
    {
        Some("schools") => |g| Some(g.schools as f64),
        Some("average_enrolment" | "average_enrollment") => |g| {
            (g.schools_reporting_enrolment > 0)
                .then(|| g.enrolment as f64 / g.schools_reporting_enrolment as f64)
        },
        _ => {
            return Ok(sort(by, order)?.map(|s| {
                let figure: GroupFigure = match s.by {
                    SortFigure::Enrolment => {
                        |g| (g.schools_reporting_enrolment > 0).then_some(g.enrolment as f64)
                    }
                    SortFigure::Teachers => {
                        |g| (g.schools_reporting_teachers > 0).then_some(g.teachers as f64)
                    }
                    SortFigure::PupilTeacherRatio => |g| {
                        (g.ratio_teachers > 0)
                            .then(|| g.ratio_enrolment as f64 / g.ratio_teachers as f64)
                    },
                };
                (figure, s.descending)
            }));
        }
    };
    let descending = sort(Some("enrolment"), order)?.is_none_or(|s| s.descending);
    Ok(Some((figure, descending)))
}

/// The filter arguments as given by the caller.
#[derive(Debug, Default, Clone, Copy)]
pub struct FilterArgs<'a> {
    pub country: Option<&'a str>,
    pub county: Option<&'a str>,
    pub sub_county: Option<&'a str>,
    pub level: Option<&'a str>,
    pub ownership: Option<&'a str>,
}

impl FilterArgs<'_> {
    /// Validates every filter against the catalog; county and sub-county are
    /// checked within the country (and county) given.
    pub fn resolve(&self, catalog: &Catalog) -> Result<SchoolFilter, String> {
        let err = |e: crate::emis::catalog::UnknownValue| e.to_string();
        let country = text("country", self.country)?
            .map(|c| parse_country(&c))
            .transpose()
            .map_err(err)?;
        let county = match text("county", self.county)? {
            Some(c) => Some(catalog.county(&c, country).map_err(err)?),
            None => None,
        };
        let sub_county = match text("sub_county", self.sub_county)? {
            Some(s) => Some(
                catalog
                    .sub_county(&s, country, county.as_deref())
                    .map_err(err)?,
            ),
            None => None,
        };
        let level = text("level", self.level)?
            .map(|l| parse_level(&l))
            .transpose()
            .map_err(err)?;
        let ownership = text("ownership", self.ownership)?
            .map(|o| parse_ownership(&o))
            .transpose()
            .map_err(err)?;
        Ok(SchoolFilter {
            country,
            county,
            sub_county,
            level,
            ownership,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_the_range_are_refused_with_the_range() {
        assert_eq!(limit(None, 10, 100), Ok(10));
        assert_eq!(limit(Some(100), 10, 100), Ok(100));
        assert_eq!(
            limit(Some(0), 10, 100),
            Err("limit must be between 1 and 100 (got 0)".into())
        );
        assert!(limit(Some(-5), 10, 100).is_err());
        assert!(limit(Some(i64::MAX), 10, 100).is_err());
        assert!(offset(Some(-1)).is_err());
    }

    #[test]
    fn sorts_are_read_and_unknown_ones_refused() {
        assert_eq!(sort(None, None), Ok(None));
        assert_eq!(
            sort(Some("Enrollment"), None),
            Ok(Some(SchoolSort {
                by: SortFigure::Enrolment,
                descending: true
            }))
        );
        assert_eq!(
            sort(Some("pupil-teacher ratio"), Some("asc")),
            Ok(Some(SchoolSort {
                by: SortFigure::PupilTeacherRatio,
                descending: false
            }))
        );
        assert!(
            sort(Some("age"), None)
                .expect_err("unknown")
                .contains("sort_by must be")
        );
        assert!(
            sort(None, Some("asc"))
                .expect_err("alone")
                .contains("needs sort_by")
        );
        assert!(sort(Some("teachers"), Some("up")).is_err());
    }

    #[test]
    fn long_text_is_refused() {
        let long = "x".repeat(1_000_000);
        assert!(
            text("query", Some(&long))
                .expect_err("too long")
                .contains("too long")
        );
        assert_eq!(text("query", Some("   ")), Ok(None));
    }
}
