//! Unit tests of log.rs.

use super::format;
use crate::cli::{parse_from, Parsed};

#[test]
fn start() {
    let line = format::start("rust", "candle/0.11.1", "cpu");
    let language = format!("rust/{}", env!("MNIST_RUSTC_VERSION"));
    assert_eq!(line, format!("event=start row=rust language={language} framework=candle/0.11.1 device=cpu"));
    assert!(language.len() > "rust/1.".len() && !language.contains(' '));
}

#[test]
fn config() {
    let flags =
        ["mnist", "--epochs", "2", "--limit-train", "3000", "--seed", "7", "--batch-size", "100", "--lr", "5e-2"];
    let Ok(Parsed::Run(args)) = parse_from(flags, "", None) else { panic!() };
    assert_eq!(
        format::config(&args),
        "event=config dataset=mnist epochs=2 batch_size=100 lr=0.05 momentum=0.9 seed=7 limit_train=3000 shuffle=1 init=0"
    );
    let flags = ["mnist", "--dataset", "fashion-mnist", "--no-shuffle", "--init", "w", "--lr", "1e6"];
    let Ok(Parsed::Run(args)) = parse_from(flags, "", None) else { panic!() };
    assert_eq!(
        format::config(&args),
        "event=config dataset=fashion-mnist epochs=5 batch_size=128 lr=1000000 momentum=0.9 seed=0 limit_train=50000 shuffle=0 init=1"
    );
}

#[test]
fn results() {
    assert_eq!(format::data(3000, 10000, 10000, 0.4123), "event=data train=3000 val=10000 test=10000 seconds=0.412");
    assert_eq!(format::warmup(1.0), "event=warmup seconds=1.000");
    assert_eq!(
        format::epoch(1, 1.8591894, 0.534333333, 0.7922, 0.7713, 12.3456),
        "event=epoch epoch=1 train_loss=1.859189 train_acc=0.534333 val_loss=0.792200 val_acc=0.771300 seconds=12.346"
    );
    assert_eq!(format::epoch(3, f64::NAN, 0.0, 1.0, 1.0, 0.0).split(' ').nth(2), Some("train_loss=NaN"));
    assert_eq!(format::test(0.4601334, 0.86, 0.0614), "event=test test_loss=0.460133 test_acc=0.860000 seconds=0.061");
}

#[test]
fn predict() {
    let mut p = [0.0f32; 10];
    p[7] = 0.9993214;
    p[2] = 0.0006786;
    assert_eq!(
        format::predict(0, &p),
        "event=predict index=0 class=7 p0=0.000000 p1=0.000000 p2=0.000679 p3=0.000000 p4=0.000000 p5=0.000000 \
         p6=0.000000 p7=0.999321 p8=0.000000 p9=0.000000"
    );
    // The lowest digit wins a tie.
    let tie = [0.0, 0.5, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    assert!(format::predict(4, &tie).starts_with("event=predict index=4 class=1 "));
}
