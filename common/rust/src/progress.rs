//! Progress lines on stderr (SPEC.md §6, "Progress (stderr)"): `event=progress stage=...` for a person
//! watching, never parsed for results. `train` lines are rate-limited: one only when at least 0.25 s
//! have passed since the previous progress line, so that a batch pays no more than a look at the clock.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The least time between a progress line and the next `train` line.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// When the row printed its last progress line.
static LAST: Mutex<RateLimit> = Mutex::new(RateLimit { last: None });

/// `stage=start`, as soon as the flags are parsed ([`crate::main`] prints it).
pub fn start(row: &str) {
    print(&format!("event=progress stage=start row={row}"));
}

/// `stage=data`, before the data files are read ([`crate::data::load`] prints it).
pub fn data(dataset: &str) {
    print(&format!("event=progress stage=data dataset={dataset}"));
}

/// `stage=warmup`, before compilation or tracing, for rows that print a `warmup` log line.
pub fn warmup() {
    print("event=progress stage=warmup");
}

/// `stage=train` after batch `batch` (from 1) of `batches` in epoch `epoch` of `epochs`, if 0.25 s have
/// passed since the last progress line. `loss` (the epoch's running mean training loss) is called only
/// then, so a row whose loss lives on a device reads it only for a line that is printed.
pub fn train(epoch: u64, epochs: u64, batch: usize, batches: usize, loss: impl FnOnce() -> f64) {
    if lock().due(Instant::now()) {
        print(&train_line(epoch, epochs, batch, batches, loss()));
    }
}

fn train_line(epoch: u64, epochs: u64, batch: usize, batches: usize, loss: f64) -> String {
    format!("event=progress stage=train epoch={epoch} epochs={epochs} batch={batch} batches={batches} loss={loss:.6}")
}

fn lock() -> std::sync::MutexGuard<'static, RateLimit> {
    LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Print a line on stderr now and remember when; a closed stderr is not worth a crash.
fn print(line: &str) {
    lock().mark(Instant::now());
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// The clock of the last progress line.
struct RateLimit {
    last: Option<Instant>,
}

impl RateLimit {
    fn mark(&mut self, now: Instant) {
        self.last = Some(now);
    }

    /// Whether a rate-limited line may be printed at `now`; if so, it counts as printed.
    fn due(&mut self, now: Instant) -> bool {
        let due = self.last.is_none_or(|last| now.saturating_duration_since(last) >= INTERVAL);
        if due {
            self.mark(now);
        }
        due
    }
}

#[cfg(test)]
mod tests;
