//! `mcp-server import` into a real PostgreSQL: counts, rejections, idempotence.

use mcp_server::backend::postgres::import;

use crate::helpers::{TestApp, postgres_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_again_leaves_the_same_tables() {
    // Make sure a first import happened (TestApp::postgres does it once per binary).
    drop(TestApp::postgres().await);
    let report = import(&postgres_url(), None).await.expect("second import");
    let counts: Vec<(usize, usize, usize)> = report
        .files
        .iter()
        .map(|f| (f.read, f.loaded, f.rejected))
        .collect();
    assert_eq!(
        counts,
        vec![(37_930, 37_930, 0), (4_337, 4_337, 0), (1_747, 1_747, 0)]
    );
    assert_eq!(
        (report.schools_in_database, report.stories_in_database),
        (42_267, 1_747)
    );
    assert_eq!((report.schools_removed, report.stories_removed), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_with_a_missing_file_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("mas-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let error = import(&postgres_url(), Some(&dir))
        .await
        .expect_err("no files");
    assert!(
        format!("{error:#}").contains("kenya_schools.csv"),
        "{error:#}"
    );
}
