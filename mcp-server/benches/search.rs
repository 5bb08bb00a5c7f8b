//! Micro-benchmark of `search_schools` in process (embedded backend): the
//! latency of the search itself, without transport. Run: `cargo bench -p mcp-server --bench search`.

use std::time::{Duration, Instant};

use futures::executor::block_on;
use mcp_server::{
    backend::{EmisBackend, SchoolFilter, SchoolSearch, embedded::EmbeddedBackend},
    emis::{Country, Level, dataset::Dataset},
};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let started = Instant::now();
    let backend = EmbeddedBackend::new(Dataset::bundled().expect("bundled data"));
    println!("index built in {:?}", started.elapsed());
    let kenya = SchoolFilter {
        country: Some(Country::KE),
        ..Default::default()
    };
    let cases: Vec<(&str, SchoolSearch)> = vec![
        (
            "exact name",
            search(Some("Bakwanin"), SchoolFilter::default()),
        ),
        ("typo", search(Some("bakwanim"), SchoolFilter::default())),
        (
            "two words",
            search(Some("moi girls"), SchoolFilter::default()),
        ),
        (
            "common word",
            search(Some("elementary"), SchoolFilter::default()),
        ),
        ("prefix", search(Some("st jo"), kenya.clone())),
        (
            "name + filters",
            search(
                Some("primary"),
                SchoolFilter {
                    level: Some(Level::Primary),
                    ..kenya.clone()
                },
            ),
        ),
        (
            "filters only",
            search(
                None,
                SchoolFilter {
                    county: Some("nairobi".into()),
                    ..Default::default()
                },
            ),
        ),
    ];
    let rounds = 2_000;
    let mut all = Vec::with_capacity(rounds * cases.len());
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>8}",
        "query", "p50", "p99", "max", "total"
    );
    for (name, case) in &cases {
        let mut times = Vec::with_capacity(rounds);
        let mut total = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let page = block_on(backend.search_schools(case)).expect("search");
            times.push(t.elapsed());
            total = page.total;
        }
        times.sort();
        println!(
            "{name:<16} {:>10.1?} {:>10.1?} {:>10.1?} {total:>8}",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1]
        );
        all.extend(times);
    }
    all.sort();
    println!(
        "all {} searches: p50 {:.1?}, p99 {:.1?}",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );
}

fn search(query: Option<&str>, filter: SchoolFilter) -> SchoolSearch {
    SchoolSearch {
        query: query.map(str::to_owned),
        filter,
        sort: None,
        limit: 10,
        offset: 0,
    }
}
