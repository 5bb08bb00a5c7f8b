//! Prompts a user of this domain reaches for, and argument completion for
//! them and for the resource templates.

use rmcp::{
    ErrorData,
    model::{
        CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams,
        GetPromptResult, Prompt, PromptArgument, PromptMessage, Reference, Role,
    },
};

use super::{EmisServer, resources};
use crate::{
    backend::{GroupBy, SchoolFilter},
    emis::normalize::normalize,
};

/// Most values a completion returns.
const MAX_COMPLETIONS: usize = 20;

pub fn list() -> Vec<Prompt> {
    vec![
        Prompt::new(
            "school_profile",
            Some(
                "A readable profile of one school: where it is, what it offers, and how it compares with its county",
            ),
            Some(vec![
                PromptArgument::new("school_id")
                    .with_description(
                        "School id, e.g. KE-1 or US-120000207976 (completion suggests ids by name)",
                    )
                    .with_required(true),
            ]),
        ),
        Prompt::new(
            "compare_counties",
            Some(
                "Compare two counties' schools: counts by level and ownership, enrolment and pupil-teacher ratio where known",
            ),
            Some(vec![
                PromptArgument::new("county_a")
                    .with_description("First county, e.g. Nairobi or Orange")
                    .with_required(true),
                PromptArgument::new("county_b")
                    .with_description("Second county, e.g. Kisumu or Miami-Dade")
                    .with_required(true),
            ]),
        ),
        Prompt::new(
            "reading_list",
            Some(
                "Pick stories for young readers in a language, optionally on a theme, with their attributions",
            ),
            Some(vec![
                PromptArgument::new("language")
                    .with_description("Language name or code, e.g. Kiswahili or sw")
                    .with_required(true),
                PromptArgument::new("theme")
                    .with_description("Optional theme, e.g. animals, counting, family")
                    .with_required(false),
            ]),
        ),
    ]
}

fn arg(request: &GetPromptRequestParams, name: &str) -> Option<String> {
    request
        .arguments
        .as_ref()
        .and_then(|a| a.get(name))
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn required(request: &GetPromptRequestParams, name: &str) -> Result<String, ErrorData> {
    arg(request, name)
        .ok_or_else(|| ErrorData::invalid_params(format!("argument {name} is required"), None))
}

fn internal(error: impl std::fmt::Display) -> ErrorData {
    tracing::error!(%error, "prompt failed");
    ErrorData::internal_error("the EMIS backend failed to answer", None)
}

pub async fn get(
    server: &EmisServer,
    request: GetPromptRequestParams,
) -> Result<GetPromptResult, ErrorData> {
    let catalog = server.backend().catalog();
    match request.name.as_str() {
        "school_profile" => {
            let id = required(&request, "school_id")?;
            let school = server
                .backend()
                .get_school(&id)
                .await
                .map_err(internal)?
                .ok_or_else(|| {
                    ErrorData::invalid_params(format!("no school has id {id:?}"), None)
                })?;
            let record = serde_json::to_string_pretty(&school).map_err(internal)?;
            let county = school.county.as_deref().unwrap_or("its county");
            Ok(GetPromptResult::new(vec![
                PromptMessage::new_text(
                    Role::User,
                    format!(
                        "Write a short profile of {} for a parent choosing a school. Say where it is, its level and \
                         ownership, and its enrolment and pupil-teacher ratio if known (say plainly when the data has \
                         no figure; never guess). Then use school_statistics for {county} to put it in context. Its \
                         record follows.",
                        school.name
                    ),
                ),
                PromptMessage::new_resource(
                    Role::User,
                    resources::SCHOOL_TEMPLATE.replace("{id}", &school.id),
                    Some("application/json".into()),
                    Some(record),
                    None,
                    None,
                    None,
                ),
            ])
            .with_description(format!("Profile of {}", school.name)))
        }
        "compare_counties" => {
            let a = required(&request, "county_a")?;
            let b = required(&request, "county_b")?;
            let mut sections = Vec::new();
            for county in [&a, &b] {
                let norm = catalog
                    .county(county, None)
                    .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
                let filter = SchoolFilter {
                    county: Some(norm),
                    ..Default::default()
                };
                let by_level = server
                    .backend()
                    .statistics(&filter, GroupBy::Level)
                    .await
                    .map_err(internal)?;
                let by_owner = server
                    .backend()
                    .statistics(&filter, GroupBy::Ownership)
                    .await
                    .map_err(internal)?;
                sections.push(format!(
                    "{county}: by level {}; by ownership {}",
                    serde_json::to_string(&by_level).map_err(internal)?,
                    serde_json::to_string(&by_owner).map_err(internal)?
                ));
            }
            Ok(GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!(
                    "Compare the schools of {a} and {b}: how many there are at each level, how many are public or \
                     private, and enrolment and pupil-teacher ratio where the data has them (Kenya's data has no \
                     enrolment; say so rather than reporting zero). Present a small table, then two or three \
                     observations. Figures from the EMIS data:\n\n{}",
                    sections.join("\n")
                ),
            )])
            .with_description(format!("Compare {a} and {b}")))
        }
        "reading_list" => {
            let language = required(&request, "language")?;
            let code = catalog
                .language(&language)
                .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
            let theme = arg(&request, "theme");
            let about = theme
                .as_deref()
                .map(|t| format!(" about {t}"))
                .unwrap_or_default();
            Ok(GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!(
                    "Suggest five African Storybook stories in {} ({code}){about} for children learning to read. \
                     Use search_content with language \"{code}\"{}. For each, give the title, one sentence on \
                     what happens (from get_content), and its attribution line exactly as given.",
                    crate::emis::languages::language_name(&code),
                    theme.as_deref().map(|t| format!(" and query \"{t}\"")).unwrap_or_default()
                ),
            )])
            .with_description(format!("Reading list in {language}")))
        }
        other => Err(ErrorData::invalid_params(
            format!("unknown prompt {other:?}"),
            None,
        )),
    }
}

pub async fn complete(
    server: &EmisServer,
    request: &CompleteRequestParams,
) -> Result<CompleteResult, ErrorData> {
    let value = request.argument.value.as_str();
    let catalog = server.backend().catalog();
    let values: Vec<String> = match (&request.r#ref, request.argument.name.as_str()) {
        (Reference::Resource(r), "id") if r.uri == resources::SCHOOL_TEMPLATE => server
            .backend()
            .complete_school_ids(value, MAX_COMPLETIONS)
            .await
            .map_err(internal)?,
        (Reference::Resource(r), "id") if r.uri == resources::CONTENT_TEMPLATE => server
            .backend()
            .complete_content_ids(value, MAX_COMPLETIONS)
            .await
            .map_err(internal)?,
        (Reference::Prompt(p), "school_id") if p.name == "school_profile" => server
            .backend()
            .complete_school_ids(value, MAX_COMPLETIONS)
            .await
            .map_err(internal)?,
        (Reference::Prompt(p), "county_a" | "county_b") if p.name == "compare_counties" => {
            let wanted = normalize(value);
            let mut names: Vec<String> = catalog
                .counties()
                .map(|(_, n)| n)
                .filter(|n| normalize(n).starts_with(&wanted))
                .map(str::to_owned)
                .collect();
            names.sort();
            names.dedup();
            names
        }
        (Reference::Prompt(p), "language") if p.name == "reading_list" => {
            let wanted = normalize(value);
            catalog
                .languages
                .iter()
                .filter(|l| normalize(&l.name).starts_with(&wanted) || l.code.starts_with(&wanted))
                .map(|l| l.name.clone())
                .collect()
        }
        _ => Vec::new(),
    };
    let total = values.len();
    let mut info = CompletionInfo::new(values.into_iter().take(MAX_COMPLETIONS).collect())
        .map_err(|e| ErrorData::internal_error(e, None))?;
    info.has_more = Some(total > MAX_COMPLETIONS);
    info.total = u32::try_from(total).ok();
    Ok(CompleteResult::new(info))
}
