//! Every tool, on both backends, checked against figures computed here from the raw files.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::{helpers::TestApp, on_both_backends, raw};

fn ids(value: &Value) -> Vec<String> {
    value["schools"]
        .as_array()
        .expect("schools")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn search_tolerates_typos_accents_and_filler_words(app: TestApp) {
    for query in ["Bakwanin", "bakwanim", "BAKWÁNIN"] {
        let page = app
            .ok("search_schools", json!({ "query": query, "country": "KE" }))
            .await;
        assert_eq!(ids(&page)[0], "KE-1", "{query}: {page}");
    }
    let page = app
        .ok(
            "search_schools",
            json!({ "query": "Carolyn Beatrice Parker Elementary School" }),
        )
        .await;
    assert_eq!(ids(&page)[0], "US-120003000002", "{page}");
    let page = app
        .ok("search_schools", json!({ "query": "St Annes Nzoia Girls" }))
        .await;
    let first = &page["schools"][0];
    assert_eq!(
        first["name"], "St Anne’s Nzoia Girls",
        "shown as published: {page}"
    );
}

async fn search_totals_match_counts_from_the_raw_files(app: TestApp) {
    let raw = raw::schools();
    type Keep = fn(&raw::Row) -> bool;
    let cases: [(Value, Keep); 5] = [
        (
            json!({ "country": "KE", "county": "Baringo", "level": "primary" }),
            |r| r.country == "KE" && r.county == "Baringo" && r.level == "primary",
        ),
        (
            json!({ "county": "nairobi", "ownership": "private" }),
            |r| r.county == "Nairobi" && r.ownership == "private",
        ),
        (
            json!({ "country": "US", "county": "MIAMI-DADE", "level": "secondary" }),
            |r| r.country == "US" && r.county == "MIAMI-DADE" && r.level == "secondary",
        ),
        (json!({ "country": "US", "level": "pre_primary" }), |r| {
            r.country == "US" && r.level == "pre_primary"
        }),
        (json!({ "sub_county": "Westlands" }), |r| {
            r.sub_county == "Westlands"
        }),
    ];
    for (filters, keep) in cases {
        let expected = raw.iter().filter(|r| keep(r)).count() as u64;
        let mut args = filters.clone();
        args["limit"] = json!(100);
        let page = app.ok("search_schools", args).await;
        assert_eq!(page["total"], expected, "{filters}");
        let listed = page["schools"].as_array().expect("schools").len() as u64;
        assert_eq!(listed, expected.min(100), "{filters}");
    }
}

async fn search_pages_through_results_without_overlap(app: TestApp) {
    let first = app
        .ok("search_schools", json!({ "county": "Lamu", "limit": 60 }))
        .await;
    let second = app
        .ok(
            "search_schools",
            json!({ "county": "Lamu", "limit": 60, "offset": 60 }),
        )
        .await;
    let expected = raw::schools().iter().filter(|r| r.county == "Lamu").count();
    let mut all = ids(&first);
    all.extend(ids(&second));
    assert_eq!(all.len(), expected);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), expected, "pages overlap");
    let past_end = app
        .ok(
            "search_schools",
            json!({ "county": "Lamu", "offset": 5000 }),
        )
        .await;
    assert_eq!(past_end["total"], expected as u64);
    assert!(ids(&past_end).is_empty());
}

async fn unknown_filter_values_are_errors_that_suggest_valid_ones(app: TestApp) {
    let error = app
        .err("search_schools", json!({ "county": "Nairobbi" }))
        .await;
    assert!(
        error.contains("did you mean") && error.contains("Nairobi"),
        "{error}"
    );
    let error = app
        .err("search_schools", json!({ "level": "primry" }))
        .await;
    assert!(error.contains("primary"), "{error}");
    let error = app
        .err("school_statistics", json!({ "group_by": "town" }))
        .await;
    assert!(
        error.contains("county") && error.contains("sub_county"),
        "{error}"
    );
    let error = app
        .err("search_content", json!({ "language": "Klingon" }))
        .await;
    assert!(error.contains("unknown language"), "{error}");
}

async fn get_school_returns_every_field_with_nulls_not_zeros(app: TestApp) {
    let us = app
        .ok("get_school", json!({ "id": "US-120000207976" }))
        .await;
    assert_eq!(us["name"], "FLORIDA VIRTUAL ELEMENTARY SCHOOL");
    assert_eq!(
        (us["enrolment"].clone(), us["teachers"].clone()),
        (json!(2600), json!(125))
    );
    assert_eq!(us["pupil_teacher_ratio"], json!(20.8));
    assert_eq!(
        (us["level"].clone(), us["level_detail"].clone()),
        (json!("primary"), json!("ELEMENTARY"))
    );
    assert_eq!(
        (
            us["grades"].clone(),
            us["status"].clone(),
            us["county"].clone()
        ),
        (json!("KG-05"), json!("open"), json!("ORANGE"))
    );
    assert_eq!(us["website"], "http://www.flvsft.com");

    let ke = app.ok("get_school", json!({ "id": "KE-2" })).await;
    assert_eq!(ke["name"], "Bekibon");
    assert_eq!(
        (
            ke["county"].clone(),
            ke["sub_county"].clone(),
            ke["ward"].clone()
        ),
        (json!("Baringo"), json!("Baringo South"), json!("Marigat"))
    );
    assert_eq!(
        (
            ke["enrolment"].clone(),
            ke["teachers"].clone(),
            ke["pupil_teacher_ratio"].clone()
        ),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(ke["ownership"], "public");

    // A 2007 row: no ownership published.
    let old = raw::schools()
        .iter()
        .find(|r| r.country == "KE" && r.ownership.is_empty())
        .expect("2007 row");
    let school = app.ok("get_school", json!({ "id": old.id })).await;
    assert_eq!(school["ownership"], Value::Null);

    // Florida's -999 is null, not a number.
    let missing = raw::schools()
        .iter()
        .find(|r| r.country == "US" && r.enrolment.is_none())
        .expect("missing enrolment");
    let school = app.ok("get_school", json!({ "id": missing.id })).await;
    assert_eq!(school["enrolment"], Value::Null, "{school}");
}

async fn get_school_with_an_unknown_id_says_what_ids_look_like(app: TestApp) {
    let error = app.err("get_school", json!({ "id": "KE-99999999" })).await;
    assert!(
        error.contains("no school has id") && error.contains("KE-1234"),
        "{error}"
    );
}

async fn nearby_schools_are_the_nearest_by_great_circle_distance(app: TestApp) {
    // Central Nairobi, and Orlando.
    for (lat, lon, radius, filter) in [
        (-1.2864, 36.8172, 3.0, json!({})),
        (28.5383, -81.3792, 10.0, json!({ "level": "secondary" })),
    ] {
        let mut args =
            json!({ "latitude": lat, "longitude": lon, "radius_km": radius, "limit": 25 });
        if let Some(level) = filter.get("level") {
            args["level"] = level.clone();
        }
        let page = app.ok("find_schools_near", args).await;
        let mut expected: Vec<(f64, &str)> = raw::schools()
            .iter()
            .filter(|r| filter.get("level").is_none_or(|l| l == r.level))
            .map(|r| (raw::distance_km(lat, lon, r.lat, r.lon), r.id.as_str()))
            .filter(|(d, _)| *d <= radius)
            .collect();
        expected.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        assert_eq!(page["total"], expected.len() as u64, "({lat}, {lon})");
        let got = page["schools"].as_array().expect("schools");
        assert_eq!(got.len(), expected.len().min(25));
        for (school, (distance, id)) in got.iter().zip(&expected) {
            let reported = school["distance_km"].as_f64().expect("distance");
            assert!(
                (reported - distance).abs() < 0.01,
                "{id}: {reported} vs {distance}"
            );
            // Equal distances may swap; the distance sequence must match exactly.
            if school["id"] != *id {
                assert!((reported - distance).abs() < 0.006, "order differs at {id}");
            }
        }
    }
}

async fn nearby_rejects_impossible_coordinates_and_radii(app: TestApp) {
    let error = app
        .err(
            "find_schools_near",
            json!({ "latitude": 91, "longitude": 0 }),
        )
        .await;
    assert!(
        error.contains("latitude must be between -90 and 90"),
        "{error}"
    );
    let error = app
        .err(
            "find_schools_near",
            json!({ "latitude": 0, "longitude": -181 }),
        )
        .await;
    assert!(error.contains("longitude"), "{error}");
    let error = app
        .err(
            "find_schools_near",
            json!({ "latitude": 0, "longitude": 0, "radius_km": 0 }),
        )
        .await;
    assert!(error.contains("radius_km"), "{error}");
    let error = app
        .err(
            "find_schools_near",
            json!({ "latitude": 0, "longitude": 0, "radius_km": 10000 }),
        )
        .await;
    assert!(error.contains("at most 500"), "{error}");
}

async fn florida_statistics_by_county_match_sums_from_the_raw_file(app: TestApp) {
    let result = app
        .ok(
            "school_statistics",
            json!({ "group_by": "county", "country": "US", "limit": 500 }),
        )
        .await;
    // (schools, enrolment, teachers, reporting enrolment, reporting teachers,
    // and for the ratio, by the data's rule, only the schools that report
    // both, more than 0 of each: their enrolment, their teachers, how many).
    let mut expected: BTreeMap<&str, [u64; 8]> = BTreeMap::new();
    for r in raw::schools().iter().filter(|r| r.country == "US") {
        let e = expected.entry(r.county.as_str()).or_default();
        e[0] += 1;
        if let Some(n) = r.enrolment {
            e[1] += n;
            e[3] += 1;
        }
        if let Some(n) = r.teachers {
            e[2] += n;
            e[4] += 1;
        }
        if let (Some(pupils), Some(teachers)) = (r.enrolment, r.teachers)
            && pupils > 0
            && teachers > 0
        {
            e[5] += pupils;
            e[6] += teachers;
            e[7] += 1;
        }
    }
    let groups = result["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), expected.len());
    assert_eq!(result["total_groups"], expected.len() as u64);
    let mut ratios = BTreeMap::new();
    for group in groups {
        let county = group["key"].as_str().expect("key");
        let [
            schools,
            enrolment,
            teachers,
            with_e,
            with_t,
            ratio_e,
            ratio_t,
            in_ratio,
        ] = expected[county];
        assert_eq!(group["schools"], schools, "{county}");
        assert_eq!(group["enrolment"], enrolment, "{county}");
        assert_eq!(group["teachers"], teachers, "{county}");
        assert_eq!(group["schools_reporting_enrolment"], with_e, "{county}");
        assert_eq!(group["schools_reporting_teachers"], with_t, "{county}");
        assert_eq!(group["schools_in_ratio"], in_ratio, "{county}");
        let ratio = (ratio_e as f64 / ratio_t as f64 * 100.0).round() / 100.0;
        assert_eq!(
            group["pupil_teacher_ratio"].as_f64(),
            Some(ratio),
            "{county}"
        );
        if in_ratio < schools {
            let notes = group["notes"].to_string();
            assert!(
                notes.contains(&format!("over the {in_ratio} of {schools} schools")),
                "{county}: {notes}"
            );
        }
        ratios.insert(county.to_owned(), ratio);
    }
    // Hendry: the Digital Academy of Florida reports 6,396 pupils and 0
    // teachers; summing the two figures over different schools gave 37.97.
    assert!(
        (ratios["HENDRY"] - 20.6).abs() < 0.1,
        "Hendry {}",
        ratios["HENDRY"]
    );
    assert!(
        (ratios["MIAMI-DADE"] - 19.0).abs() < 0.1,
        "Miami-Dade {}",
        ratios["MIAMI-DADE"]
    );
    let in_ratio: u64 = expected.values().map(|e| e[7]).sum();
    assert_eq!(result["total"]["schools_in_ratio"], in_ratio);
    assert_eq!(
        in_ratio, 3_755,
        "the data's README: 3,755 schools have a ratio"
    );
    let total_enrolment: u64 = expected.values().map(|e| e[1]).sum();
    assert_eq!(result["total"]["enrolment"], total_enrolment);
    assert!(
        total_enrolment > 2_800_000 && total_enrolment < 2_900_000,
        "about 2.87 million pupils"
    );
    // Groups come largest first.
    let counts: Vec<u64> = groups
        .iter()
        .map(|g| g["schools"].as_u64().expect("n"))
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]));
}

async fn kenya_statistics_count_schools_and_say_why_enrolment_is_missing(app: TestApp) {
    let result = app
        .ok(
            "school_statistics",
            json!({ "group_by": "ownership", "country": "KE" }),
        )
        .await;
    let by_key: BTreeMap<String, &Value> = result["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| (g["key"].as_str().unwrap_or("null").to_owned(), g))
        .collect();
    let count = |o: &str| {
        raw::schools()
            .iter()
            .filter(|r| r.country == "KE" && r.ownership == o)
            .count() as u64
    };
    assert_eq!(by_key["public"]["schools"], count("public"));
    assert_eq!(by_key["private"]["schools"], count("private"));
    assert_eq!(by_key["null"]["schools"], count(""));
    assert_eq!(
        (count("public"), count("private"), count("")),
        (24_604, 4_938, 8_388)
    );
    for group in by_key.values() {
        assert_eq!(group["enrolment"], Value::Null);
        assert_eq!(group["pupil_teacher_ratio"], Value::Null);
        let notes = group["notes"].to_string();
        assert!(
            notes.contains("Kenya") && notes.contains("no enrolment"),
            "{notes}"
        );
    }
}

async fn statistics_by_level_across_countries_count_partial_figures(app: TestApp) {
    let result = app
        .ok("school_statistics", json!({ "group_by": "level" }))
        .await;
    let primary = result["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["key"] == "primary")
        .expect("primary");
    let rows: Vec<&raw::Row> = raw::schools()
        .iter()
        .filter(|r| r.level == "primary")
        .collect();
    assert_eq!(primary["schools"], rows.len() as u64);
    let enrolment: u64 = rows.iter().filter_map(|r| r.enrolment).sum();
    assert_eq!(primary["enrolment"], enrolment);
    let notes = primary["notes"].to_string();
    assert!(
        notes.contains("sum over the"),
        "a partial sum is explained: {notes}"
    );
}

async fn regions_list_every_county_with_its_school_count(app: TestApp) {
    let result = app.ok("list_regions", json!({ "country": "KE" })).await;
    let kenya = &result["countries"][0];
    assert_eq!(kenya["country"], "KE");
    assert_eq!(kenya["schools"], 37_930);
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    for r in raw::schools()
        .iter()
        .filter(|r| r.country == "KE" && !r.county.is_empty())
    {
        *expected.entry(r.county.as_str()).or_default() += 1;
    }
    let counties = kenya["counties"].as_array().expect("counties");
    let named: BTreeMap<&str, u64> = counties
        .iter()
        .filter_map(|c| Some((c["name"].as_str()?, c["schools"].as_u64().expect("n"))))
        .collect();
    assert_eq!(named, expected);
    let westlands: u64 = raw::schools()
        .iter()
        .filter(|r| r.sub_county == "Westlands")
        .count() as u64;
    let nairobi = counties
        .iter()
        .find(|c| c["name"] == "Nairobi")
        .expect("Nairobi");
    let sub = nairobi["sub_counties"]
        .as_array()
        .expect("subs")
        .iter()
        .find(|s| s["name"] == "Westlands")
        .expect("Westlands");
    assert_eq!(sub["schools"], westlands);
    let both = app
        .ok("list_regions", json!({ "include_sub_counties": false }))
        .await;
    assert_eq!(both["countries"].as_array().expect("countries").len(), 2);
    assert!(!both.to_string().contains("sub_counties"));
}

fn attribution(story: &Value) -> String {
    let mut line = format!(
        "\"{}\", text by {}, illustrated by {}",
        story["title"].as_str().expect("title"),
        story["text_by"].as_str().expect("text_by"),
        story["illustration_by"].as_str().expect("illustration_by")
    );
    if let Some(t) = story["translation_by"].as_str().filter(|t| !t.is_empty()) {
        line.push_str(&format!(", translated by {t}"));
    }
    line.push_str(&format!(
        ", African Storybook (africanstorybook.org), licensed {}.",
        story["license"].as_str().expect("license")
    ));
    line
}

async fn story_search_filters_by_language_and_carries_attribution(app: TestApp) {
    let page = app
        .ok(
            "search_content",
            json!({ "language": "Kiswahili", "limit": 50 }),
        )
        .await;
    let swahili = raw::stories()
        .iter()
        .filter(|s| s["language"] == "sw")
        .count() as u64;
    assert_eq!(page["total"], swahili);
    for story in page["stories"].as_array().expect("stories") {
        assert_eq!(story["language"], "sw");
        let id = story["id"].as_str().expect("id");
        let source = raw::stories()
            .iter()
            .find(|s| s["id"] == id)
            .expect("story in the raw file");
        assert_eq!(story["attribution"], attribution(source));
    }
    let page = app
        .ok(
            "search_content",
            json!({ "query": "goat", "language": "en", "limit": 50 }),
        )
        .await;
    assert!(page["total"].as_u64().expect("total") >= 3, "{page}");
    for story in page["stories"].as_array().expect("stories") {
        let id = story["id"].as_str().expect("id");
        let source = raw::stories()
            .iter()
            .find(|s| s["id"] == id)
            .expect("story");
        let text = format!("{} {}", source["title"], source["body"]).to_lowercase();
        assert!(text.contains("goat"), "{id} does not mention goats");
    }
}

async fn get_content_returns_the_full_story_and_its_credits(app: TestApp) {
    let source = raw::stories()
        .iter()
        .find(|s| s["language"] == "en")
        .expect("an English story");
    let id = source["id"].as_str().expect("id");
    let story = app.ok("get_content", json!({ "id": id })).await;
    assert_eq!(story["body"], source["body"]);
    assert_eq!(story["title"], source["title"]);
    assert_eq!(story["attribution"], attribution(source));
    let error = app.err("get_content", json!({ "id": "asp-xx-0000" })).await;
    assert!(error.contains("no story has id"), "{error}");
}

async fn both_stories_that_share_a_published_id_are_served(app: TestApp) {
    let first = app.ok("get_content", json!({ "id": "asp-ha-0001" })).await;
    let second = app
        .ok("get_content", json!({ "id": "asp-ha-0001-2" }))
        .await;
    assert_ne!(first["title"], second["title"]);
    let published: Vec<&Value> = raw::stories()
        .iter()
        .filter(|s| s["id"] == "asp-ha-0001")
        .collect();
    assert_eq!(published.len(), 2);
}

async fn search_sorted_by_a_figure_lists_the_largest_by_the_raw_files(app: TestApp) {
    let florida: Vec<&raw::Row> = raw::schools()
        .iter()
        .filter(|r| r.country == "US")
        .collect();
    for (sort_by, figure) in [
        (
            "enrolment",
            (|r: &raw::Row| r.enrolment.map(|e| e as f64)) as fn(&raw::Row) -> Option<f64>,
        ),
        ("teachers", |r: &raw::Row| r.teachers.map(|t| t as f64)),
        ("pupil_teacher_ratio", |r: &raw::Row| {
            match (r.enrolment, r.teachers) {
                (Some(e), Some(t)) if t > 0 => Some(e as f64 / t as f64),
                _ => None,
            }
        }),
    ] {
        let mut expected: Vec<f64> = florida.iter().filter_map(|r| figure(r)).collect();
        expected.sort_by(|a, b| b.total_cmp(a));
        let page = app
            .ok(
                "search_schools",
                json!({ "country": "US", "sort_by": sort_by, "limit": 20 }),
            )
            .await;
        assert_eq!(
            page["total"],
            florida.len() as u64,
            "every school still counts"
        );
        let by_id: BTreeMap<&str, &raw::Row> =
            florida.iter().map(|r| (r.id.as_str(), *r)).collect();
        let got: Vec<f64> = page["schools"]
            .as_array()
            .expect("schools")
            .iter()
            .map(|s| figure(by_id[s["id"].as_str().expect("id")]).expect("a figure"))
            .collect();
        assert_eq!(
            got,
            expected[..20],
            "{sort_by}: the 20 largest, largest first"
        );
    }
    // Smallest first, within a county and a name query, the schools without a figure last.
    let page = app
        .ok(
            "search_schools",
            json!({ "query": "elementary", "county": "Miami-Dade", "sort_by": "enrolment", "order": "asc", "limit": 100, "offset": 0 }),
        )
        .await;
    let figures: Vec<Option<u64>> = page["schools"]
        .as_array()
        .expect("schools")
        .iter()
        .map(|s| s["enrolment"].as_u64())
        .collect();
    assert!(!figures.is_empty());
    let known: Vec<u64> = figures.iter().map_while(|f| *f).collect();
    assert!(known.windows(2).all(|w| w[0] <= w[1]), "{figures:?}");
    assert!(
        figures[known.len()..].iter().all(Option::is_none),
        "{figures:?}"
    );
    let error = app.err("search_schools", json!({ "sort_by": "age" })).await;
    assert!(error.contains("sort_by must be"), "{error}");
}

async fn story_search_may_match_any_of_a_themes_words(app: TestApp) {
    // Every id a search finds, page by page.
    let ids = |args: serde_json::Value| {
        let app = &app;
        async move {
            let mut out = std::collections::BTreeSet::new();
            for offset in (0..).step_by(50) {
                let mut args = args.clone();
                args["limit"] = json!(50);
                args["offset"] = json!(offset);
                let page = app.ok("search_content", args).await;
                let stories = page["stories"].as_array().expect("stories").clone();
                out.extend(
                    stories
                        .iter()
                        .map(|s| s["id"].as_str().expect("id").to_owned()),
                );
                if stories.len() < 50 {
                    break;
                }
            }
            out
        }
    };
    let goat = ids(json!({ "query": "mbuzi", "language": "sw" })).await;
    let hen = ids(json!({ "query": "kuku", "language": "sw" })).await;
    let any = ids(json!({ "query": "mbuzi kuku", "language": "sw", "any_word": true })).await;
    let all = ids(json!({ "query": "mbuzi kuku", "language": "sw" })).await;
    assert_eq!(
        any,
        goat.union(&hen).cloned().collect(),
        "any word: either's stories"
    );
    assert_eq!(
        all,
        goat.intersection(&hen).cloned().collect(),
        "every word: both's"
    );
    assert!(
        any.len() > all.len() && !all.is_empty(),
        "{} {}",
        any.len(),
        all.len()
    );
    // Every Kiswahili story of the raw file with either word in its text is found.
    let has = |story: &serde_json::Value, word: &str| {
        let text = format!("{} {}", story["title"], story["body"]).to_lowercase();
        text.split(|c: char| !c.is_alphanumeric())
            .any(|w| w == word)
    };
    for story in raw::stories().iter().filter(|s| s["language"] == "sw") {
        if ["mbuzi", "kuku"].iter().any(|w| has(story, w)) {
            assert!(
                any.contains(story["id"].as_str().expect("id")),
                "{}",
                story["id"]
            );
        }
    }
    // A story named after a word comes first.
    let page = app
        .ok(
            "search_content",
            json!({ "query": "mbuzi kuku", "language": "sw", "any_word": true }),
        )
        .await;
    let title = page["stories"][0]["title"]
        .as_str()
        .expect("title")
        .to_lowercase();
    assert!(title.contains("mbuzi") || title.contains("kuku"), "{title}");
}

on_both_backends!(
    search_tolerates_typos_accents_and_filler_words,
    search_totals_match_counts_from_the_raw_files,
    search_pages_through_results_without_overlap,
    unknown_filter_values_are_errors_that_suggest_valid_ones,
    get_school_returns_every_field_with_nulls_not_zeros,
    get_school_with_an_unknown_id_says_what_ids_look_like,
    nearby_schools_are_the_nearest_by_great_circle_distance,
    nearby_rejects_impossible_coordinates_and_radii,
    florida_statistics_by_county_match_sums_from_the_raw_file,
    kenya_statistics_count_schools_and_say_why_enrolment_is_missing,
    statistics_by_level_across_countries_count_partial_figures,
    regions_list_every_county_with_its_school_count,
    story_search_filters_by_language_and_carries_attribution,
    get_content_returns_the_full_story_and_its_credits,
    both_stories_that_share_a_published_id_are_served,
    search_sorted_by_a_figure_lists_the_largest_by_the_raw_files,
    story_search_may_match_any_of_a_themes_words,
);
