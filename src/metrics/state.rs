//! Bounded in-memory tables on `/metrics`: entries, bytes allocated and the
//! bytes each may grow to, so an SRE sees how full the state is and what
//! its ceiling is before a flood reaches it. The tables belong to the
//! engine; the composer hands in a function that reads them, so this leaf
//! knows nothing of the engine.

use std::fmt::Write;

use super::Exposition;

/// What a bounded table holds and what it may grow to. Defined in this
/// leaf so that the tables (in `state`) report it and `/metrics` renders it
/// without a copy of the type between them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableSize {
    pub entries: usize,
    /// Bytes of slots allocated now.
    pub bytes: usize,
    /// Bytes of slots when every shard is full: the table never allocates
    /// more (a shard growing briefly holds its old slots too).
    pub max_bytes: usize,
}

/// Renders `tollgate_state_*` from the named tables its function returns
/// at each scrape.
pub struct TableGauges<F>(pub F);

impl<F> Exposition for TableGauges<F>
where
    F: Fn() -> Vec<(&'static str, TableSize)> + Send + Sync,
{
    fn render(&self, out: &mut String) {
        let tables = (self.0)();
        let families: [(&str, &str, fn(&TableSize) -> usize); 3] = [
            (
                "tollgate_state_entries",
                "Keys held per counter table.",
                |t| t.entries,
            ),
            (
                "tollgate_state_bytes",
                "Bytes of slots allocated per counter table.",
                |t| t.bytes,
            ),
            (
                "tollgate_state_max_bytes",
                "Bytes a counter table holds when full; it never allocates more.",
                |t| t.max_bytes,
            ),
        ];
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (table, size) in &tables {
                let _ = writeln!(out, "{name}{{table=\"{table}\"}} {}", value(size));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_rendered_with_its_entries_bytes_and_ceiling() {
        let gauges = TableGauges(|| {
            vec![
                (
                    "numbers",
                    TableSize {
                        entries: 50,
                        bytes: 40_960,
                        max_bytes: 167_772_160,
                    },
                ),
                (
                    "sends",
                    TableSize {
                        entries: 7,
                        bytes: 212_992,
                        max_bytes: 218_103_808,
                    },
                ),
            ]
        });
        let mut out = String::new();
        gauges.render(&mut out);
        for line in [
            "tollgate_state_entries{table=\"numbers\"} 50\n",
            "tollgate_state_bytes{table=\"numbers\"} 40960\n",
            "tollgate_state_max_bytes{table=\"numbers\"} 167772160\n",
            "tollgate_state_entries{table=\"sends\"} 7\n",
            "tollgate_state_max_bytes{table=\"sends\"} 218103808\n",
            "# TYPE tollgate_state_bytes gauge\n",
        ] {
            assert!(out.contains(line), "missing {line:?} in:\n{out}");
        }
    }
}
