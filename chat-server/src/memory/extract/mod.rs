//! Learning after a turn: a job per finished turn (`memory.extract`, on the
//! durable queue) reads the turn back from the store, finds what is worth
//! keeping (by the model when one is configured, else by the `rules`), and
//! saves it as memories of the turn's owner, with the message (and tool
//! result) it came from; statements of role, place, name, language or
//! detail also fill the profile. Running it twice changes nothing more:
//! a memory said again merges with itself.

pub mod model;
pub mod rules;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use self::model::EXTRACTION_PROMPT;
use super::{Extraction, Memories, MemoryError, MemoryInput};
use crate::{
    domain::{Detail, Profile, ProfileRole},
    jobs::{JobError, JobHandler},
    providers::LlmProvider,
    store::{
        ChatStore, MessageRecord, Role, StoreError,
        jobs::Job,
        memories::{MemoryKind, Origin, Retention, Source},
    },
};

/// The kind of the extraction job.
pub const KIND: &str = "memory.extract";

/// One finished turn to learn from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnJob {
    pub owner: String,
    pub session_id: String,
    pub run_id: String,
}

/// A memory found in a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub text: String,
    pub kind: MemoryKind,
    pub retention: Retention,
    pub slot: Option<String>,
    /// The tool call whose result it came from.
    pub tool_call: Option<String>,
}

/// Profile fields a turn stated; unset ones say nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileFields {
    pub display_name: Option<String>,
    pub role: Option<ProfileRole>,
    pub country: Option<String>,
    pub county: Option<String>,
    pub language: Option<String>,
    pub detail: Option<Detail>,
}

impl ProfileFields {
    pub fn is_empty(&self) -> bool {
        *self == ProfileFields::default()
    }
}

/// What a turn taught.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Learnt {
    pub facts: Vec<Fact>,
    pub profile: ProfileFields,
}

impl Learnt {
    /// Adds `other`'s facts; its profile fields win where it states them.
    pub fn merge(&mut self, other: Learnt) {
        self.facts.extend(other.facts);
        let p = other.profile;
        let mine = &mut self.profile;
        mine.display_name = p.display_name.or(mine.display_name.take());
        mine.role = p.role.or(mine.role);
        mine.country = p.country.or(mine.country.take());
        mine.county = p.county.or(mine.county.take());
        mine.language = p.language.or(mine.language.take());
        mine.detail = p.detail.or(mine.detail);
    }
}

/// `profile` with the stated fields, each kept only if it passes the
/// profile's checks on its own (a county the data does not know is left out).
fn filled(profile: &Profile, fields: &ProfileFields, memories: &Memories) -> Profile {
    let known = memories.known();
    let mut out = profile.clone();
    let mut try_field = |change: &dyn Fn(&mut Profile)| {
        let mut candidate = out.clone();
        change(&mut candidate);
        if let Ok(checked) = candidate.checked(known) {
            out = checked;
        }
    };
    if let Some(name) = &fields.display_name {
        try_field(&|p| p.display_name = Some(name.clone()));
    }
    if let Some(role) = fields.role {
        try_field(&|p| p.role = Some(role));
    }
    if let Some(county) = &fields.county {
        try_field(&|p| {
            p.county = Some(county.clone());
            p.country = fields.country.clone();
        });
    }
    if let Some(language) = &fields.language {
        try_field(&|p| p.language = Some(language.clone()));
    }
    if let Some(detail) = fields.detail {
        try_field(&|p| p.detail = Some(detail));
    }
    out
}

/// Runs the extraction jobs.
pub struct Extractor {
    pub memories: Arc<Memories>,
    pub chat: Arc<dyn ChatStore>,
    /// The model that extracts (`None`: the rules do).
    pub model: Option<Arc<dyn LlmProvider>>,
}

fn retry(e: StoreError) -> JobError {
    JobError::Retry(e.to_string())
}

impl Extractor {
    /// The user's message and the answer of run `run_id`, if both were saved.
    async fn turn(
        &self,
        job: &TurnJob,
    ) -> Result<Option<(MessageRecord, MessageRecord)>, JobError> {
        let messages = self.chat.messages(&job.session_id).await.map_err(retry)?;
        let Some(answer) = messages
            .iter()
            .find(|m| m.role == Role::Assistant && m.run_id.as_deref() == Some(&job.run_id))
        else {
            return Ok(None);
        };
        let question = messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User && m.seq < answer.seq);
        Ok(question.map(|q| (q.clone(), answer.clone())))
    }

    async fn learn(
        &self,
        job: &TurnJob,
        question: &MessageRecord,
        answer: &MessageRecord,
    ) -> Result<Learnt, JobError> {
        let known = self.memories.known();
        let rules = || rules::extract(&question.content, known);
        let model = match (self.memories.settings().extraction, &self.model) {
            (Extraction::Off, _) => return Ok(Learnt::default()),
            (Extraction::Auto, Some(model)) => model,
            _ => return Ok(rules()),
        };
        let calls: Vec<_> = self
            .chat
            .tool_calls(&job.session_id)
            .await
            .map_err(retry)?
            .into_iter()
            .filter(|c| c.run_id == job.run_id)
            .collect();
        match model::extract(model.as_ref(), &question.content, &answer.content, &calls).await {
            Ok(Some(learnt)) => Ok(learnt),
            Ok(None) => {
                tracing::info!(run_id = %job.run_id, "the model's extraction was not JSON; the rules extract instead");
                Ok(rules())
            }
            Err(e) => Err(JobError::Retry(format!("the extraction model failed: {e}"))),
        }
    }
}

#[async_trait]
impl JobHandler for Extractor {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let turn: TurnJob = serde_json::from_str(&job.payload)
            .map_err(|e| JobError::Fatal(format!("not an extraction job: {e}")))?;
        let profile = self
            .memories
            .profiles()
            .get(&turn.owner)
            .await
            .map_err(retry)?;
        if !profile.memory_enabled {
            return Ok(());
        }
        let Some((question, answer)) = self.turn(&turn).await? else {
            // The conversation was deleted meanwhile: nothing to learn from.
            return Ok(());
        };
        let learnt = self.learn(&turn, &question, &answer).await?;
        for fact in &learnt.facts {
            let input = MemoryInput {
                text: fact.text.clone(),
                kind: Some(fact.kind),
                retention: Some(fact.retention),
            };
            let source = Source {
                session_id: Some(turn.session_id.clone()),
                message_id: Some(question.id.clone()),
                tool_call_id: fact.tool_call.clone(),
            };
            match self
                .memories
                .add(
                    &turn.owner,
                    &input,
                    Origin::Extracted,
                    source,
                    fact.slot.as_deref(),
                )
                .await
            {
                Ok(_) => {}
                // A fact that cannot be kept (too long, no room) is skipped, not retried.
                Err(MemoryError::Invalid(_) | MemoryError::Full(_) | MemoryError::Off) => {}
                Err(MemoryError::Store(e)) => return Err(retry(e)),
                Err(MemoryError::NotFound(_)) => {}
            }
        }
        if !learnt.profile.is_empty() {
            let updated = filled(&profile, &learnt.profile, &self.memories);
            if updated != profile {
                self.memories
                    .profiles()
                    .save(&turn.owner, &updated)
                    .await
                    .map_err(retry)?;
            }
        }
        Ok(())
    }
}
