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
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(bad_input("x").exit_code(), 2);
        assert_eq!(Failure::Diverged("x".into()).exit_code(), 3);
        assert_eq!(Failure::Internal("x".into()).exit_code(), 1);
    }

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(one_line("first\nsecond\n"), "first");
        assert_eq!(one_line(""), "");
        assert_eq!(bad_input("a  \nb").to_string(), "a");
    }

    #[test]
    fn library_errors_are_internal() {
        let io = std::io::Error::other("disk on fire\nstack trace");
        assert_eq!(Failure::from(io), Failure::Internal("disk on fire".into()));
    }

    #[test]
    fn divergence() {
        assert_eq!(check_finite(1, 0.5), Ok(()));
        let failure = check_finite(2, f64::NAN).unwrap_err();
        assert_eq!(failure.exit_code(), 3);
        assert_eq!(failure.to_string(), "training diverged in epoch 2: the training loss is NaN; try a smaller --lr");
        assert_eq!(check_finite(1, f64::INFINITY).unwrap_err().exit_code(), 3);
    }
}
