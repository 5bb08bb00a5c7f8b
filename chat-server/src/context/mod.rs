//! The conversation a model reads, within its token budget. Every run's
//! history passes through here (the web UI, `/chat/stream`, `/api/chat`,
//! `/v1`, `ask`): the most recent turns go verbatim *with* their tool calls
//! and results (results shortened, JSON kept as compact JSON), the question
//! being answered always whole; older turns are replaced by a summary of
//! the session (the questions asked and the key figures answered) that the
//! runner puts into the system prompt. When a provider still finds the
//! prompt too long, `compact` halves it and the step is asked again.

pub mod window;

use crate::domain::{Message, ToolResult};
use window::{Counter, MESSAGE_OVERHEAD};

/// How the context is kept (`CONTEXT_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct ContextSettings {
    /// `CONTEXT_TOKEN_BUDGET`: the conversation's tokens at most, in place of
    /// the model's window less room for the answer and the system prompt.
    pub budget: Option<i64>,
    /// `CONTEXT_TOOL_RESULT_CHARS`: characters of an earlier turn's tool
    /// result kept.
    pub tool_result_chars: usize,
    /// `CONTEXT_SUMMARY_TURNS`: turns past a session's stored summary after
    /// which a job summarises the older half of them (0: never).
    pub summary_turns: usize,
}

impl Default for ContextSettings {
    fn default() -> Self {
        ContextSettings {
            budget: None,
            tool_result_chars: 2_000,
            summary_turns: 40,
        }
    }
}

/// The part of the budget the summary of older turns may take.
const SUMMARY_SHARE: i64 = 4;

/// Characters of a question or an answer kept in a summary line.
const LINE_CHARS: usize = 240;

/// What the model reads of the conversation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context {
    /// The turns kept, ending with the question.
    pub messages: Vec<Message>,
    /// The older turns, summarised (for the system prompt).
    pub summary: Option<String>,
    /// Tokens of `messages` and `summary` at most: their exact count when
    /// the budget is close, else (all of the conversation fits) the bytes
    /// they have, which no count exceeds.
    pub tokens: i64,
    /// Earlier turns left out of `messages`.
    pub summarised: usize,
}

/// A turn: the user's message and what followed it.
struct Turn<'a> {
    messages: &'a [Message],
}

impl Turn<'_> {
    fn question(&self) -> &str {
        match self.messages.first() {
            Some(Message::User { text }) => text,
            _ => "",
        }
    }

    /// The answer's text (its last step's).
    fn answer(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find_map(|m| match m {
                Message::Assistant { text, .. } if !text.trim().is_empty() => Some(text.as_str()),
                _ => None,
            })
            .unwrap_or("")
    }
}

/// `conversation` split where the user speaks (anything before the first
/// user message counts as a turn of its own).
fn turns(conversation: &[Message]) -> Vec<Turn<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, m) in conversation.iter().enumerate() {
        if i > start && matches!(m, Message::User { .. }) {
            out.push(Turn {
                messages: &conversation[start..i],
            });
            start = i;
        }
    }
    if start < conversation.len() {
        out.push(Turn {
            messages: &conversation[start..],
        });
    }
    out
}

/// The tokens of one message.
pub fn message_tokens(counter: Counter, message: &Message) -> i64 {
    measured(message, |text| counter.tokens(text))
}

/// The tokens of one message at most, by its bytes (nothing encoded).
fn message_bytes(counter: Counter, message: &Message) -> i64 {
    measured(message, |text| counter.at_most(text))
}

/// `message` measured text by text, with what each message costs beyond.
fn measured(message: &Message, measure: impl Fn(&str) -> i64) -> i64 {
    MESSAGE_OVERHEAD
        + match message {
            Message::User { text } => measure(text),
            Message::Assistant { text, tool_calls } => {
                measure(text)
                    + tool_calls
                        .iter()
                        .map(|c| measure(&c.name) + measure(&c.arguments.to_string()))
                        .sum::<i64>()
            }
            Message::Tool { results } => results
                .iter()
                .map(|r| measure(&r.name) + measure(&r.content))
                .sum(),
        }
}

/// An earlier turn's tool output as kept: JSON as compact JSON, then cut
/// to `max` characters.
fn shorten(result: &ToolResult, max: usize) -> ToolResult {
    // Only what may be laid out over lines is parsed again (once a turn per kept result).
    let spread = result.content.len() > max || result.content.contains('\n');
    let compact = spread
        .then(|| serde_json::from_str::<serde_json::Value>(&result.content).ok())
        .flatten()
        .filter(|v| v.is_object() || v.is_array())
        .map(|v| v.to_string());
    let content = compact.as_deref().unwrap_or(&result.content);
    ToolResult {
        call_id: result.call_id.clone(),
        name: result.name.clone(),
        content: truncate(content, max),
        is_error: result.is_error,
    }
}

/// Cuts `text` to `max` characters, saying how much was left out.
pub fn truncate(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max).collect();
    format!(
        "{kept}\n[output truncated: {} of {total} characters shown]",
        max
    )
}

/// `text` on one line, at most `max` characters.
fn clip(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max).collect();
    cut.push('…');
    cut
}

/// What an answer said in brief: its first sentence and the next ones that
/// carry a figure, within `LINE_CHARS`.
fn gist(answer: &str) -> String {
    let sentences: Vec<&str> = answer
        .split_inclusive(['.', '!', '?', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with('|') && !s.starts_with("---"))
        .collect();
    let mut out = String::new();
    for (i, s) in sentences.iter().enumerate() {
        if i > 0 && !s.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        if !out.is_empty() && out.chars().count() + s.chars().count() > LINE_CHARS {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(s);
    }
    clip(&out, LINE_CHARS)
}

/// A turn's line in the summary.
fn summary_line(turn: &Turn<'_>) -> String {
    let answer = gist(turn.answer());
    let question = clip(turn.question(), LINE_CHARS);
    if answer.is_empty() {
        format!("- Asked: {question}")
    } else {
        format!("- Asked: {question} Answered: {answer}")
    }
}

/// Of `n` lines (`line(i)` makes the `i`th), the first and the last taken
/// alternately while they fit in `room` tokens, so both ends are kept: the
/// kept lines in order, with `gap(left out)` where the others were (its
/// room kept for it while lines are left), and their tokens (one more for
/// each line's break).
fn both_ends(
    counter: Counter,
    n: usize,
    line: impl Fn(usize) -> String,
    room: i64,
    gap: impl Fn(usize) -> String,
) -> (Vec<String>, i64) {
    // The gap line saying the most left out costs the most.
    let gap_cost = counter.tokens(&gap(n)) + 1;
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    let (mut from, mut to) = (0, n);
    let mut left = room;
    while from < to {
        let take_head = head.len() <= tail.len();
        let text = line(if take_head { from } else { to - 1 });
        let cost = counter.tokens(&text) + 1;
        let last = from + 1 == to;
        if cost + if last { 0 } else { gap_cost } > left {
            break;
        }
        left -= cost;
        if take_head {
            head.push(text);
            from += 1;
        } else {
            tail.push(text);
            to -= 1;
        }
    }
    if from < to {
        let text = gap(to - from);
        left -= counter.tokens(&text) + 1;
        head.push(text);
    }
    tail.reverse();
    head.extend(tail);
    (head, room - left)
}

/// The summary of `older` within `room` tokens and its tokens: the
/// earliest turns (where the user says who they are and what they are
/// after) and the latest, the middle left out when it does not fit.
/// `earlier` is a summary made before (stored by the summary job, or by an
/// earlier compaction), kept first within half of the room.
fn summarise(
    counter: Counter,
    earlier: Option<&str>,
    older: &[Turn<'_>],
    room: i64,
) -> Option<(String, i64)> {
    if older.is_empty() {
        return earlier.map(|e| within(counter, e, room));
    }
    let mut lines = Vec::new();
    let mut tokens = 0;
    if let Some(earlier) = earlier {
        let (kept, cost) = within(counter, earlier, room / 2);
        tokens += cost + 1;
        lines.push(kept);
    }
    let (turns, cost) = both_ends(
        counter,
        older.len(),
        |i| summary_line(&older[i]),
        room - tokens,
        |n| format!("- ({n} more turns in between)"),
    );
    lines.extend(turns);
    Some((lines.join("\n"), tokens + cost))
}

/// The extractive summary of `conversation`'s turns after `earlier` (a
/// line each: the question, and the first sentence and figures of the
/// answer), within `room` tokens.
pub fn summary_of(
    conversation: &[Message],
    earlier: Option<&str>,
    counter: Counter,
    room: i64,
) -> Option<String> {
    summarise(counter, earlier, &turns(conversation), room).map(|(text, _)| text)
}

/// `text` within `room` tokens, and its tokens: all of it, or its first
/// and last lines and a mark where lines are left out.
fn within(counter: Counter, text: &str, room: i64) -> (String, i64) {
    let tokens = counter.tokens(text);
    if tokens <= room {
        return (text.to_owned(), tokens);
    }
    let lines: Vec<&str> = text.lines().collect();
    let (kept, tokens) = both_ends(
        counter,
        lines.len(),
        |i| lines[i].to_owned(),
        room,
        |_| "- (more of the earlier summary left out)".to_owned(),
    );
    (kept.join("\n"), tokens)
}

/// The context of `conversation` (ending with the user's message) within
/// `budget` tokens: the last turn whole, then the turns before it newest
/// first while they fit in what the summary leaves; the rest summarised.
pub fn build(
    conversation: &[Message],
    earlier: Option<&str>,
    counter: Counter,
    budget: i64,
    settings: &ContextSettings,
) -> Context {
    let turns = turns(conversation);
    let Some((last, before)) = turns.split_last() else {
        return Context::default();
    };
    let room = budget - budget / SUMMARY_SHARE;
    let mut kept: Vec<Vec<Message>> = Vec::new();
    // Measured by its bytes first (a token is a byte at least): what fits
    // so fits whole, and nothing needs encoding, the usual case for a large
    // window. Only what does not is counted token by token.
    let bytes = |m: &Message| message_bytes(counter, m);
    let (n, left) = keep(last, before, &mut kept, room, bytes, settings);
    let earlier_bytes = earlier.map_or(0, |e| counter.at_most(e));
    let (summary, summary_tokens, left) =
        if n == before.len() && earlier_bytes <= budget - room + left {
            (earlier.map(str::to_owned), earlier_bytes, left)
        } else {
            let tokens = |m: &Message| message_tokens(counter, m);
            let (n, left) = keep(last, before, &mut kept, room, tokens, settings);
            kept.truncate(n);
            // What `kept` did not use is the summary's too.
            let summary = summarise(
                counter,
                earlier,
                &before[..before.len() - n],
                budget - room + left.max(0),
            );
            let summary_tokens = summary.as_ref().map_or(0, |(_, tokens)| *tokens);
            (summary.map(|(text, _)| text), summary_tokens, left)
        };
    Context {
        summarised: before.len() - kept.len(),
        messages: kept
            .into_iter()
            .rev()
            .flatten()
            .chain(last.messages.iter().cloned())
            .collect(),
        summary,
        tokens: room - left + summary_tokens,
    }
}

/// How many of the turns `before` the last one fit, newest first, in what
/// the last one leaves of `room` as `cost` measures them, and what they
/// leave. `kept` holds the turns as kept (shortened), newest first: those
/// already there are reused and more are added as they are needed.
fn keep(
    last: &Turn<'_>,
    before: &[Turn<'_>],
    kept: &mut Vec<Vec<Message>>,
    room: i64,
    cost: impl Fn(&Message) -> i64,
    settings: &ContextSettings,
) -> (usize, i64) {
    let mut left = room - last.messages.iter().map(&cost).sum::<i64>();
    for (i, turn) in before.iter().rev().enumerate() {
        if i == kept.len() {
            kept.push(shortened(turn, settings.tool_result_chars));
        }
        let turn_cost: i64 = kept[i].iter().map(&cost).sum();
        if turn_cost > left {
            return (i, left);
        }
        left -= turn_cost;
    }
    (before.len(), left)
}

/// A turn as an earlier one is kept: its tool results shortened.
fn shortened(turn: &Turn<'_>, max: usize) -> Vec<Message> {
    turn.messages
        .iter()
        .map(|m| match m {
            Message::Tool { results } => Message::Tool {
                results: results.iter().map(|r| shorten(r, max)).collect(),
            },
            other => other.clone(),
        })
        .collect()
}

/// A smaller context for a prompt the provider found too long: `messages`
/// (whose tokens were `tokens`) within half of them.
pub fn compact(
    messages: &[Message],
    earlier: Option<&str>,
    counter: Counter,
    tokens: i64,
    settings: &ContextSettings,
) -> Context {
    build(messages, earlier, counter, tokens / 2, settings)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::ToolCall;

    fn user(text: &str) -> Message {
        Message::User { text: text.into() }
    }

    fn answer(text: &str) -> Message {
        Message::Assistant {
            text: text.into(),
            tool_calls: Vec::new(),
        }
    }

    fn tool_turn(question: &str, result: &str, reply: &str) -> Vec<Message> {
        vec![
            user(question),
            Message::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "search_schools".into(),
                    arguments: json!({"county": "Kisumu"}),
                    signature: None,
                }],
            },
            Message::Tool {
                results: vec![ToolResult {
                    call_id: "c1".into(),
                    name: "search_schools".into(),
                    content: result.into(),
                    is_error: false,
                }],
            },
            answer(reply),
        ]
    }

    fn total(counter: Counter, context: &Context) -> i64 {
        context
            .messages
            .iter()
            .map(|m| message_tokens(counter, m))
            .sum::<i64>()
            + context.summary.as_deref().map_or(0, |s| counter.tokens(s))
    }

    #[test]
    fn a_short_conversation_is_kept_whole_with_its_tool_results_compacted() {
        let mut conversation = tool_turn(
            "Schools in Kisumu?",
            "{\n  \"schools\": [ {\"name\": \"Kanyawanga\"} ]\n}",
            "There is 1 school.",
        );
        conversation.push(user("Which of those has the most pupils?"));
        let context = build(
            &conversation,
            None,
            Counter::O200k,
            10_000,
            &ContextSettings::default(),
        );
        assert_eq!(context.messages.len(), 5);
        assert_eq!(context.summary, None);
        assert_eq!(context.summarised, 0);
        let Message::Tool { results } = &context.messages[2] else {
            panic!("the tool result is kept")
        };
        assert_eq!(results[0].content, r#"{"schools":[{"name":"Kanyawanga"}]}"#);
        // Fits by its bytes: counted as them, which no count exceeds.
        let bytes: i64 = context
            .messages
            .iter()
            .map(|m| message_bytes(Counter::O200k, m))
            .sum();
        assert_eq!(context.tokens, bytes);
        assert!(total(Counter::O200k, &context) < bytes);
    }

    #[test]
    fn a_long_conversation_keeps_the_newest_turns_and_summarises_the_first() {
        let mut conversation = vec![
            user("I am a teacher in Baringo."),
            answer("Noted: Baringo has 1,021 schools."),
        ];
        for i in 0..300 {
            conversation.extend(tool_turn(
                &format!("Question number {i} about schools?"),
                &"x".repeat(5_000),
                &format!("Answer {i}: there are {} schools.", i * 7),
            ));
        }
        let question = "What about the latest one? ".repeat(20);
        conversation.push(user(&question));
        let settings = ContextSettings::default();
        let context = build(&conversation, None, Counter::O200k, 4_000, &settings);
        assert!(context.tokens <= 4_000, "{} tokens", context.tokens);
        // Counted: the summary's lines one by one, a token at most more for each break.
        let exact = total(Counter::O200k, &context);
        let lines = context
            .summary
            .as_deref()
            .map_or(0, |s| s.lines().count() as i64);
        assert!(
            exact <= context.tokens && context.tokens <= exact + lines,
            "{exact} counted in all, {} by parts",
            context.tokens
        );
        assert_eq!(
            context.messages.last(),
            Some(&user(&question)),
            "the question is whole"
        );
        let summary = context.summary.as_deref().unwrap_or_default();
        assert!(summary.contains("I am a teacher in Baringo."), "{summary}");
        assert!(summary.contains("Baringo has 1,021 schools"), "{summary}");
        assert!(summary.contains("more turns in between"), "{summary}");
        // The newest earlier turn is there verbatim, its result cut.
        let Some(Message::Tool { results }) = context.messages.iter().rev().nth(2) else {
            panic!("the last turn's tool result")
        };
        assert!(results[0].content.len() < 2_100);
        assert!(
            context
                .messages
                .contains(&answer("Answer 299: there are 2093 schools."))
        );
        assert!(context.summarised > 250);
    }

    #[test]
    fn compaction_halves_the_prompt_and_keeps_the_earlier_summary() {
        let mut conversation = Vec::new();
        for i in 0..40 {
            conversation.push(user(&format!("Question {i} about Nakuru schools")));
            conversation.push(answer(&format!(
                "Nakuru has {} schools of kind {i}.",
                100 + i
            )));
        }
        conversation.push(user("And now?"));
        let tokens: i64 = conversation
            .iter()
            .map(|m| message_tokens(Counter::O200k, m))
            .sum();
        let context = compact(
            &conversation,
            Some("- Asked: who am I"),
            Counter::O200k,
            tokens,
            &ContextSettings::default(),
        );
        assert!(context.tokens <= tokens / 2);
        assert!(
            context
                .summary
                .as_deref()
                .is_some_and(|s| s.starts_with("- Asked: who am I"))
        );
        assert_eq!(context.messages.last(), Some(&user("And now?")));
    }

    #[test]
    fn a_stored_summary_larger_than_the_room_is_cut_to_fit_keeping_both_ends() {
        let counter = Counter::O200k;
        let earlier: String = (1..=400)
            .map(|i| format!("- Asked: question number {i} about Lamu. Answered: {i} schools."))
            .collect::<Vec<_>>()
            .join("\n");
        let mut conversation = Vec::new();
        for i in 0..10 {
            conversation.push(user(&format!("later question {i}")));
            conversation.push(answer(&format!(
                "later answer {i}: {}",
                "and more words ".repeat(60)
            )));
        }
        conversation.push(user("the question now"));
        let budget = 2_000;
        let built = build(
            &conversation,
            Some(&earlier),
            counter,
            budget,
            &ContextSettings::default(),
        );
        assert!(built.tokens <= budget, "{} > {budget}", built.tokens);
        assert!(total(counter, &built) <= budget);
        assert!(built.summarised > 0, "some later turns are summarised too");
        let summary = built.summary.expect("a summary");
        assert!(
            summary.contains("question number 1 about") && summary.contains("question number 400"),
            "{summary}"
        );
        assert!(summary.contains("left out"), "{summary}");
    }

    #[test]
    fn a_conversation_too_long_by_its_bytes_but_not_its_tokens_is_kept_whole() {
        let counter = Counter::O200k;
        // Real rows: about three bytes a token.
        let csv = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../mcp-server/data/kenya_schools.csv"
        ))
        .expect("the data set");
        let rows: Vec<&str> = csv.lines().skip(1).take(60).collect();
        let mut conversation = Vec::new();
        for pair in rows.chunks(2) {
            conversation.push(user(pair[0]));
            conversation.push(answer(pair.get(1).copied().unwrap_or("")));
        }
        conversation.push(user("Which of them is in Kisumu?"));
        let tokens: i64 = conversation
            .iter()
            .map(|m| message_tokens(counter, m))
            .sum();
        let bytes: i64 = conversation.iter().map(|m| message_bytes(counter, m)).sum();
        assert!(bytes > 2 * tokens, "{bytes} bytes, {tokens} tokens");
        // Room for the turns (three quarters of the budget) between the two.
        let budget = (bytes + tokens) * 2 / 3;
        let context = build(
            &conversation,
            None,
            counter,
            budget,
            &ContextSettings::default(),
        );
        assert_eq!(context.summarised, 0);
        assert_eq!(context.messages, conversation);
        assert_eq!(context.tokens, tokens);
        // A budget the tokens do not fit in either: the older turns summarised.
        let context = build(
            &conversation,
            None,
            counter,
            tokens,
            &ContextSettings::default(),
        );
        assert!(context.summarised > 0 && context.tokens <= tokens);
    }

    #[test]
    fn the_gist_of_an_answer_is_its_first_sentence_and_its_figures() {
        assert_eq!(
            gist(
                "Kisumu has 1,010 schools. They are spread out. Of them, 640 are public.\n| a | b |"
            ),
            "Kisumu has 1,010 schools. Of them, 640 are public."
        );
    }
}
