//! Every soft stop is a trade, and no country pays more than its budget.
//!
//! A stop saves what the send would have cost if it is pumping and loses
//! a real user if it is not. The layers estimate the pumping share of the
//! traffic their evidence is about ([`Reason::pumping`]); this module
//! combines them into one probability `p` for the send and stops it only
//! when `p × price > (1 − p) × user_value`. The same evidence therefore
//! stops a $0.30 destination and lets a $0.005 one through.
//!
//! The friction budget bounds what the engine's own uncertainty can cost
//! one country: the real users it expects to have stopped there over the
//! last 24 hours (the sum of `1 − p` over its uncertain stops) may not
//! pass `friction_budget` of the country's sends. Past it, uncertain stops
//! in that country go out as probes (`friction.budget_spent`), which is
//! also how the engine learns whether they convert.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::counters::{Counters, Keys};
use super::prices::Prices;
use super::{Decision, Reason, RejectClass, Scope, Subject, Trade};
use crate::clock::Timestamp;
use crate::source::SourceError;
use crate::state::Kind;

/// `[economics]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// What stopping one real user costs the platform, in the price
    /// table's currency: the sign-up or log-in lost, support, churn. $1 is
    /// a cautious figure for a consumer app; a bank or a marketplace will
    /// put more. Raising it makes every soft stop need more certainty.
    pub user_value: f64,
    /// Per route (`"twilio.verify" = 3.0`), over `user_value`.
    pub routes: HashMap<String, f64>,
    /// Per account (Twilio account SID, Vonage key, …), over the route's.
    pub accounts: HashMap<String, f64>,
    /// Pumping share taken when the local evidence makes no estimate of
    /// its own (a risky line type, a cap).
    pub default_pumping: f64,
    /// Price table (`policies/prices.toml` format), relative to the policy
    /// file; the embedded table when absent.
    pub prices: Option<String>,
    /// Most of a country's sends (over 24 hours) whose stop may have cost
    /// a real user while the engine is uncertain. 0.02: 2%.
    pub friction_budget: f64,
    /// The budget of a country with fewer sends is counted as if it had
    /// this many (two percent of a handful is no send at all).
    pub budget_min_sends: u32,
    /// Stops at or above this pumping probability are certain: they are
    /// not charged to the budget and never become probes.
    pub certain: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            user_value: 1.0,
            routes: HashMap::new(),
            accounts: HashMap::new(),
            default_pumping: 0.5,
            prices: None,
            friction_budget: 0.02,
            budget_min_sends: 100,
            certain: 0.95,
        }
    }
}

/// The compiled section.
#[derive(Debug)]
pub struct Economics {
    user_value: f64,
    routes: HashMap<String, f64>,
    accounts: HashMap<String, f64>,
    default_pumping: f64,
    prices: Prices,
    budget: f64,
    budget_min: f64,
    certain: f64,
}

/// Fixed-point unit of the friction counters (a thousandth of a user).
const MILLI: f64 = 1000.0;

/// Hours the budget looks back.
const BUDGET_HOURS: u32 = 24;

impl Config {
    pub fn build(&self, dir: Option<&Path>) -> Result<Economics, String> {
        let value = |what: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(format!(
                    "economics.{what} must be a non-negative amount, not {v}"
                ))
            }
        };
        value("user_value", self.user_value)?;
        for (name, v) in self.routes.iter().chain(&self.accounts) {
            value(name, *v)?;
        }
        let share = super::layers::share;
        let prices = match &self.prices {
            None => Prices::embedded(),
            Some(file) => Prices::load(&dir.unwrap_or(Path::new(".")).join(file)),
        }
        .map_err(|e: SourceError| format!("economics.prices: {e}"))?;
        Ok(Economics {
            user_value: self.user_value,
            routes: self.routes.clone(),
            accounts: self.accounts.clone(),
            default_pumping: share("economics.default_pumping", self.default_pumping)?,
            prices,
            budget: share("economics.friction_budget", self.friction_budget)?,
            budget_min: f64::from(self.budget_min_sends.max(1)),
            certain: share("economics.certain", self.certain)?,
        })
    }
}

impl Economics {
    /// The friction budget's share.
    pub fn friction_budget(&self) -> f64 {
        self.budget
    }

    /// The default value of a real user.
    pub fn user_value(&self) -> f64 {
        self.user_value
    }

    /// The value of the user behind this send, by account, route, default.
    fn value_of(&self, s: &Subject<'_>) -> f64 {
        s.send
            .account
            .and_then(|a| self.accounts.get(a))
            .or_else(|| self.routes.get(s.send.route))
            .copied()
            .unwrap_or(self.user_value)
    }

    /// The trade of stopping this send on `reasons`. Local evidence says
    /// how much of the traffic like this send is pumping; country-wide
    /// evidence raises that as independent evidence would.
    pub fn trade(&self, s: &Subject<'_>, reasons: &[Reason]) -> Trade {
        let most = |scope: Scope| {
            reasons
                .iter()
                .filter(|r| r.scope == scope && r.weight > 0)
                .filter_map(|r| r.pumping)
                .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))))
        };
        let local = most(Scope::Local).unwrap_or(self.default_pumping);
        let country = most(Scope::Country).unwrap_or(0.0);
        let pumping = 1.0 - (1.0 - local) * (1.0 - country);
        let price = self.prices.price(s.number.ok().and_then(|c| c.region));
        Trade {
            pumping,
            price,
            saved: pumping * price,
            user_cost: (1.0 - pumping) * self.value_of(s),
        }
    }

    /// Lets a stop that is not worth its user go, saying why.
    pub fn weigh(&self, d: &mut Decision, t: Trade) {
        d.trade = Some(t);
        if d.action == super::Action::Allow || t.saved > t.user_cost {
            return;
        }
        d.action = super::Action::Allow;
        let (saved, cost, p) = (t.saved, t.user_cost, t.pumping);
        d.reasons.push(Reason {
            code: "economics.not_worth_it",
            detail: crate::detail!(
                "not stopped: {:.0}% likely pumping saves ${saved:.4}, less than the ${cost:.4} a real user stopped would cost",
                p * 100.0
            ),
            weight: 0,
            class: RejectClass::Fraud,
            scope: Scope::Local,
            pumping: None,
        });
    }

    /// After scoring and probes: an uncertain stop in a country whose
    /// budget is spent goes out as a probe; one within the budget is
    /// charged to it. Certain stops pass untouched.
    pub fn budget(&self, d: &mut Decision, keys: &Keys, counters: &Counters, now: Timestamp) {
        if d.action == super::Action::Allow || d.hard {
            return;
        }
        let (Some(t), Some(country), Some(region)) = (d.trade, keys.country, keys.region) else {
            return;
        };
        if t.pumping >= self.certain {
            return;
        }
        let spent = f64::from(counters.friction.sum(country, now, BUDGET_HOURS)) / MILLI;
        let sends = counters.sends_of(Kind::Country);
        let went_out = f64::from(sends.long_sum(country, now, BUDGET_HOURS));
        let base = (went_out + spent).max(self.budget_min);
        // An uncertain stop is charged as the real user it may be: the
        // budget must hold even where the estimate of `p` is wrong (a
        // launch whose users convert late looks pumped at first).
        let cost = 1.0;
        if spent + cost <= self.budget * base {
            counters
                .friction
                .bump(country, now, (cost * MILLI).round() as u32);
            return;
        }
        d.action = super::Action::Allow;
        let share = self.budget * 100.0;
        d.reasons.push(Reason {
            code: "friction.budget_spent",
            detail: crate::detail!(
                "sent as a probe: {region}'s friction budget is spent (about {spent:.1} real users stopped of {base:.0} sends in 24 h, budget {share:.1}%)"
            ),
            weight: 0,
            class: RejectClass::Fraud,
            scope: Scope::Country,
            pumping: None,
        });
    }
}

#[cfg(test)]
#[path = "economics_tests.rs"]
mod tests;
