//! Exit statuses and error lines (SPEC.md §7) and the logfmt log lines on stdout (SPEC.md §6).

use std::fmt;
use std::io::Write;

/// Why the run stopped early; `main` turns it into one `error: ...` line and an exit status.
#[derive(Debug)]
pub enum Failure {
    /// A bad flag, data file or weights file: exit status 2.
    BadInput(String),
    /// The training loss stopped being finite: exit status 3.
    Diverged(String),
    /// Something that is not the user's mistake (a bug, or candle failing): exit status 1.
    Internal(String),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::BadInput(_) => 2,
            Failure::Diverged(_) => 3,
            Failure::Internal(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            Failure::BadInput(m) | Failure::Diverged(m) | Failure::Internal(m) => m,
        };
        f.write_str(&one_line(message))
    }
}

/// The first line of a message, so that an error (and any backtrace attached to it) stays on one line.
pub fn one_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim_end().to_owned()
}

pub fn bad_input(message: impl Into<String>) -> Failure {
    Failure::BadInput(message.into())
}

/// candle errors during training or evaluation are not the user's fault.
impl From<candle_core::Error> for Failure {
    fn from(error: candle_core::Error) -> Self {
        Failure::Internal(format!("candle: {}", one_line(&error.to_string())))
    }
}

/// One `event=... key=value ...` line on stdout. A closed stdout is not worth a crash.
pub fn emit(event: &str, fields: &[(&str, String)]) {
    let mut line = format!("event={event}");
    for (key, value) in fields {
        line.push_str(&format!(" {key}={value}"));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// One `event=predict` line: the image's class (the most probable digit, the lowest on a tie) and its ten
/// probabilities.
pub fn emit_predict(index: usize, probabilities: &[f32]) {
    let class =
        (0..probabilities.len()).fold(0, |best, d| if probabilities[d] > probabilities[best] { d } else { best });
    let mut fields = vec![("index", index.to_string()), ("class", class.to_string())];
    fields.extend(DIGIT_KEYS.iter().zip(probabilities).map(|(&key, &p)| (key, six(p as f64))));
    emit("predict", &fields);
}

const DIGIT_KEYS: [&str; 10] = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"];

/// Losses and accuracies with six decimals, seconds with three (SPEC.md §6).
pub fn six(value: f64) -> String {
    format!("{value:.6}")
}

pub fn three(value: f64) -> String {
    format!("{value:.3}")
}
