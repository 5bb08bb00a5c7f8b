//! Bad input gets a clear tool or protocol error, never a panic, and the server keeps serving.

use serde_json::json;

use crate::{helpers::TestApp, on_both_backends};

async fn wrong_types_and_unknown_arguments_are_tool_errors(app: TestApp) {
    for args in [
        json!({ "limit": "ten" }),
        json!({ "query": 42 }),
        json!({ "querry": "moi" }),
        json!({ "limit": 1.5 }),
    ] {
        let result = app.call("search_schools", args.clone()).await;
        assert_eq!(result.is_error, Some(true), "{args} should be refused");
    }
    let result = app
        .call(
            "find_schools_near",
            json!({ "latitude": "north", "longitude": 36.8 }),
        )
        .await;
    assert_eq!(result.is_error, Some(true));
    let result = app.call("get_school", json!({})).await;
    assert_eq!(result.is_error, Some(true), "a missing id is refused");
}

async fn limits_outside_their_range_are_refused_with_the_range(app: TestApp) {
    for limit in [0, -1, 101, i64::MAX] {
        let error = app.err("search_schools", json!({ "limit": limit })).await;
        assert!(error.contains("between 1 and 100"), "{limit}: {error}");
    }
    let error = app.err("search_schools", json!({ "offset": -5 })).await;
    assert!(error.contains("offset"), "{error}");
    let error = app.err("search_content", json!({ "limit": 51 })).await;
    assert!(error.contains("between 1 and 50"), "{error}");
}

async fn megabyte_strings_are_refused_and_the_server_keeps_serving(app: TestApp) {
    let huge = "a".repeat(1_000_000);
    for (tool, args) in [
        ("search_schools", json!({ "query": huge })),
        ("search_schools", json!({ "county": huge })),
        ("get_school", json!({ "id": huge })),
        ("search_content", json!({ "query": huge })),
    ] {
        let error = app.err(tool, args).await;
        assert!(
            error.contains("too long"),
            "{tool}: {}",
            &error[..error.len().min(200)]
        );
    }
    let page = app
        .ok("search_schools", json!({ "query": "Bakwanin" }))
        .await;
    assert_eq!(page["schools"][0]["id"], "KE-1");
}

async fn sql_metacharacters_are_just_text(app: TestApp) {
    let before = app
        .ok("search_schools", json!({ "county": "Baringo" }))
        .await["total"]
        .clone();
    for query in [
        "x' OR '1'='1",
        "'; DROP TABLE emis_schools; --",
        "%",
        "_",
        "\\",
        "a:* | b",
        "\u{0}",
    ] {
        let result = app.call("search_schools", json!({ "query": query })).await;
        assert_ne!(
            result.is_error,
            Some(true),
            "{query:?} is a valid (if odd) query"
        );
        let result = app.call("search_content", json!({ "query": query })).await;
        assert_ne!(
            result.is_error,
            Some(true),
            "{query:?} is a valid story query"
        );
    }
    let error = app
        .err("search_schools", json!({ "county": "Baringo' OR '1'='1" }))
        .await;
    assert!(error.contains("unknown county"), "{error}");
    let error = app
        .err("get_school", json!({ "id": "KE-1' OR '1'='1" }))
        .await;
    assert!(error.contains("no school has id"), "{error}");
    let after = app
        .ok("search_schools", json!({ "county": "Baringo" }))
        .await["total"]
        .clone();
    assert_eq!(before, after, "the data is untouched");
}

async fn an_unknown_tool_is_a_protocol_error(app: TestApp) {
    let params = rmcp::model::CallToolRequestParams::new("drop_all_schools");
    let error = app
        .client
        .call_tool(params)
        .await
        .expect_err("unknown tool");
    assert!(error.to_string().contains("tool not found"), "{error}");
    app.ok("list_regions", json!({})).await;
}

on_both_backends!(
    wrong_types_and_unknown_arguments_are_tool_errors,
    limits_outside_their_range_are_refused_with_the_range,
    megabyte_strings_are_refused_and_the_server_keeps_serving,
    sql_metacharacters_are_just_text,
    an_unknown_tool_is_a_protocol_error,
);

/// A database whose schema drifted from the code's (here `level_detail` became
/// a number) answers with errors, never a panic.
#[tokio::test]
async fn a_schema_that_does_not_match_is_an_error_not_a_panic() {
    use mcp_server::backend::{EmisBackend, postgres::PostgresBackend};
    let base = crate::helpers::postgres_url();
    let name = format!("mas_drift_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base).await.expect("connect");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create the scratch database");
    let url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("TEST_DATABASE_URL has no database name: {base}"),
    };
    let backend = PostgresBackend::connect(&url, 2).await.expect("schema");
    let drifted = sqlx::PgPool::connect(&url).await.expect("connect");
    for statement in [
        "INSERT INTO emis_schools (id, name, name_norm, country, level, level_detail, latitude, longitude, enrolment, source) \
         VALUES ('KE-1', 'Drift School', 'drift school', 'KE', 'primary', 'Primary', 0, 37, 10, 'test')",
        "ALTER TABLE emis_schools ALTER COLUMN level_detail TYPE integer USING 0",
    ] {
        sqlx::query(statement)
            .execute(&drifted)
            .await
            .expect(statement);
    }
    let answer = backend.get_school("KE-1").await;
    assert!(
        answer.is_err(),
        "a column of the wrong type is an error: {answer:?}"
    );
    drifted.close().await;
    drop(backend);
    let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await;
}
