//! Unit tests of progress.rs.

use super::*;

#[test]
fn rate_limit() {
    let t0 = Instant::now();
    let at = |ms| t0 + Duration::from_millis(ms);
    let mut limit = RateLimit { last: None };
    assert!(limit.due(at(0)), "the first line needs no wait");
    assert!(!limit.due(at(100)));
    assert!(!limit.due(at(249)));
    assert!(limit.due(at(250)));
    assert!(!limit.due(at(499)), "counted from the last printed line, not the last batch");
    assert!(limit.due(at(500)));
    limit.mark(at(900)); // a start / data / warmup line
    assert!(!limit.due(at(1000)));
    assert!(limit.due(at(1150)));
    // At most four lines a second, however fast the batches come.
    let mut limit = RateLimit { last: Some(t0) };
    assert_eq!((1..=10_000).filter(|&ms| limit.due(at(ms))).count(), 40);
}

#[test]
fn loss_is_read_only_for_a_printed_line() {
    *lock() = RateLimit { last: Some(Instant::now()) };
    train(1, 1, 1, 10, || panic!("loss read for a line that was not printed"));
    *lock() = RateLimit { last: Some(Instant::now() - INTERVAL) };
    let mut read = false;
    train(1, 1, 2, 10, || {
        read = true;
        0.5
    });
    assert!(read);
}

#[test]
fn lines() {
    assert_eq!(
        train_line(1, 5, 78, 391, 1.0133724),
        "event=progress stage=train epoch=1 epochs=5 batch=78 batches=391 loss=1.013372"
    );
}
