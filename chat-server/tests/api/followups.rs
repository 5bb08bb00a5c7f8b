//! Follow-ups answered by the offline planner, end to end through the
//! agents and the embedded tools in one conversation: "and in Mombasa?",
//! "what about secondary schools?", "the second one" ask the previous
//! turn's tool again, changed only where they say; the figures are checked
//! against the raw data file.

use serde_json::{Value, json};

use crate::support::{TestApp, data};

/// One turn of `session` (a new one when `None`): (session id, the answer,
/// the data tool's call).
async fn turn(app: &TestApp, session: Option<&str>, message: &str) -> (String, String, Value) {
    let mut body = json!({ "message": message });
    if let Some(session) = session {
        body["session_id"] = json!(session);
    }
    let (status, reply) = app.chat(body, None).await;
    assert_eq!(status, 200, "{message}: {reply}");
    let call = reply["tool_calls"]
        .as_array()
        .expect("tool calls")
        .iter()
        .find(|c| !c["tool"].as_str().unwrap_or("").starts_with("transfer_to_"))
        .cloned()
        .unwrap_or(Value::Null);
    (
        reply["session_id"].as_str().expect("session").to_owned(),
        reply["message"].as_str().expect("answer").to_owned(),
        call,
    )
}

fn arguments(call: &Value) -> Value {
    match &call["arguments"] {
        Value::String(text) => serde_json::from_str(text).expect("JSON arguments"),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_ups_reuse_the_previous_tool_changing_only_what_they_name() {
    let app = TestApp::spawn().await;
    let kenya = data::rows("kenya_schools.csv");
    let count = |county: &str, level: Option<&str>| {
        kenya
            .iter()
            .filter(|r| r["county"] == county)
            .filter(|r| level.is_none_or(|l| r["level"].eq_ignore_ascii_case(l)))
            .count()
    };
    let with_commas = |n: usize| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };

    let (session, _, first) = turn(&app, None, "How many schools are in Nairobi county?").await;
    assert_eq!(first["tool"], "school_statistics", "{first}");
    assert_eq!(arguments(&first)["county"], "Nairobi");

    let (_, answer, call) = turn(&app, Some(&session), "And in Mombasa?").await;
    assert_eq!(call["tool"], "school_statistics", "{call}");
    let args = arguments(&call);
    assert_eq!(args["county"], "Mombasa", "{args}");
    assert_eq!(
        args["group_by"],
        arguments(&first)["group_by"],
        "the rest as before"
    );
    let mombasa = count("Mombasa", None);
    assert!(
        answer.contains(&with_commas(mombasa)) || answer.contains(&mombasa.to_string()),
        "Mombasa has {mombasa} schools in the file: {answer}"
    );

    let (_, answer, call) = turn(&app, Some(&session), "What about secondary schools?").await;
    let args = arguments(&call);
    assert_eq!(call["tool"], "school_statistics", "{call}");
    assert_eq!(
        (&args["county"], &args["level"]),
        (&json!("Mombasa"), &json!("secondary")),
        "{args}"
    );
    let secondary = count("Mombasa", Some("secondary"));
    assert!(secondary > 0);
    assert!(
        answer.contains(&with_commas(secondary)),
        "Mombasa has {secondary} secondary schools in the file: {answer}"
    );

    // "The second one" opens the second school the search listed.
    let (session, _, search) = turn(&app, None, "List secondary schools in Lamu").await;
    assert_eq!(search["tool"], "search_schools", "{search}");
    let listed: Value =
        serde_json::from_str(search["result"].as_str().expect("result")).expect("JSON");
    let second = listed["schools"][1]["id"]
        .as_str()
        .expect("a second school")
        .to_owned();
    let (_, answer, call) = turn(&app, Some(&session), "Tell me about the second one").await;
    assert_eq!(call["tool"], "get_school", "{call}");
    assert_eq!(arguments(&call)["id"], second.as_str());
    let name = kenya
        .iter()
        .find(|r| format!("KE-{}", r["objectid"]) == second)
        .map(|r| r["school_name"].clone())
        .unwrap_or_else(|| panic!("{second} is not in the file"));
    assert!(
        answer.contains(&name),
        "{second} is {name} in the file: {answer}"
    );
}
