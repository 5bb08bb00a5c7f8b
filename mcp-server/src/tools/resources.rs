//! Resources: `school://{id}` and `content://{id}` templates, plus two static
//! resources describing the data (`emis://about`, `emis://regions`).

use rmcp::{
    ErrorData,
    model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate},
};
use serde_json::json;

use super::EmisServer;

pub const SCHOOL_TEMPLATE: &str = "school://{id}";
pub const CONTENT_TEMPLATE: &str = "content://{id}";

pub fn static_resources() -> Vec<Resource> {
    vec![
        Resource::new("emis://about", "About the EMIS data")
            .with_description(
                "Where the school and story data comes from, what it covers, and its licences",
            )
            .with_mime_type("text/markdown"),
        Resource::new("emis://regions", "Regions")
            .with_description("Countries, counties and sub-counties with school counts")
            .with_mime_type("application/json"),
    ]
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(SCHOOL_TEMPLATE, "School")
            .with_description(
                "Every field of one school, e.g. school://KE-1 or school://US-120000207976",
            )
            .with_mime_type("application/json"),
        ResourceTemplate::new(CONTENT_TEMPLATE, "Story")
            .with_description(
                "One African Storybook story with its attribution, e.g. content://asp-en-0001",
            )
            .with_mime_type("text/markdown"),
    ]
}

fn not_found(uri: &str, what: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("{what} not found: {uri}"),
        Some(json!({ "uri": uri })),
    )
}

fn text(uri: &str, mime: &str, body: String) -> ReadResourceResult {
    ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
        uri: uri.to_owned(),
        mime_type: Some(mime.to_owned()),
        text: body,
        meta: None,
    }])
}

fn internal(error: impl std::fmt::Display) -> ErrorData {
    tracing::error!(%error, "resource read failed");
    ErrorData::internal_error("the EMIS backend failed to answer", None)
}

pub async fn read(server: &EmisServer, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    if let Some(id) = uri.strip_prefix("school://") {
        let school = server
            .backend()
            .get_school(id)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found(uri, "school"))?;
        let body = serde_json::to_string_pretty(&school).map_err(internal)?;
        return Ok(text(uri, "application/json", body));
    }
    if let Some(id) = uri.strip_prefix("content://") {
        let story = server
            .backend()
            .get_content(id)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found(uri, "story"))?;
        let body = format!(
            "# {}\n\n*{} · {} pages · {} words*\n\n{}\n\n---\n{}\n",
            story.title,
            story.language_name,
            story.pages,
            story.words,
            story.body,
            story.attribution
        );
        return Ok(text(uri, "text/markdown", body));
    }
    match uri {
        "emis://about" => Ok(text(uri, "text/markdown", about(server))),
        "emis://regions" => {
            let body = serde_json::to_string_pretty(&server.backend().catalog().regions)
                .map_err(internal)?;
            Ok(text(uri, "application/json", body))
        }
        _ => Err(not_found(uri, "resource")),
    }
}

fn about(server: &EmisServer) -> String {
    let catalog = server.backend().catalog();
    format!(
        "# MAS EMIS data\n\n\
         Backend: {backend}. {schools} schools, {stories} stories in {languages} languages.\n\n\
         - **Kenya schools** (37,930; CC0): Ministry of Education, Kenya (2016) and Open Data Kenya (2007), via the \
         World Bank Data Catalog. Locations, level and ownership; no enrolment or teacher counts. The 2007 rows have \
         no ownership, district, zone or sub-county.\n\
         - **Florida public schools** (4,337; public domain): HIFLD Public Schools (DHS/CISA), derived from the NCES \
         Common Core of Data (2024-01-31). Enrolment and full-time-equivalent teachers where reported.\n\
         - **African Storybook** (1,747 stories; CC BY): africanstorybook.org. Show each story's attribution line \
         with its text.\n",
        backend = server.backend().kind(),
        schools = catalog.school_count,
        stories = catalog.story_count,
        languages = catalog.languages.len(),
    )
}
