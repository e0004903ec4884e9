//! The scoring engine. The pipeline calls [`Engine::decide`] once per
//! destination with the time passed in; layers produce [`Reason`]s; the
//! policy's thresholds turn the score into an [`Action`].

mod decision;

pub use decision::{Action, Decision, Reason, RejectClass};
