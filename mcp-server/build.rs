//! Compresses the bundled data sets into `OUT_DIR` so the binary carries them
//! at about a quarter of their size; `emis::dataset` inflates them at start-up.

use std::{env, fs, io::Write, path::PathBuf};

use flate2::{Compression, write::GzEncoder};

const FILES: [&str; 3] = [
    "kenya_schools.csv",
    "florida_public_schools.csv",
    "african_storybook_ccby.jsonl",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(env::var("OUT_DIR")?);
    for name in FILES {
        let source = PathBuf::from("data").join(name);
        println!("cargo::rerun-if-changed={}", source.display());
        let raw = fs::read(&source)?;
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(&raw)?;
        fs::write(out.join(format!("{name}.gz")), encoder.finish()?)?;
    }
    Ok(())
}
