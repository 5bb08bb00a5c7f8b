//! Agent definitions: name, description, provider and model, system prompt,
//! the MCP tools it may use (by glob), and the agents it may hand off to.
//! Loaded from the `[[agents]]` tables of the config file, or the built-in set.

use serde::Deserialize;
use wildmatch::WildMatch;

use crate::domain::ToolSpec;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AgentDef {
    /// Short id, e.g. `schools`.
    pub name: String,
    /// What the UI shows: "Schools specialist".
    pub title: String,
    /// When to hand off to it (shown to the other agents).
    pub description: String,
    /// Provider name (`gemini`, `openai`, `anthropic`, `offline`); the default provider when unset.
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    pub system_prompt: String,
    /// Tool-name globs (`search_*`, `*`); no tools when empty.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Agents it may hand off to.
    #[serde(default)]
    pub handoffs: Vec<String>,
    /// Only present when this tool exists (e.g. the web researcher needs `web_search`).
    #[serde(default)]
    pub requires_tool: Option<String>,
}

impl AgentDef {
    /// The tools this agent may call, out of those available.
    pub fn allowed<'a>(&self, tools: &'a [ToolSpec]) -> Vec<&'a ToolSpec> {
        let globs: Vec<WildMatch> = self.tools.iter().map(|g| WildMatch::new(g)).collect();
        tools
            .iter()
            .filter(|t| globs.iter().any(|g| g.matches(&t.name)))
            .collect()
    }
}

/// The agents of a deployment, the first being the entry point.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSet {
    agents: Vec<AgentDef>,
}

const SHARED_RULES: &str = "Use the tools for every figure; never invent numbers, names or ids. When the data has \
no figure (Kenya publishes no enrolment or teacher counts), say so instead of giving 0. Answer in the user's \
language, briefly, with Markdown tables for lists.";

impl AgentSet {
    /// The built-in set: a coordinator that routes, a schools specialist, a
    /// learning-content specialist, and a web researcher when web search exists.
    pub fn builtin() -> Self {
        let agent = |name: &str,
                     title: &str,
                     description: &str,
                     prompt: &str,
                     tools: &[&str],
                     handoffs: &[&str]| AgentDef {
            name: name.into(),
            title: title.into(),
            description: description.into(),
            provider: None,
            model: None,
            system_prompt: format!("{prompt} {SHARED_RULES}"),
            tools: tools.iter().map(|s| (*s).into()).collect(),
            handoffs: handoffs.iter().map(|s| (*s).into()).collect(),
            requires_tool: None,
        };
        let mut web = agent(
            "web",
            "Web researcher",
            "Current events, policies and anything outside the school and story data, from the web.",
            "You research questions on the web with web_search and cite the pages you used.",
            &["web_search"],
            &["coordinator"],
        );
        web.requires_tool = Some("web_search".into());
        AgentSet {
            agents: vec![
                agent(
                    "coordinator",
                    "Coordinator",
                    "Routes each question to the right specialist.",
                    "You are the coordinator of an education data assistant. Hand the question to the specialist \
                     that fits: schools (school search, details, statistics, nearby schools, regions), content \
                     (children's stories), web (news and anything else). Answer yourself only greetings or questions \
                     about what you can do.",
                    &[],
                    &["schools", "content", "web"],
                ),
                agent(
                    "schools",
                    "Schools specialist",
                    "Schools in Kenya and Florida: search, details, statistics, nearby schools, regions.",
                    "You are the schools specialist. You know the EMIS data for Kenya (37,930 schools) and Florida \
                     (4,337 public schools).",
                    &["*school*", "list_regions"],
                    &["coordinator", "content"],
                ),
                agent(
                    "content",
                    "Learning-content specialist",
                    "African Storybook children's stories in 82 languages.",
                    "You are the learning-content specialist. You find African Storybook stories and always show each \
                     story's attribution line with it.",
                    &["*content*"],
                    &["coordinator", "schools"],
                ),
                web,
            ],
        }
    }

    /// A set from configuration; the first agent is the entry point.
    pub fn new(agents: Vec<AgentDef>) -> Result<Self, String> {
        if agents.is_empty() {
            return Err("at least one agent must be defined".into());
        }
        for a in &agents {
            for h in &a.handoffs {
                if !agents.iter().any(|b| &b.name == h) {
                    return Err(format!(
                        "agent {:?} hands off to unknown agent {h:?}",
                        a.name
                    ));
                }
            }
        }
        Ok(AgentSet { agents })
    }

    /// Drops agents whose required tool is missing, and handoffs to them.
    pub fn available(mut self, tools: &[ToolSpec]) -> Self {
        let present = |t: &str| {
            tools
                .iter()
                .any(|s| s.name == t || s.name.ends_with(&format!("__{t}")))
        };
        self.agents
            .retain(|a| a.requires_tool.as_deref().is_none_or(present));
        let names: Vec<String> = self.agents.iter().map(|a| a.name.clone()).collect();
        for a in &mut self.agents {
            a.handoffs.retain(|h| names.contains(h));
        }
        self
    }

    pub fn entry(&self) -> &AgentDef {
        &self.agents[0]
    }

    pub fn get(&self, name: &str) -> Option<&AgentDef> {
        self.agents.iter().find(|a| a.name == name)
    }

    pub fn all(&self) -> &[AgentDef] {
        &self.agents
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters: json!({ "type": "object" }),
        }
    }

    #[test]
    fn the_web_researcher_exists_only_with_web_search() {
        let without = AgentSet::builtin().available(&[tool("search_schools")]);
        assert!(without.get("web").is_none());
        assert!(!without.entry().handoffs.contains(&"web".to_owned()));
        let with = AgentSet::builtin().available(&[tool("web_search")]);
        assert!(with.get("web").is_some());
    }

    #[test]
    fn tool_globs_pick_each_specialists_tools() {
        let tools: Vec<ToolSpec> = [
            "search_schools",
            "get_school",
            "school_statistics",
            "find_schools_near",
            "list_regions",
            "search_content",
            "get_content",
            "web_search",
        ]
        .iter()
        .map(|n| tool(n))
        .collect();
        let set = AgentSet::builtin();
        let names = |agent: &str| -> Vec<String> {
            set.get(agent)
                .expect("agent")
                .allowed(&tools)
                .iter()
                .map(|t| t.name.clone())
                .collect()
        };
        assert_eq!(
            names("schools"),
            vec![
                "search_schools",
                "get_school",
                "school_statistics",
                "find_schools_near",
                "list_regions"
            ]
        );
        assert_eq!(names("content"), vec!["search_content", "get_content"]);
        assert!(names("coordinator").is_empty());
    }

    #[test]
    fn a_handoff_to_an_unknown_agent_is_refused() {
        let mut a = AgentSet::builtin().all()[1].clone();
        a.handoffs = vec!["nobody".into()];
        assert!(AgentSet::new(vec![a]).is_err());
    }
}
