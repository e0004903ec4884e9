//! Scoring layers, one module each, each with its own config section.

pub mod lists;
pub mod number;
