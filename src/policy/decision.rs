//! What the engine answers: an action, a score and the reasons behind it.

use std::fmt;

/// The three outcomes of a send.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Hold,
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Hold => "hold",
            Action::Block => "block",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a rejection is worded to the platform. Route files map each class to
/// the provider's own error code (Twilio 21211 / 21614 / 21408, …), so the
/// SDK raises the exception the platform already handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectClass {
    /// Not a valid phone number.
    InvalidNumber,
    /// A line type that cannot receive an SMS (fixed line, premium rate, …).
    LineType,
    /// The destination country is not permitted.
    Geo,
    /// Blocked as suspected pumping (lists, velocity, score).
    Fraud,
}

impl RejectClass {
    pub const ALL: [RejectClass; 4] = [
        RejectClass::InvalidNumber,
        RejectClass::LineType,
        RejectClass::Geo,
        RejectClass::Fraud,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectClass::InvalidNumber => "invalid_number",
            RejectClass::LineType => "line_type",
            RejectClass::Geo => "geo",
            RejectClass::Fraud => "fraud",
        }
    }
}

/// One signal from one layer: a stable code for machines, a sentence for
/// people, and how much it weighs.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Reason {
    /// Stable, dotted code: `number.invalid`, `lists.deny_country`, …
    pub code: &'static str,
    /// One human sentence, free of full phone numbers.
    pub detail: String,
    /// Contribution to the score (0–100 scale); hard rules use 100.
    pub weight: u32,
    /// How a block caused by this reason is worded to the platform.
    pub class: RejectClass,
}

/// The engine's answer for one destination.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Decision {
    pub action: Action,
    /// 0–100, capped.
    pub score: u32,
    /// Strongest first.
    pub reasons: Vec<Reason>,
    /// `true` when the action came from a hard rule (lists, invalid number),
    /// not from the score.
    pub hard: bool,
}

impl Decision {
    pub fn allow() -> Decision {
        Decision {
            action: Action::Allow,
            score: 0,
            reasons: Vec::new(),
            hard: false,
        }
    }

    /// The class the platform should see for a block: the strongest reason's.
    pub fn reject_class(&self) -> RejectClass {
        self.reasons
            .first()
            .map(|r| r.class)
            .unwrap_or(RejectClass::Fraud)
    }

    /// Reason codes, for logs and metrics.
    pub fn codes(&self) -> Vec<&'static str> {
        self.reasons.iter().map(|r| r.code).collect()
    }

    /// One line explaining the decision.
    pub fn explanation(&self) -> String {
        if self.reasons.is_empty() {
            return format!("{} (score {}): no signal", self.action, self.score);
        }
        let parts: Vec<&str> = self.reasons.iter().map(|r| r.detail.as_str()).collect();
        format!(
            "{} (score {}): {}",
            self.action,
            self.score,
            parts.join("; ")
        )
    }
}
