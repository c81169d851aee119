//! Exit statuses and the one-line `error: ...` messages (SPEC.md §7).

use std::fmt;

/// Why a run stopped early; [`crate::main`] turns it into one `error: ...` line and an exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// A bad flag, data file or weights file: exit status 2.
    BadInput(String),
    /// The training loss stopped being finite: exit status 3.
    Diverged(String),
    /// Something that is not the user's mistake (a bug, or the framework failing): exit status 1.
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
        let (Failure::BadInput(message) | Failure::Diverged(message) | Failure::Internal(message)) = self;
        f.write_str(&one_line(message))
    }
}

/// Any library error (the framework's, say) met with `?` is not the user's fault: exit status 1.
/// (`Failure` itself is not a `std::error::Error`, which is what lets this impl exist.)
impl<E: std::error::Error> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::Internal(one_line(&error.to_string()))
    }
}

/// A user's mistake: exit status 2.
pub fn bad_input(message: impl Into<String>) -> Failure {
    Failure::BadInput(message.into())
}

/// SPEC.md §3: a training loss that is not finite ends the run with exit status 3.
pub fn check_finite(epoch: u64, train_loss: f64) -> Result<(), Failure> {
    if train_loss.is_finite() {
        return Ok(());
    }
    Err(Failure::Diverged(format!(
        "training diverged in epoch {epoch}: the training loss is {train_loss}; try a smaller --lr"
    )))
}

/// The first line of a message, so that an error (and any backtrace attached to it) stays on one line.
pub fn one_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim_end().to_owned()
}

#[cfg(test)]
mod tests;
