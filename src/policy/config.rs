//! The policy file's top level. Each layer's section is defined next to the
//! layer (`layers/*.rs`); doc comments are the policy reference.

use serde::Deserialize;

use super::layers;
use super::Action;

/// A policy file (`policies/default.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `enforce` acts on decisions; `shadow` records them and forwards
    /// every send (the safe first step of every deployment).
    #[serde(default)]
    pub mode: Mode,
    /// Score thresholds.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// The number layer: validity and line type.
    #[serde(default)]
    pub number: layers::number::Config,
    /// Allow and deny lists of numbers, ranges and countries.
    #[serde(default)]
    pub lists: layers::lists::Config,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Enforce,
    Shadow,
}

/// Scores are 0–100; at or above `block` a send is blocked, at or above
/// `hold` it is held for review.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub hold: u32,
    pub block: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            hold: 60,
            block: 80,
        }
    }
}

impl Thresholds {
    pub fn validate(&self) -> Result<(), String> {
        if self.block > 100 || self.hold > self.block {
            return Err(format!(
                "thresholds must satisfy hold <= block <= 100 (hold = {}, block = {})",
                self.hold, self.block
            ));
        }
        Ok(())
    }

    pub fn action(&self, score: u32) -> Action {
        if score >= self.block {
            Action::Block
        } else if score >= self.hold {
            Action::Hold
        } else {
            Action::Allow
        }
    }
}
