//! The engine's counter tables on `/metrics`: entries, bytes allocated and
//! the bytes each may grow to, so an SRE sees how full the bounded state
//! is and what the ceiling is before a flood reaches it.

use std::fmt::Write;
use std::sync::Arc;

use super::Exposition;
use crate::policy::Engine;

/// Renders `tollgate_state_*` from the engine's counters (they survive
/// policy reloads, so one engine handle is enough).
pub struct StateTables(pub Arc<Engine>);

impl Exposition for StateTables {
    fn render(&self, out: &mut String) {
        let sizes = self.0.counters().sizes();
        let families: [(&str, &str, fn(&crate::state::TableSize) -> usize); 3] = [
            (
                "tollgate_state_entries",
                "Keys held per counter table.",
                |s| s.entries,
            ),
            (
                "tollgate_state_bytes",
                "Bytes of slots allocated per counter table.",
                |s| s.bytes,
            ),
            (
                "tollgate_state_max_bytes",
                "Bytes a counter table holds when full; it never allocates more.",
                |s| s.max_bytes,
            ),
        ];
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (table, size) in &sizes {
                let _ = writeln!(out, "{name}{{table=\"{table}\"}} {}", value(size));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::number::Classifier;
    use crate::policy::{Policy, SendFacts};

    #[test]
    fn every_table_is_on_metrics_with_its_entries_and_ceiling() {
        let engine = Arc::new(Engine::deterministic(Policy::embedded().unwrap(), 3));
        let classifier = Classifier::embedded();
        let send = SendFacts {
            route: "twilio.messages",
            provider: "twilio",
            channel: "sms",
            ..SendFacts::default()
        };
        for i in 0..50u64 {
            let c = classifier.parse_and_classify(&format!("+4477009{:05}", i), None);
            engine.decide(&send, c.as_ref(), Timestamp(1_790_000_000_000 + i as i64));
        }
        let mut out = String::new();
        StateTables(engine.clone()).render(&mut out);
        for (table, size) in engine.counters().sizes() {
            for family in ["entries", "bytes", "max_bytes"] {
                assert!(
                    out.contains(&format!("tollgate_state_{family}{{table=\"{table}\"}} ")),
                    "{family} of {table} missing:\n{out}"
                );
            }
            assert!(
                size.bytes <= size.max_bytes && size.max_bytes > 0,
                "{table}: {size:?}"
            );
        }
        assert!(
            out.contains("tollgate_state_entries{table=\"numbers\"} 50\n"),
            "{out}"
        );
    }

    /// The README (and the Kubernetes limit sized from it) states the
    /// ceiling of the default tables; a change of capacity or entry layout
    /// must update it.
    #[test]
    fn the_readme_states_the_tables_ceiling() {
        let engine = Engine::deterministic(Policy::embedded().unwrap(), 3);
        let ceiling: usize = engine
            .counters()
            .sizes()
            .iter()
            .map(|(_, s)| s.max_bytes)
            .sum();
        let readme = include_str!("../../README.md");
        let stated = format!(
            "counter\ntables' ceiling is {} MB",
            (ceiling + 500_000) / 1_000_000
        );
        assert!(readme.contains(&stated), "README should say: {stated}");
    }
}
