//! The ground floor: the vocabulary every other module speaks and none of
//! them owns. What a conversation is made of (`conversation`: messages, tool
//! specs, calls and results, token usage), who may do what (`access`: roles
//! and scopes), which place names and languages the EMIS data knows
//! (`known`), and who a user is to the answers (`profile`). It imports
//! nothing of the crate.

pub mod access;
pub mod conversation;
pub mod known;
pub mod profile;

pub use access::{Scope, UserRole};
pub use conversation::{Message, ToolCall, ToolResult, ToolSpec, Usage};
pub use known::KnownValues;
pub use profile::{Detail, Profile, ProfileRole};
