//! What the engine answers: an action, a score and the reasons behind it.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

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
    pub detail: Detail,
    /// Contribution to the score (0–100 scale); hard rules use 100.
    pub weight: u32,
    /// How a block caused by this reason is worded to the platform.
    pub class: RejectClass,
    /// Whose traffic the evidence is about (see [`Scope`]).
    pub scope: Scope,
    /// The layer's estimate of the share of sends matching this evidence
    /// that are pumping (0–1), where it can make one; `None` for priors
    /// (risk tiers, line-type risk) that say nothing about this traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pumping: Option<f64>,
}

/// Whose traffic a reason speaks about. Country-wide evidence (deficits,
/// drift, surges, risk tiers) raises suspicion of the sends inside the
/// country but never stops them alone: a country is mostly real users,
/// and only local evidence (the number, its range, its carrier, the
/// client) tells the pumped sends from theirs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The number, its range or carrier, its line type, the client.
    #[default]
    Local,
    /// The whole destination country.
    Country,
}

/// The economic side of a stop: what stopping this send is expected to
/// save against what it is expected to cost (see `[economics]`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Trade {
    /// Estimated probability that the send is pumping.
    pub pumping: f64,
    /// Price of one SMS to the destination (`policies/prices.toml`).
    pub price: f64,
    /// `pumping × price`: the pumping cost the stop is expected to save.
    pub saved: f64,
    /// `(1 − pumping) × user_value`: the real user it may stop.
    pub user_cost: f64,
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
    /// The trade weighed for a soft stop (absent for allows on no
    /// evidence and for hard rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trade: Option<Trade>,
}

impl Decision {
    pub fn allow() -> Decision {
        Decision {
            action: Action::Allow,
            score: 0,
            reasons: Vec::new(),
            hard: false,
            trade: None,
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
        let parts: Vec<String> = self.reasons.iter().map(|r| r.detail.to_string()).collect();
        format!(
            "{} (score {}): {}",
            self.action,
            self.score,
            parts.join("; ")
        )
    }
}

/// Writes a reason's sentence into a formatter.
type Render = dyn Fn(&mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync;

/// A reason's human sentence, written only when someone reads it (explain,
/// the admin API, logs). Most reasons ride along with sends nobody
/// explains; formatting every one of them up front was ~7% of a backtest.
/// Reads as the sentence everywhere: `Display`, `Debug`, equality and
/// serialisation all see the rendered text.
#[derive(Clone)]
pub struct Detail(Sentence);

#[derive(Clone)]
enum Sentence {
    Text(Cow<'static, str>),
    Lazy(Arc<Render>),
}

impl Detail {
    /// A sentence written by `render` when read. Use [`detail!`](crate::detail)
    /// rather than calling this directly.
    pub fn lazy<F>(render: F) -> Detail
    where
        F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync + 'static,
    {
        Detail(Sentence::Lazy(Arc::new(render)))
    }

    /// Whether the sentence mentions `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.to_string().contains(needle)
    }
}

/// A [`Detail`] from `format!`-style arguments, formatted only when read.
/// The arguments are captured by value: bind fields of borrowed values to
/// locals first.
#[macro_export]
macro_rules! detail {
    ($($arg:tt)*) => {
        $crate::policy::Detail::lazy(move |f| ::std::write!(f, $($arg)*))
    };
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Sentence::Text(t) => f.write_str(t),
            Sentence::Lazy(render) => render(f),
        }
    }
}

impl fmt::Debug for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

impl PartialEq for Detail {
    fn eq(&self, other: &Detail) -> bool {
        self.to_string() == other.to_string()
    }
}

impl serde::Serialize for Detail {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl From<String> for Detail {
    fn from(text: String) -> Detail {
        Detail(Sentence::Text(Cow::Owned(text)))
    }
}

impl From<&'static str> for Detail {
    fn from(text: &'static str) -> Detail {
        Detail(Sentence::Text(Cow::Borrowed(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lazy_detail_reads_as_its_sentence() {
        let (n, name) = (12, "carrier");
        let lazy = crate::detail!("{n} sends to this {name}");
        let eager = Detail::from(format!("{n} sends to this {name}"));
        assert_eq!(lazy.to_string(), "12 sends to this carrier");
        assert_eq!(lazy, eager);
        assert_eq!(
            format!("{lazy:?}"),
            format!("{:?}", "12 sends to this carrier")
        );
        assert_eq!(
            serde_json::to_string(&lazy).ok().as_deref(),
            Some("\"12 sends to this carrier\"")
        );
        assert!(lazy.contains("this carrier"));
        assert_ne!(lazy, Detail::from("11 sends to this carrier"));
    }
}
