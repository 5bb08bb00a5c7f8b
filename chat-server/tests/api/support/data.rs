//! The raw data files, read independently of the tools, so figures the
//! answers give can be checked against them.
#![allow(dead_code)] // each test module uses part of it

use std::{collections::BTreeMap, path::PathBuf};

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../mcp-server/data")
        .join(name)
}

/// The rows of a CSV file, by column name.
pub fn rows(name: &str) -> Vec<BTreeMap<String, String>> {
    csv::Reader::from_path(path(name))
        .expect("csv")
        .deserialize()
        .map(|r| r.expect("row"))
        .collect()
}

/// Kenyan schools in `county`, counted from the file.
pub fn kenya_schools_in(county: &str) -> usize {
    rows("kenya_schools.csv")
        .iter()
        .filter(|r| r["county"] == county)
        .count()
}
