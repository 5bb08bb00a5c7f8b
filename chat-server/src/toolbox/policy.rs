//! Which tool calls run at once, which wait for a person's approval, and
//! which never run: `[[tool_policy]]` rules in the config file (globs over
//! `<server>:<tool>`, optionally for one agent), else a default from the MCP
//! tool annotations. The embedded EMIS server's tools only read and are
//! allowed; a tool of an attached server is allowed only when it says it is
//! read-only (`readOnlyHint: true`), and asks otherwise, since annotations
//! are hints a server gives about itself, and a missing hint means "may
//! write" in the MCP specification.

use serde::{Deserialize, Serialize};
use wildmatch::WildMatch;

/// What happens to a call of a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// Runs at once.
    Allow,
    /// Waits for the person's approval.
    Ask,
    /// Never runs; the model is told so.
    Deny,
}

/// What an MCP server says of one of its tools (its `annotations`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ToolHints {
    #[serde(rename = "readOnlyHint", skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(rename = "destructiveHint", skip_serializing_if = "Option::is_none")]
    pub destructive: Option<bool>,
}

impl ToolHints {
    pub fn of(annotations: Option<&rmcp::model::ToolAnnotations>) -> Self {
        ToolHints {
            read_only: annotations.and_then(|a| a.read_only_hint),
            destructive: annotations.and_then(|a| a.destructive_hint),
        }
    }
}

/// One `[[tool_policy]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRule {
    /// A glob over `<server>:<tool>` (`files:delete_*`, `emis:*`, `*`).
    pub tools: String,
    pub approval: Approval,
    /// Only for this agent's calls; for every agent when unset.
    #[serde(default)]
    pub agent: Option<String>,
}

/// Where a tool's approval comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum Reason {
    /// The `[[tool_policy]]` rule at this position (from 1).
    Rule { rule: usize },
    /// The server's annotations (or their absence).
    Default,
}

/// The rules of a deployment.
#[derive(Debug, Clone, Default)]
pub struct ToolPolicy {
    rules: Vec<(WildMatch, ToolRule)>,
}

/// The name of the in-process or remote EMIS server.
pub const EMIS: &str = "emis";

impl ToolPolicy {
    pub fn new(rules: Vec<ToolRule>) -> Self {
        let rules = rules
            .into_iter()
            .map(|rule| (WildMatch::new(&rule.tools), rule))
            .collect();
        ToolPolicy { rules }
    }

    /// The agents the rules name.
    pub fn agents(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().filter_map(|(_, r)| r.agent.as_deref())
    }

    /// What happens to `agent`'s call of `server`'s `tool` (its own name):
    /// the first rule for that agent that matches, else the first rule for
    /// every agent that matches, else the default from `hints`.
    pub fn decide(
        &self,
        agent: &str,
        server: &str,
        tool: &str,
        hints: ToolHints,
    ) -> (Approval, Reason) {
        let qualified = format!("{server}:{tool}");
        let matching = |for_agent: bool| {
            self.rules.iter().enumerate().find(|(_, (glob, rule))| {
                rule.agent.as_deref().is_some_and(|a| a == agent) == for_agent
                    && (for_agent || rule.agent.is_none())
                    && glob.matches(&qualified)
            })
        };
        if let Some((i, (_, rule))) = matching(true).or_else(|| matching(false)) {
            return (rule.approval, Reason::Rule { rule: i + 1 });
        }
        let approval = if server == EMIS || hints.read_only == Some(true) {
            Approval::Allow
        } else {
            Approval::Ask
        };
        (approval, Reason::Default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(tools: &str, approval: Approval, agent: Option<&str>) -> ToolRule {
        ToolRule {
            tools: tools.into(),
            approval,
            agent: agent.map(str::to_owned),
        }
    }

    const READ_ONLY: ToolHints = ToolHints {
        read_only: Some(true),
        destructive: None,
    };
    const WRITES: ToolHints = ToolHints {
        read_only: Some(false),
        destructive: Some(true),
    };

    #[test]
    fn without_rules_the_annotations_decide() {
        let policy = ToolPolicy::default();
        let decide = |server, hints| policy.decide("schools", server, "t", hints).0;
        assert_eq!(decide(EMIS, ToolHints::default()), Approval::Allow);
        assert_eq!(decide("files", READ_ONLY), Approval::Allow);
        assert_eq!(decide("files", WRITES), Approval::Ask);
        assert_eq!(
            decide("files", ToolHints::default()),
            Approval::Ask,
            "no hint on an attached server may write"
        );
    }

    #[test]
    fn the_agents_own_rule_comes_first_then_the_first_global_match() {
        let policy = ToolPolicy::new(vec![
            rule("files:read_*", Approval::Allow, None),
            rule("files:*", Approval::Deny, None),
            rule("files:delete_*", Approval::Ask, Some("admin")),
            rule("emis:*", Approval::Ask, Some("web")),
        ]);
        let decide = |agent, server, tool| policy.decide(agent, server, tool, WRITES);
        assert_eq!(
            decide("schools", "files", "read_file"),
            (Approval::Allow, Reason::Rule { rule: 1 })
        );
        assert_eq!(
            decide("schools", "files", "delete_file"),
            (Approval::Deny, Reason::Rule { rule: 2 })
        );
        assert_eq!(
            decide("admin", "files", "delete_file"),
            (Approval::Ask, Reason::Rule { rule: 3 })
        );
        assert_eq!(
            decide("web", "emis", "search_schools"),
            (Approval::Ask, Reason::Rule { rule: 4 })
        );
        assert_eq!(
            decide("schools", "emis", "search_schools"),
            (Approval::Allow, Reason::Default)
        );
        assert_eq!(
            decide("schools", "mail", "send"),
            (Approval::Ask, Reason::Default)
        );
    }
}
