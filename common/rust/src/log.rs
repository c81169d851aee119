//! The log lines on stdout (SPEC.md §6), one typed function per event: logfmt `key=value` fields in the
//! contract's order, losses and accuracies with six decimals, seconds with three, each line flushed.

use std::io::Write;

use crate::cli::Args;
use crate::data::Splits;

/// `event=start`: the row, `rust/<rustc version>`, the framework (`name/version`) and the device.
pub fn start(row: &str, framework: &str, device: &str) {
    emit(&format::start(row, framework, device));
}

/// `event=config`: the flags that shape the run.
pub fn config(args: &Args) {
    emit(&format::config(args));
}

/// `event=data`: the example counts of the three splits and the seconds reading them took.
pub fn data(splits: &Splits, seconds: f64) {
    emit(&format::data(splits.train.len(), splits.val.len(), splits.test.len(), seconds));
}

/// `event=warmup`: compilation or tracing done before epoch 1, for rows that have one.
pub fn warmup(seconds: f64) {
    emit(&format::warmup(seconds));
}

/// `event=epoch`, after each epoch; `seconds` covers the training steps only.
pub fn epoch(epoch: u64, train_loss: f64, train_acc: f64, val_loss: f64, val_acc: f64, seconds: f64) {
    emit(&format::epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds));
}

/// `event=test`, last: the test split's loss and accuracy and the seconds evaluating took.
pub fn test(test_loss: f64, test_acc: f64, seconds: f64) {
    emit(&format::test(test_loss, test_acc, seconds));
}

/// `event=predict`: an image's class (the most probable digit, the lowest on a tie) and its ten probabilities.
pub fn predict(index: usize, probabilities: &[f32]) {
    emit(&format::predict(index, probabilities));
}

/// Print one line on stdout and flush it; a closed stdout is not worth a crash.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The lines themselves, kept apart from printing so that the tests can read them.
mod format {
    use crate::cli::Args;

    /// `event=<event> key=value ...`
    fn line(event: &str, fields: &[(&str, String)]) -> String {
        let mut line = format!("event={event}");
        for (key, value) in fields {
            line.push_str(&format!(" {key}={value}"));
        }
        line
    }

    fn six(value: f64) -> String {
        format!("{value:.6}")
    }

    fn three(value: f64) -> String {
        format!("{value:.3}")
    }

    pub fn start(row: &str, framework: &str, device: &str) -> String {
        let language = format!("rust/{}", env!("MNIST_RUSTC_VERSION"));
        line(
            "start",
            &[("row", row.into()), ("language", language), ("framework", framework.into()), ("device", device.into())],
        )
    }

    pub fn config(args: &Args) -> String {
        line(
            "config",
            &[
                ("dataset", args.dataset.name().into()),
                ("epochs", args.epochs.to_string()),
                ("batch_size", args.batch_size.to_string()),
                ("lr", args.lr.to_string()),
                ("momentum", args.momentum.to_string()),
                ("seed", args.seed.to_string()),
                ("limit_train", args.limit_train.to_string()),
                ("shuffle", u8::from(args.shuffle).to_string()),
                ("init", u8::from(args.init.is_some()).to_string()),
            ],
        )
    }

    pub fn data(train: usize, val: usize, test: usize, seconds: f64) -> String {
        line(
            "data",
            &[
                ("train", train.to_string()),
                ("val", val.to_string()),
                ("test", test.to_string()),
                ("seconds", three(seconds)),
            ],
        )
    }

    pub fn warmup(seconds: f64) -> String {
        line("warmup", &[("seconds", three(seconds))])
    }

    pub fn epoch(epoch: u64, train_loss: f64, train_acc: f64, val_loss: f64, val_acc: f64, seconds: f64) -> String {
        line(
            "epoch",
            &[
                ("epoch", epoch.to_string()),
                ("train_loss", six(train_loss)),
                ("train_acc", six(train_acc)),
                ("val_loss", six(val_loss)),
                ("val_acc", six(val_acc)),
                ("seconds", three(seconds)),
            ],
        )
    }

    pub fn test(test_loss: f64, test_acc: f64, seconds: f64) -> String {
        line("test", &[("test_loss", six(test_loss)), ("test_acc", six(test_acc)), ("seconds", three(seconds))])
    }

    const DIGIT_KEYS: [&str; 10] = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"];

    pub fn predict(index: usize, probabilities: &[f32]) -> String {
        let class =
            (0..probabilities.len()).fold(0, |best, d| if probabilities[d] > probabilities[best] { d } else { best });
        let mut fields = vec![("index", index.to_string()), ("class", class.to_string())];
        fields.extend(DIGIT_KEYS.iter().zip(probabilities).map(|(&key, &p)| (key, six(p as f64))));
        line("predict", &fields)
    }
}

#[cfg(test)]
mod tests;
