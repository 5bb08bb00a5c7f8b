//! How memory reads text: the norm two memories are compared by, the terms
//! a question is searched for, and the tokens a memory takes in a prompt.

/// The longest memory kept, in characters.
pub const MAX_MEMORY_CHARS: usize = 2_000;

/// Most terms searched for in one question.
const MAX_TERMS: usize = 12;

/// Words too common to find anything by (English and Kiswahili).
const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "an", "and", "any", "are", "as", "at", "be", "but", "by", "can", "could",
    "do", "does", "for", "from", "give", "has", "have", "how", "i", "in", "is", "it", "its", "me",
    "many", "much", "my", "of", "on", "or", "our", "please", "show", "so", "tell", "that", "the",
    "their", "them", "there", "these", "they", "this", "to", "us", "was", "we", "what", "when",
    "where", "which", "who", "why", "will", "with", "would", "you", "your", "na", "ya", "wa", "za",
    "kwa", "ni", "katika",
];

/// The text as compared for duplicates: lower case, one space between
/// words, no trailing full stop.
pub fn norm(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(['.', '!'])
        .to_lowercase()
}

/// `word` as searches match it: lower case, without accents.
pub fn fold(word: &str) -> String {
    use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of `text` worth searching memories for: lower-case letters and
/// digits only (so they are never full-text query syntax), common words
/// left out, each once, at most a dozen.
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if word.chars().count() < 2 || STOP_WORDS.contains(&word.as_str()) || out.contains(&word) {
            continue;
        }
        out.push(word);
        if out.len() == MAX_TERMS {
            break;
        }
    }
    out
}

/// Tokens of `text` as OpenAI's o200k encoding counts them: the vendors'
/// own tokenizers differ a little, so budgets built on it are estimates
/// with room to spare. The ranks are loaded once per process.
pub fn tokens(text: &str) -> i64 {
    i64::try_from(bpe_openai::o200k_base().count(text)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_ignore_case_spacing_and_the_full_stop() {
        assert_eq!(norm("  I work in   KISUMU. "), "i work in kisumu");
        assert_eq!(norm("I work in Kisumu"), norm("i work in kisumu."));
    }

    #[test]
    fn terms_are_plain_words_never_query_syntax() {
        assert_eq!(
            terms("How many schools are in my county? \"Kisumu\" OR * NEAR(x)"),
            ["schools", "county", "kisumu", "near"]
        );
        assert_eq!(terms("shule za Kisumu"), ["shule", "kisumu"]);
        assert!(terms(&"word ".repeat(100)).len() == 1);
        assert_eq!(
            terms(&(0..40).map(|i| format!("w{i} ")).collect::<String>()).len(),
            12
        );
    }

    #[test]
    fn tokens_are_counted_by_the_tokenizer() {
        assert_eq!(tokens(""), 0);
        assert!(
            (3..=6).contains(&tokens("I work in Kisumu")),
            "{}",
            tokens("I work in Kisumu")
        );
        assert!(tokens(&"word ".repeat(100)) >= 100);
    }
}
