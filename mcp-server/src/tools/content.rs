//! Learning-content tools over the African Storybook stories.

use rmcp::{
    Json,
    handler::server::wrapper::Parameters,
    schemars::{self, JsonSchema},
    tool, tool_router,
};
use serde::Deserialize;

use super::{EmisServer, args};
use crate::{
    backend::{ContentSearch, StoryPage},
    emis::Story,
};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchContentArgs {
    /// Words to look for in story titles and text, e.g. "goat", "rain", "counting". Omit to list stories.
    pub query: Option<String>,
    /// Story language as a code or name, e.g. "en", "English", "sw", "Kiswahili", "Luganda".
    pub language: Option<String>,
    /// true: a story may match any of the words (e.g. a theme's: "goat cow hen"),
    /// those matching more first; false (the default): every word.
    pub any_word: Option<bool>,
    /// How many stories to return: 1 to 50, default 10.
    pub limit: Option<i64>,
    /// How many matching stories to skip (for paging), default 0.
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetContentArgs {
    /// Story id as returned by search_content, e.g. "asp-en-0001".
    pub id: String,
}

#[tool_router(router = content_router, vis = "pub(super)")]
impl EmisServer {
    #[tool(
        description = "Search African Storybook children's stories (openly licensed, 82 African and world languages) by words in the title or text and by language. Each result carries the attribution that must be shown with the story.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    pub async fn search_content(
        &self,
        Parameters(a): Parameters<SearchContentArgs>,
    ) -> Result<Json<StoryPage>, String> {
        let language = match args::text("language", a.language.as_deref())? {
            Some(l) => Some(
                self.backend()
                    .catalog()
                    .language(&l)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let search = ContentSearch {
            query: args::text("query", a.query.as_deref())?,
            any_word: a.any_word.unwrap_or(false),
            language,
            limit: args::limit(a.limit, 10, 50)?,
            offset: args::offset(a.offset)?,
        };
        self.backend()
            .search_content(&search)
            .await
            .map(Json)
            .map_err(Self::backend_error)
    }

    #[tool(
        description = "The full text of one story with its authors, licence and the attribution line to show with it.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    pub async fn get_content(
        &self,
        Parameters(a): Parameters<GetContentArgs>,
    ) -> Result<Json<Story>, String> {
        let id = args::text("id", Some(&a.id))?.ok_or("id must not be empty")?;
        match self
            .backend()
            .get_content(&id)
            .await
            .map_err(Self::backend_error)?
        {
            Some(story) => Ok(Json(story)),
            None => Err(format!(
                "no story has id {id:?}; ids look like \"asp-en-0001\" (search_content finds them)"
            )),
        }
    }
}
