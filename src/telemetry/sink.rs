//! The log writer: lines gathered in one buffer, written by one thread.
//!
//! A request thread appends its line under a short lock and goes on; the
//! writer thread takes the whole buffer every [`FLUSH_EVERY`] (sooner past
//! [`WAKE_AT`]) and writes it with one `write(2)`. Handing each line to a
//! channel instead (tracing-appender) cost a copy, a wake-up and a write per
//! line: at 20 k decisions/s its writer thread made ~0.7 `write` and ~0.8
//! `sched_yield` calls per request while it spun on an empty queue.
//!
//! Not lossy: a decision line is evidence. Past [`HOLD_AT`] bytes waiting
//! (the output stopped draining) a writer waits for room; nothing is
//! dropped.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Bytes waiting that wake the writer before its interval ends.
pub const WAKE_AT: usize = 256 * 1024;
/// Bytes waiting past which writers wait for the output to drain.
pub const HOLD_AT: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// The writer thread waits here for its interval or for [`WAKE_AT`].
    wake: Condvar,
    /// Writers past [`HOLD_AT`] wait here for the buffer to be taken.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handle request threads write lines through (`Clone`, cheap).
#[derive(Clone)]
pub struct LineSink {
    shared: Arc<Shared>,
}

/// Keeps the writer thread; dropping it writes what is waiting and stops it.
pub struct SinkGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LineSink {
    /// Starts the writer thread over `out`.
    pub fn start<W: Write + Send + 'static>(out: W) -> (LineSink, SinkGuard) {
        let shared = Arc::new(Shared::default());
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tollgate-log".into())
            .spawn(move || drain(&writer, out))
            .ok();
        // No thread, no writing: lines are dropped rather than kept.
        shared.lock().closed = thread.is_none();
        let sink = LineSink {
            shared: shared.clone(),
        };
        (sink, SinkGuard { shared, thread })
    }

    /// Queues `line` whole (a line is never split between two writes).
    /// After shutdown it is dropped: nothing is left to write it.
    pub fn push(&self, line: &[u8]) {
        let mut p = self.shared.lock();
        while p.bytes.len() >= HOLD_AT && !p.closed {
            p = self.shared.room.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        if p.closed {
            return;
        }
        let before = p.bytes.len();
        p.bytes.extend_from_slice(line);
        if before < WAKE_AT && p.bytes.len() >= WAKE_AT {
            self.shared.wake.notify_one();
        }
    }
}

impl Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }

    /// The writer thread flushes on its own schedule; a caller's flush
    /// does not wait for it.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LineSink {
    type Writer = LineSink;

    fn make_writer(&'a self) -> LineSink {
        self.clone()
    }
}

/// The writer thread: takes the buffer, writes it, until closed and empty.
fn drain<W: Write>(shared: &Shared, mut out: W) {
    // Swapped with the pending buffer so that neither reallocates.
    let mut spare = Vec::new();
    loop {
        let closed = {
            let mut p = shared.lock();
            if !p.closed && p.bytes.len() < WAKE_AT {
                p = shared
                    .wake
                    .wait_timeout(p, FLUSH_EVERY)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            std::mem::swap(&mut p.bytes, &mut spare);
            shared.room.notify_all();
            p.closed
        };
        if !spare.is_empty() {
            // A closed or full output loses these lines: there is nowhere
            // left to report that to.
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            spare.clear();
        }
        if closed && shared.lock().bytes.is_empty() {
            return;
        }
    }
}

/// How long shutdown waits for the last lines to be written: an output
/// that stopped draining must not keep the process from exiting.
const LAST_WRITE: Duration = Duration::from_secs(2);

impl Drop for SinkGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        self.shared.room.notify_all();
        if let Some(t) = self.thread.take() {
            let deadline = std::time::Instant::now() + LAST_WRITE;
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that records each write it was given.
    #[derive(Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_in_few_writes() {
        let out = Writes::default();
        let (sink, guard) = LineSink::start(out.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        sink.push(format!("{{\"thread\":{t},\"line\":{i}}}\n").as_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let writes = out.0.lock().unwrap();
        let all: Vec<u8> = writes.concat();
        let text = String::from_utf8(all).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20_000);
        for t in 0..4 {
            let mine: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("{{\"thread\":{t},")))
                .collect();
            let want: Vec<String> = (0..5_000)
                .map(|i| format!("{{\"thread\":{t},\"line\":{i}}}"))
                .collect();
            assert_eq!(mine, want, "thread {t}'s lines, whole and in order");
        }
        assert!(
            writes.len() < 2_000,
            "{} writes for 20 000 lines",
            writes.len()
        );
    }

    #[test]
    fn a_line_is_written_within_the_interval_and_on_drop() {
        let out = Writes::default();
        let (sink, guard) = LineSink::start(out.clone());
        sink.push(b"first\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        sink.push(b"last\n");
        drop(guard);
        assert_eq!(out.0.lock().unwrap().concat(), b"first\nlast\n");
    }

    /// An output that takes nothing until it is opened.
    struct Gate(Arc<(Mutex<bool>, Condvar)>, Writes);

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (open, cv) = &*self.0;
            let mut g = open.lock().unwrap();
            while !*g {
                g = cv.wait(g).unwrap();
            }
            self.1.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_output_holds_writers_back_and_loses_nothing() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let out = Writes::default();
        let (sink, guard) = LineSink::start(Gate(gate.clone(), out.clone()));
        let line = vec![b'x'; 1024 * 1024 - 1];
        let writer = {
            let sink = sink.clone();
            let line = line.clone();
            std::thread::spawn(move || {
                for _ in 0..40 {
                    sink.push(&line);
                    sink.push(b"\n");
                }
            })
        };
        // 40 MiB cannot fit under HOLD_AT while the output is shut.
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !writer.is_finished(),
            "the writer should be waiting for room"
        );
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        writer.join().unwrap();
        drop(guard);
        assert_eq!(out.0.lock().unwrap().concat().len(), 40 * 1024 * 1024);
    }

    #[test]
    fn shutdown_does_not_wait_forever_on_a_stalled_output() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (sink, guard) = LineSink::start(Gate(gate.clone(), Writes::default()));
        sink.push(b"stuck\n");
        std::thread::sleep(FLUSH_EVERY * 3);
        let t0 = std::time::Instant::now();
        drop(guard);
        assert!(t0.elapsed() < LAST_WRITE + Duration::from_secs(1));
        // Let the writer thread finish.
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
    }
}
