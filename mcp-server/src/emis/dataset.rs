//! Reads the three published data sets (Kenya schools, Florida public schools,
//! African Storybook) into the EMIS model, keeping count of what was read,
//! loaded and rejected. Used by the embedded backend at start-up and by the
//! PostgreSQL `import` command.

use std::{
    collections::HashSet,
    fmt,
    fs::File,
    io::{BufRead, BufReader, Read},
    path::Path,
    sync::Arc,
};

use flate2::read::GzDecoder;
use serde::Deserialize;

use super::{
    Country, Level, Ownership, School, Story, languages::language_name, story_attribution,
};

const KENYA_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kenya_schools.csv.gz"));
const FLORIDA_GZ: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/florida_public_schools.csv.gz"));
const STORIES_GZ: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/african_storybook_ccby.jsonl.gz"));

/// File names of the data sets, as shipped in `mcp-server/data/`.
pub const KENYA_FILE: &str = "kenya_schools.csv";
pub const FLORIDA_FILE: &str = "florida_public_schools.csv";
pub const STORIES_FILE: &str = "african_storybook_ccby.jsonl";

/// How many rejection reasons a report keeps (the count is always complete).
const MAX_REASONS: usize = 20;

/// What loading one file did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FileReport {
    pub file: String,
    pub read: usize,
    pub loaded: usize,
    pub rejected: usize,
    /// The first few rejections, as `row N: reason`.
    pub reasons: Vec<String>,
    /// Rows kept under a new id because their published id repeats.
    pub renamed: Vec<String>,
}

impl FileReport {
    fn new(file: &str) -> Self {
        FileReport {
            file: file.to_owned(),
            ..Default::default()
        }
    }

    fn reject(&mut self, row: usize, reason: impl fmt::Display) {
        self.rejected += 1;
        if self.reasons.len() < MAX_REASONS {
            self.reasons.push(format!("row {row}: {reason}"));
        }
    }
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} read, {} loaded, {} rejected",
            self.file, self.read, self.loaded, self.rejected
        )?;
        if !self.renamed.is_empty() {
            write!(
                f,
                " ({} kept under a new id because their published id repeats)",
                self.renamed.len()
            )?;
        }
        Ok(())
    }
}

/// Everything the EMIS backend serves.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub schools: Vec<School>,
    pub stories: Vec<Story>,
    pub reports: Vec<FileReport>,
}

/// A data file could not be read at all (as opposed to single bad rows).
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot open {path}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

impl Dataset {
    /// The data sets bundled into the binary.
    pub fn bundled() -> Result<Self, DatasetError> {
        Self::from_readers(
            GzDecoder::new(KENYA_GZ),
            GzDecoder::new(FLORIDA_GZ),
            BufReader::new(GzDecoder::new(STORIES_GZ)),
        )
    }

    /// The data sets from a directory holding the three published files.
    pub fn from_dir(dir: &Path) -> Result<Self, DatasetError> {
        let open = |name: &str| {
            let path = dir.join(name);
            File::open(&path).map_err(|source| DatasetError::Open {
                path: path.display().to_string(),
                source,
            })
        };
        Self::from_readers(
            open(KENYA_FILE)?,
            open(FLORIDA_FILE)?,
            BufReader::new(open(STORIES_FILE)?),
        )
    }

    fn from_readers(
        kenya: impl Read,
        florida: impl Read,
        stories: impl BufRead,
    ) -> Result<Self, DatasetError> {
        let mut schools = Vec::with_capacity(42_500);
        let mut seen = HashSet::with_capacity(42_500);
        let mut strings = Interner::default();
        let kenya_report = read_schools(
            KENYA_FILE,
            kenya,
            &mut schools,
            &mut seen,
            &mut strings,
            kenya_school,
        );
        let florida_report = read_schools(
            FLORIDA_FILE,
            florida,
            &mut schools,
            &mut seen,
            &mut strings,
            florida_school,
        );
        let (stories, stories_report) = read_stories(stories)?;
        Ok(Dataset {
            schools,
            stories,
            reports: vec![kenya_report, florida_report, stories_report],
        })
    }
}

#[derive(Debug, Deserialize)]
struct KenyaRow {
    objectid: String,
    code: String,
    school_name: String,
    level: String,
    status: String,
    county: String,
    district: String,
    zone: String,
    sub_county: String,
    ward: String,
    longitude: String,
    latitude: String,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct FloridaRow {
    ncesid: String,
    name: String,
    address: String,
    city: String,
    zip: String,
    telephone: String,
    #[serde(rename = "TYPE")]
    school_type: String,
    status: String,
    county: String,
    latitude: String,
    longitude: String,
    source_date: String,
    website: String,
    #[serde(rename = "LEVEL_")]
    level: String,
    enrollment: String,
    st_grade: String,
    end_grade: String,
    districtid: String,
    ft_teachers: String,
}

#[derive(Debug, Deserialize)]
struct StoryRow {
    id: String,
    story_number: String,
    language: String,
    title: String,
    body: String,
    pages: u32,
    words: u32,
    license: String,
    text_by: String,
    illustration_by: String,
    #[serde(default)]
    translation_by: Option<String>,
    source_repo: String,
    source_path: String,
    source_commit: String,
    #[serde(default)]
    asp_url: Option<String>,
    #[serde(default)]
    license_url: Option<String>,
}

/// Shares one allocation between equal strings (counties, wards, sources...).
#[derive(Debug, Default)]
struct Interner(HashSet<Arc<str>>);

impl Interner {
    fn get(&mut self, value: String) -> Arc<str> {
        if let Some(shared) = self.0.get(value.as_str()) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(value);
        self.0.insert(shared.clone());
        shared
    }

    /// Kenya's and Florida's "no value" markers become `None`.
    fn text(&mut self, value: String) -> Option<Arc<str>> {
        let trimmed = value.trim();
        if trimmed.is_empty() || trimmed == "NOT AVAILABLE" || trimmed == "-999" {
            None
        } else {
            Some(self.get(value))
        }
    }
}

/// A count, with Florida's -999 / NOT AVAILABLE sentinels as `None`.
fn count(value: &str) -> Result<Option<u32>, String> {
    match value.trim() {
        "" | "-999" | "NOT AVAILABLE" => Ok(None),
        v => v
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0 && *n <= f64::from(u32::MAX))
            .map(|n| Some(n.round() as u32))
            .ok_or_else(|| format!("invalid count {v:?}")),
    }
}

fn coordinates(lat: &str, lon: &str) -> Result<(f64, f64), String> {
    let lat: f64 = lat
        .trim()
        .parse()
        .map_err(|_| format!("invalid latitude {lat:?}"))?;
    let lon: f64 = lon
        .trim()
        .parse()
        .map_err(|_| format!("invalid longitude {lon:?}"))?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(format!("coordinates out of range ({lat}, {lon})"));
    }
    Ok((lat, lon))
}

/// Reads one schools CSV: every row is counted, converted by `convert`, and
/// either loaded or rejected with its reason (bad values, duplicate ids).
fn read_schools<R: serde::de::DeserializeOwned>(
    file: &str,
    reader: impl Read,
    schools: &mut Vec<School>,
    seen: &mut HashSet<String>,
    strings: &mut Interner,
    convert: fn(R, &mut Interner) -> Result<School, String>,
) -> FileReport {
    let mut report = FileReport::new(file);
    for (i, row) in csv::Reader::from_reader(reader)
        .into_deserialize::<R>()
        .enumerate()
    {
        report.read += 1;
        let line = i + 2; // 1-based, after the header
        match row
            .map_err(|e| e.to_string())
            .and_then(|row| convert(row, strings))
        {
            Ok(school) if seen.insert(school.id.clone()) => {
                schools.push(school);
                report.loaded += 1;
            }
            Ok(school) => report.reject(line, format!("duplicate id {}", school.id)),
            Err(reason) => report.reject(line, reason),
        }
    }
    report
}

fn kenya_school(row: KenyaRow, strings: &mut Interner) -> Result<School, String> {
    let objectid: u64 = row
        .objectid
        .trim()
        .parse()
        .map_err(|_| format!("invalid objectid {:?}", row.objectid))?;
    if row.school_name.trim().is_empty() {
        return Err("empty school name".into());
    }
    let (latitude, longitude) = coordinates(&row.latitude, &row.longitude)?;
    let level = match row.level.trim() {
        "Primary" => Level::Primary,
        "Secondary" => Level::Secondary,
        "Pre-primary" | "Pre-Primary" | "ECDE" => Level::PrePrimary,
        "" => Level::Unknown,
        _ => Level::Other,
    };
    let ownership = match row.status.trim() {
        "Public" => Some(Ownership::Public),
        "Private" => Some(Ownership::Private),
        _ => None,
    };
    Ok(School {
        id: format!("KE-{objectid}"),
        name: row.school_name,
        country: Country::KE,
        level,
        level_detail: strings.get(row.level),
        ownership,
        status: None,
        school_type: None,
        county: strings.text(row.county),
        sub_county: strings.text(row.sub_county),
        ward: strings.text(row.ward),
        zone: strings.text(row.zone),
        district: strings.text(row.district),
        city: None,
        address: None,
        zip: None,
        district_id: None,
        grades: None,
        website: None,
        phone: None,
        latitude,
        longitude,
        enrolment: None,
        teachers: None,
        pupil_teacher_ratio: None,
        code: strings.text(row.code),
        source: strings.get(row.source),
    })
}

/// NCES CCD status codes.
fn florida_status(code: &str) -> Option<String> {
    let s = match code.trim() {
        "1" => "open",
        "2" => "closed",
        "3" => "new",
        "4" => "added",
        "5" => "changed_agency",
        "6" => "temporarily_closed",
        "7" => "future",
        "8" => "reopened",
        _ => return None,
    };
    Some(s.to_owned())
}

/// NCES CCD school type codes.
fn florida_type(code: &str) -> Option<String> {
    let s = match code.trim() {
        "1" => "regular",
        "2" => "special_education",
        "3" => "career_technical",
        "4" => "alternative",
        _ => return None,
    };
    Some(s.to_owned())
}

/// `KG-05` from the NCES start and end grades; `M` (missing) and `N` (not applicable) are no grade.
fn grade_span(start: &str, end: &str) -> Option<String> {
    let usable = |g: &str| !matches!(g.trim(), "" | "M" | "N" | "NOT AVAILABLE" | "-999");
    match (usable(start), usable(end)) {
        (true, true) if start.trim() == end.trim() => Some(start.trim().to_owned()),
        (true, true) => Some(format!("{}-{}", start.trim(), end.trim())),
        (true, false) => Some(start.trim().to_owned()),
        (false, true) => Some(end.trim().to_owned()),
        (false, false) => None,
    }
}

fn florida_school(row: FloridaRow, strings: &mut Interner) -> Result<School, String> {
    let nces = row.ncesid.trim();
    if nces.is_empty() || !nces.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("invalid NCESID {:?}", row.ncesid));
    }
    if row.name.trim().is_empty() {
        return Err("empty school name".into());
    }
    let (latitude, longitude) = coordinates(&row.latitude, &row.longitude)?;
    let level = match row.level.trim() {
        "ELEMENTARY" => Level::Primary,
        "MIDDLE" | "HIGH" | "SECONDARY" => Level::Secondary,
        "PREKINDERGARTEN" => Level::PrePrimary,
        "NOT REPORTED" | "" => Level::Unknown,
        _ => Level::Other,
    };
    let enrolment = count(&row.enrollment)?;
    let teachers = count(&row.ft_teachers)?;
    let pupil_teacher_ratio = match (enrolment, teachers) {
        (Some(e), Some(t)) if t > 0 => Some(round2(f64::from(e) / f64::from(t))),
        _ => None,
    };
    let source_date = row
        .source_date
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok(School {
        id: format!("US-{nces}"),
        name: row.name,
        country: Country::US,
        level,
        level_detail: strings.get(row.level),
        ownership: Some(Ownership::Public),
        status: florida_status(&row.status).map(|s| strings.get(s)),
        school_type: florida_type(&row.school_type).map(|s| strings.get(s)),
        county: strings.text(row.county),
        sub_county: None,
        ward: None,
        zone: None,
        district: None,
        city: strings.text(row.city),
        address: strings.text(row.address),
        zip: strings.text(row.zip),
        district_id: strings.text(row.districtid),
        grades: grade_span(&row.st_grade, &row.end_grade).map(|g| strings.get(g)),
        website: strings.text(row.website),
        phone: strings.text(row.telephone),
        latitude,
        longitude,
        enrolment,
        teachers,
        pupil_teacher_ratio,
        code: None,
        source: strings.get(format!(
            "HIFLD Public Schools (DHS/CISA), NCES Common Core of Data, {source_date}"
        )),
    })
}

/// Rounds to two decimals, the precision ratios are reported at.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn read_stories(reader: impl BufRead) -> Result<(Vec<Story>, FileReport), DatasetError> {
    let mut report = FileReport::new(STORIES_FILE);
    let mut stories = Vec::with_capacity(1_800);
    let mut seen = HashSet::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| DatasetError::Read {
            file: STORIES_FILE.into(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        report.read += 1;
        match serde_json::from_str::<StoryRow>(&line) {
            Ok(row) if row.title.trim().is_empty() || row.body.trim().is_empty() => {
                report.reject(i + 1, "empty title or body");
            }
            Ok(mut row) => {
                // The published ids are not unique (two stories share asp-ha-0001, two asp-tn-0288:
                // different texts at different source paths). Both are kept; a repeat gets `-2`, `-3`...
                if !seen.insert(row.id.clone()) {
                    let base = row.id.clone();
                    let id = (2..)
                        .map(|n| format!("{base}-{n}"))
                        .find(|id| !seen.contains(id))
                        .unwrap_or_default();
                    seen.insert(id.clone());
                    report.renamed.push(format!(
                        "row {}: {base} -> {id} ({})",
                        i + 1,
                        row.source_path
                    ));
                    row.id = id;
                }
                stories.push(story(row));
                report.loaded += 1;
            }
            Err(e) => report.reject(i + 1, e),
        }
    }
    Ok((stories, report))
}

fn story(row: StoryRow) -> Story {
    let translation_by = row.translation_by.filter(|t| !t.trim().is_empty());
    let attribution = story_attribution(
        &row.title,
        &row.text_by,
        &row.illustration_by,
        translation_by.as_deref(),
        &row.license,
    );
    Story {
        language_name: language_name(&row.language).to_owned(),
        id: row.id,
        story_number: row.story_number,
        language: row.language,
        title: row.title,
        body: row.body,
        pages: row.pages,
        words: row.words,
        license: row.license,
        text_by: row.text_by,
        illustration_by: row.illustration_by,
        translation_by,
        asp_url: row.asp_url.filter(|u| !u.is_empty()),
        license_url: row.license_url.filter(|u| !u.is_empty()),
        source_repo: row.source_repo,
        source_path: row.source_path,
        source_commit: row.source_commit,
        attribution,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_data_loads_every_row() -> Result<(), DatasetError> {
        let data = Dataset::bundled()?;
        let counts: Vec<_> = data
            .reports
            .iter()
            .map(|r| (r.read, r.loaded, r.rejected))
            .collect();
        assert_eq!(
            counts,
            vec![(37_930, 37_930, 0), (4_337, 4_337, 0), (1_747, 1_747, 0)]
        );
        assert_eq!(
            data.reports[2].renamed.len(),
            2,
            "{:?}",
            data.reports[2].renamed
        );
        assert!(data.stories.iter().any(|s| s.id == "asp-ha-0001-2"));
        Ok(())
    }

    #[test]
    fn florida_sentinels_become_null_not_zero() {
        assert_eq!(count("-999"), Ok(None));
        assert_eq!(count("NOT AVAILABLE"), Ok(None));
        assert_eq!(count("0"), Ok(Some(0)));
        assert!(count("lots").is_err());
    }

    #[test]
    fn bad_rows_are_rejected_with_a_reason() {
        let csv = "objectid,code,school_name,level,status,county,district,zone,sub_county,ward,longitude,latitude,source\n\
                   1,1,Good,Primary,Public,Baringo,,,,,35.7,0.4,x\n\
                   2,2,Bad coords,Primary,Public,Baringo,,,,,350,0.4,x\n\
                   x,3,Bad id,Primary,Public,Baringo,,,,,35,0.4,x\n\
                   1,4,Dup,Primary,Public,Baringo,,,,,35,0.4,x\n";
        let mut schools = Vec::new();
        let report = read_schools(
            KENYA_FILE,
            csv.as_bytes(),
            &mut schools,
            &mut HashSet::new(),
            &mut Interner::default(),
            kenya_school,
        );
        assert_eq!((report.read, report.loaded, report.rejected), (4, 1, 3));
        assert!(
            report.reasons[0].contains("out of range"),
            "{:?}",
            report.reasons
        );
        assert!(
            report.reasons[2].contains("duplicate id KE-1"),
            "{:?}",
            report.reasons
        );
    }

    #[test]
    fn grade_spans_read_like_a_prospectus() {
        assert_eq!(grade_span("KG", "05").as_deref(), Some("KG-05"));
        assert_eq!(grade_span("PK", "PK").as_deref(), Some("PK"));
        assert_eq!(grade_span("M", "M"), None);
    }
}
