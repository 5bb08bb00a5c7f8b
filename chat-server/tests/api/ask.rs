//! The offline planner answering varied questions about the real data end to
//! end through the agents: coordinator -> handoff -> specialist -> the EMIS
//! tools in process -> summary. The figures are checked against the raw data
//! files read here.

use chat_server::agent::{
    RunEvent,
    ask::{Answer, ask},
    planner::OFFLINE_NOTE,
};

use crate::support::{TestApp, data};

async fn answer(question: &str) -> Answer {
    // No provider key: the offline planner answers, through the full agent
    // set and the embedded tools, as `chat-server ask` builds them.
    let (settings, _) = TestApp::builder().settings();
    let runner = chat_server::app::agents(&settings).await.expect("agents");
    let answer = ask(runner, question, |_| {}).await;
    assert!(
        matches!(answer.events.last(), Some(RunEvent::Finished { .. })),
        "{question}: {:?}",
        answer.events.last()
    );
    assert!(
        answer.text().contains(OFFLINE_NOTE),
        "{question}: every offline answer says so"
    );
    answer
}

/// The EMIS tool that answered (after the coordinator's handoff).
fn tool(answer: &Answer) -> &str {
    answer
        .tools()
        .into_iter()
        .find(|t| !t.starts_with("transfer_to_"))
        .unwrap_or("none")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_planner_answers_ten_kinds_of_question_from_the_real_data() {
    let kenya = data::rows("kenya_schools.csv");
    let florida = data::rows("florida_public_schools.csv");

    // 1. Schools per country.
    let a = answer("How many schools are there in each country?").await;
    assert_eq!(tool(&a), "school_statistics");
    assert!(
        a.text().contains(&format!("| KE | {} |", kenya.len()))
            && a.text().contains(&format!("| US | {} |", florida.len())),
        "{}",
        a.text()
    );

    // 2. A school by name with typos, in a county.
    let a = answer("Find Moi Girls in Nairobi").await;
    assert!(
        a.text().contains("Moi Girls Nairobi") && a.text().contains("KE-23718"),
        "{}",
        a.text()
    );

    // 3. Counting with filters: private primary schools in Kisumu.
    let expected = kenya
        .iter()
        .filter(|r| r["county"] == "Kisumu" && r["level"] == "Primary" && r["status"] == "Private")
        .count();
    let a = answer("How many private primary schools are in Kisumu?").await;
    assert!(
        a.text().contains(&format!("**{expected}** schools in all")),
        "{expected}: {}",
        a.text()
    );

    // 4. Kenyan enrolment is not reported as zero: the question is declined, saying why.
    let a = answer("What is the total enrolment of schools in Baringo county?").await;
    assert!(
        a.text().contains("no enrolment") && !a.text().contains(" 0 "),
        "{}",
        a.text()
    );
    assert!(!a.text().contains("| 0 |"), "{}", a.text());

    // 5. Florida enrolment by level in one county, summed from the file.
    let orange_elementary: u64 = florida
        .iter()
        .filter(|r| r["COUNTY"] == "ORANGE" && r["LEVEL_"] == "ELEMENTARY")
        .filter_map(|r| r["ENROLLMENT"].parse::<i64>().ok().filter(|n| *n >= 0))
        .map(|n| n as u64)
        .sum();
    let a = answer("Total enrolment in Orange county by level").await;
    assert!(
        a.text().contains("| primary | ") && a.text().contains(&orange_elementary.to_string()),
        "{orange_elementary}: {}",
        a.text()
    );

    // 6. One school's record by id.
    let a = answer("Tell me about school US-120000207976").await;
    assert_eq!(tool(&a), "get_school");
    assert!(
        a.text().contains("FLORIDA VIRTUAL ELEMENTARY SCHOOL")
            && a.text().contains("enrolment: 2600"),
        "{}",
        a.text()
    );

    // 7. Schools near a position.
    let a = answer("Which schools are near -1.2921, 36.8219 within 1 km?").await;
    assert_eq!(tool(&a), "find_schools_near");
    assert!(a.text().contains("Ananda Marga Academy"), "{}", a.text());

    // 8. Stories in a language, with attribution.
    let a = answer("Find children's stories about goats in English").await;
    assert_eq!(tool(&a), "search_content");
    assert!(
        a.text().contains("Goat, Dog, and Cow")
            && a.text()
                .contains("African Storybook (africanstorybook.org), licensed"),
        "{}",
        a.text()
    );

    // 9. Stories by language name only.
    let swahili = std::fs::read_to_string(data::path("african_storybook_ccby.jsonl"))
        .expect("stories")
        .lines()
        .filter(|l| l.contains("\"language\": \"sw\""))
        .count();
    let a = answer("Show me stories in Kiswahili").await;
    assert!(
        a.text().contains(&format!("Found **{swahili}** stories")),
        "{swahili}: {}",
        a.text()
    );

    // 10. The regions of a country.
    let a = answer("Which counties are in Kenya?").await;
    assert_eq!(tool(&a), "list_regions");
    let lamu = kenya.iter().filter(|r| r["county"] == "Lamu").count();
    assert!(
        a.text().contains(&format!("| KE | Lamu | {lamu} |")),
        "{}",
        a.text()
    );

    // 11. Public versus private, grouped by ownership.
    let public = kenya.iter().filter(|r| r["status"] == "Public").count();
    let a = answer("How many Kenyan schools are there by ownership?").await;
    assert!(
        a.text().contains(&format!("| public | {public} |")),
        "{}",
        a.text()
    );

    // 12. Secondary schools in a Florida county, listed.
    let a = answer("List secondary schools in Miami-Dade county").await;
    assert_eq!(tool(&a), "search_schools");
    let expected = florida
        .iter()
        .filter(|r| {
            r["COUNTY"] == "MIAMI-DADE"
                && matches!(r["LEVEL_"].as_str(), "HIGH" | "MIDDLE" | "SECONDARY")
        })
        .count();
    assert!(
        a.text().contains(&format!("Found **{expected}** schools")),
        "{expected}: {}",
        a.text()
    );
}
