//! What a user does with their conversations besides chatting: find them
//! again (`search`, full text over their own messages), take them away
//! (`export`, as Markdown or JSON), and see what they used (`usage`,
//! tokens and an estimated cost from a price table); and the background
//! job that summarises a long one (`summaries`).

pub mod export;
pub mod search;
pub mod summaries;
pub mod usage;
