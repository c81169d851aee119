//! Unit tests of error.rs.

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
