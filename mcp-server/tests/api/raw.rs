//! The published data files read directly, without the server's loader, so
//! tests compare the server's answers with figures computed independently.

use std::{collections::BTreeMap, path::PathBuf, sync::OnceLock};

use serde_json::Value;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub country: &'static str,
    pub county: String,
    pub sub_county: String,
    /// Normalised level as the server should report it.
    pub level: &'static str,
    /// "public", "private" or "" (unknown).
    pub ownership: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub enrolment: Option<u64>,
    pub teachers: Option<u64>,
}

fn rows_of(path: PathBuf) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).expect("data file");
    reader.deserialize().map(|r| r.expect("csv row")).collect()
}

/// Florida's -999 and "NOT AVAILABLE" mean "no figure".
fn figure(value: &str) -> Option<u64> {
    match value {
        "-999" | "NOT AVAILABLE" | "" => None,
        v => Some(v.parse::<f64>().expect("number") as u64),
    }
}

pub fn schools() -> &'static [Row] {
    static ROWS: OnceLock<Vec<Row>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let mut out = Vec::new();
        for r in rows_of(data("kenya_schools.csv")) {
            out.push(Row {
                id: format!("KE-{}", r["objectid"]),
                country: "KE",
                county: r["county"].clone(),
                sub_county: r["sub_county"].clone(),
                level: if r["level"] == "Primary" {
                    "primary"
                } else {
                    "secondary"
                },
                ownership: match r["status"].as_str() {
                    "Public" => "public",
                    "Private" => "private",
                    _ => "",
                },
                lat: r["latitude"].parse().expect("lat"),
                lon: r["longitude"].parse().expect("lon"),
                enrolment: None,
                teachers: None,
            });
        }
        for r in rows_of(data("florida_public_schools.csv")) {
            out.push(Row {
                id: format!("US-{}", r["NCESID"]),
                country: "US",
                county: r["COUNTY"].clone(),
                sub_county: String::new(),
                level: match r["LEVEL_"].as_str() {
                    "ELEMENTARY" => "primary",
                    "MIDDLE" | "HIGH" | "SECONDARY" => "secondary",
                    "PREKINDERGARTEN" => "pre_primary",
                    "NOT REPORTED" => "unknown",
                    _ => "other",
                },
                ownership: "public",
                lat: r["LATITUDE"].parse().expect("lat"),
                lon: r["LONGITUDE"].parse().expect("lon"),
                enrolment: figure(&r["ENROLLMENT"]),
                teachers: figure(&r["FT_TEACHERS"]),
            });
        }
        out
    })
}

pub fn stories() -> &'static [Value] {
    static ROWS: OnceLock<Vec<Value>> = OnceLock::new();
    ROWS.get_or_init(|| {
        std::fs::read_to_string(data("african_storybook_ccby.jsonl"))
            .expect("stories file")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("story json"))
            .collect()
    })
}

/// Great-circle distance (spherical law of cosines; a different formula from the server's haversine).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2, dl) = (
        lat1.to_radians(),
        lat2.to_radians(),
        (lon2 - lon1).to_radians(),
    );
    let c = (p1.sin() * p2.sin() + p1.cos() * p2.cos() * dl.cos()).clamp(-1.0, 1.0);
    6371.0088 * c.acos()
}
