//! How many tokens a model reads, and how they are counted: context windows
//! of the providers' known models (a default for unknown ones), and the
//! tokenizer a model's prompt is counted with.

use std::{hash::BuildHasher, sync::LazyLock};

use bpe_openai::Tokenizer;
use foldhash::quality::RandomState;
use quick_cache::sync::Cache;

/// Counts of the longer texts already counted, by counter and text hash: a
/// conversation's earlier messages come back every turn, and encoding them
/// all again would cost more than the rest of building the context. A
/// 1,000-turn context looks up about 1,500 texts a build, so the cache is
/// quick_cache (a lookup is a sharded hash-table read) and the texts'
/// hash foldhash's (seeded per process), a fraction of moka and SipHash.
static COUNTED: LazyLock<Cache<(u8, u64), i64>> = LazyLock::new(|| Cache::new(200_000));
static TEXT_HASH: LazyLock<RandomState> = LazyLock::new(RandomState::default);

/// Texts shorter than this are encoded each time (cheaper than a lookup).
const CACHED_FROM: usize = 24;

/// The window assumed for a model this table does not know.
pub const DEFAULT_WINDOW: i64 = 32_768;

/// Room left for the answer: a quarter of the window, at most this.
const MAX_ANSWER_ROOM: i64 = 16_384;

/// Context windows by model-name prefix, the longest prefix matching. From
/// the vendors' model pages (2026); a model not listed gets
/// `DEFAULT_WINDOW`, which every current model exceeds.
const WINDOWS: &[(&str, i64)] = &[
    // OpenAI
    ("gpt-5", 400_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4", 8_192),
    ("gpt-3.5-turbo", 16_385),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
    ("gpt-oss", 131_072),
    // Anthropic
    ("claude", 200_000),
    // Google
    ("gemini-1.5-pro", 2_097_152),
    ("gemini", 1_048_576),
    // The embedded planner reads only the last turn; keep its prompts small.
    ("offline", 16_384),
];

/// The tokens `model` reads at most.
pub fn window(model: &str) -> i64 {
    let model = model.to_ascii_lowercase();
    // A vendor-qualified name ("openai/gpt-4o", "models/gemini-2.0") by its last part.
    let name = model.rsplit('/').next().unwrap_or(&model);
    WINDOWS
        .iter()
        .filter(|(prefix, _)| name.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(DEFAULT_WINDOW, |(_, window)| *window)
}

/// The prompt's budget for `model`: its window less room for the answer.
pub fn budget(model: &str) -> i64 {
    let window = window(model);
    window - (window / 4).min(MAX_ANSWER_ROOM)
}

/// How a model's prompt is counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Counter {
    /// OpenAI's own encodings: exact for their models.
    O200k,
    Cl100k,
    /// Another vendor's model (Anthropic, Gemini, local servers): the
    /// o200k count times a margin. Their tokenizers are not published as
    /// crates; o200k counts English and Kiswahili text within about 15% of
    /// them, so the margin keeps a budget from being overrun.
    Estimate,
}

/// Margin on the o200k count for models counted by estimate.
const ESTIMATE_MARGIN: f64 = 1.2;

/// Tokens each message costs beyond its text (role, separators), as
/// OpenAI's chat format counts them.
pub const MESSAGE_OVERHEAD: i64 = 4;

impl Counter {
    /// The counter for `provider`'s `model`.
    pub fn for_model(provider: &str, model: &str) -> Counter {
        let model = model.to_ascii_lowercase();
        let openai_model = ["gpt-", "o1", "o3", "o4", "chatgpt"]
            .iter()
            .any(|p| model.starts_with(p));
        if !openai_model {
            return Counter::Estimate;
        }
        let cl100k = ["gpt-4-", "gpt-3.5"].iter().any(|p| model.starts_with(p)) || model == "gpt-4";
        match (provider, cl100k) {
            (_, true) => Counter::Cl100k,
            _ => Counter::O200k,
        }
    }

    fn encoding(self) -> &'static Tokenizer {
        match self {
            Counter::Cl100k => bpe_openai::cl100k_base(),
            Counter::O200k | Counter::Estimate => bpe_openai::o200k_base(),
        }
    }

    /// The tokens of `text`.
    pub fn tokens(self, text: &str) -> i64 {
        if text.is_empty() {
            return 0;
        }
        if text.len() < CACHED_FROM {
            return self.encode(text);
        }
        let key = (self as u8, TEXT_HASH.hash_one(text));
        COUNTED.get(&key).unwrap_or_else(|| {
            let tokens = self.encode(text);
            COUNTED.insert(key, tokens);
            tokens
        })
    }

    /// The tokens of `text` at most, nothing encoded: its bytes, as no
    /// token of a byte-level BPE is shorter than a byte.
    pub fn at_most(self, text: &str) -> i64 {
        let n = text.len() as f64;
        match self {
            Counter::Estimate => (n * ESTIMATE_MARGIN).ceil() as i64,
            Counter::O200k | Counter::Cl100k => n as i64,
        }
    }

    fn encode(self, text: &str) -> i64 {
        let n = self.encoding().count(text) as f64;
        let n = match self {
            Counter::Estimate => (n * ESTIMATE_MARGIN).ceil(),
            Counter::O200k | Counter::Cl100k => n,
        };
        n as i64
    }

    /// Whether the count is the model's own.
    pub fn exact(self) -> bool {
        self != Counter::Estimate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_models_have_their_window_and_unknown_ones_the_default() {
        assert_eq!(window("gpt-4o-mini"), 128_000);
        assert_eq!(window("gpt-4.1-mini"), 1_047_576);
        assert_eq!(window("gpt-4"), 8_192);
        assert_eq!(window("claude-sonnet-4-5"), 200_000);
        assert_eq!(window("models/gemini-2.5-flash"), 1_048_576);
        assert_eq!(window("llama3.1:8b"), DEFAULT_WINDOW);
        assert_eq!(budget("gpt-4"), 8_192 - 2_048);
        assert_eq!(budget("gpt-4o"), 128_000 - MAX_ANSWER_ROOM);
    }

    #[test]
    fn openai_models_are_counted_by_their_encoding_and_others_with_a_margin() {
        assert_eq!(Counter::for_model("openai", "gpt-4o-mini"), Counter::O200k);
        assert_eq!(
            Counter::for_model("openai", "gpt-3.5-turbo"),
            Counter::Cl100k
        );
        assert_eq!(
            Counter::for_model("anthropic", "claude-sonnet-4-5"),
            Counter::Estimate
        );
        let text = "Kisumu county has 1,234 primary schools.";
        let exact = Counter::O200k.tokens(text);
        assert!(exact > 5);
        assert!(Counter::Estimate.tokens(text) > exact);
        assert_eq!(Counter::O200k.tokens(""), 0);
    }

    #[test]
    fn counts_are_those_of_openais_own_tokenizer() {
        // Real rows of both countries' data (names, places, figures, accents).
        let rows = ["kenya_schools.csv", "florida_public_schools.csv"].map(|file| {
            let path = format!("{}/../mcp-server/data/{file}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(path).expect("the data set")
        });
        let texts: Vec<String> = rows
            .iter()
            .flat_map(|csv| {
                csv.lines()
                    .collect::<Vec<_>>()
                    .chunks(37)
                    .take(60)
                    .map(|c| c.join("\n"))
                    .collect::<Vec<_>>()
            })
            .chain(["Shule za msingi Kaunti ya Kisumu: wanafunzi 1,234 — très bien.".to_owned()])
            .collect();
        for text in &texts {
            assert_eq!(
                Counter::O200k.encode(text),
                tiktoken_rs::o200k_base_singleton()
                    .encode_ordinary(text)
                    .len() as i64
            );
            assert_eq!(
                Counter::Cl100k.encode(text),
                tiktoken_rs::cl100k_base_singleton()
                    .encode_ordinary(text)
                    .len() as i64
            );
        }
    }
}
