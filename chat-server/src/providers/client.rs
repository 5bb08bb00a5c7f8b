//! Placeholder (filled in next).
