//! Unit tests of cli.rs.

use super::*;

fn parse(flags: &[&str]) -> Result<Parsed, Failure> {
    parse_from(std::iter::once("mnist").chain(flags.iter().copied()), "A test row.", None)
}

fn args(flags: &[&str]) -> Args {
    match parse(flags) {
        Ok(Parsed::Run(args)) => args,
        other => panic!("expected a run, got {other:?}"),
    }
}

fn usage_error(flags: &[&str]) -> String {
    match parse(flags) {
        Err(failure) => {
            assert_eq!(failure.exit_code(), 2, "{failure}");
            failure.to_string()
        }
        Ok(parsed) => panic!("expected a usage error for {flags:?}, got {parsed:?}"),
    }
}

#[test]
fn defaults() {
    let args = args(&[]);
    assert_eq!(
        args,
        Args {
            dataset: Dataset::Mnist,
            data_dir: PathBuf::from("data"),
            epochs: 5,
            batch_size: 128,
            lr: 0.05,
            momentum: 0.9,
            seed: 0,
            limit_train: 50_000,
            shuffle: true,
            init: None,
            save: None,
            predict: None,
        }
    );
}

#[test]
fn every_flag() {
    let args = args(&[
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        "/d",
        "--epochs",
        "0",
        "--batch-size",
        "7",
        "--lr",
        "5e-2",
        "--momentum",
        "0",
        "--seed",
        "4294967295",
        "--limit-train",
        "50000",
        "--no-shuffle",
        "--load",
        "w.safetensors",
        "--save",
        "out.safetensors",
    ]);
    assert_eq!(args.dataset.name(), "fashion-mnist");
    assert_eq!(args.data_dir, PathBuf::from("/d"));
    assert_eq!((args.epochs, args.batch_size, args.lr, args.momentum), (0, 7, 0.05, 0.0));
    assert_eq!((args.seed, args.limit_train, args.shuffle), (u32::MAX, 50_000, false));
    assert_eq!(args.init, Some(PathBuf::from("w.safetensors")));
    assert_eq!(args.save, Some(PathBuf::from("out.safetensors")));
    // --flag=value works too, and the last of a repeated flag wins.
    assert_eq!(self::args(&["--epochs=3", "--epochs", "4"]).epochs, 4);
}

#[test]
fn data_dir_from_the_environment() {
    let run = |env: Option<&str>, flags: &[&str]| match parse_from(
        std::iter::once("mnist").chain(flags.iter().copied()),
        "",
        env.map(OsString::from),
    ) {
        Ok(Parsed::Run(args)) => args.data_dir,
        _ => panic!(),
    };
    assert_eq!(run(Some("/env"), &[]), PathBuf::from("/env"));
    assert_eq!(run(Some(""), &[]), PathBuf::from("data"));
    assert_eq!(run(Some("/env"), &["--data-dir", "/flag"]), PathBuf::from("/flag"));
}

#[test]
fn values_out_of_range() {
    assert_eq!(usage_error(&["--batch-size", "-5"]), "--batch-size must be an integer >= 1, got '-5'");
    assert_eq!(usage_error(&["--batch-size", "0"]), "--batch-size must be an integer >= 1, got '0'");
    assert_eq!(usage_error(&["--epochs", "-1"]), "--epochs must be an integer >= 0, got '-1'");
    assert_eq!(usage_error(&["--epochs", "1.5"]), "--epochs must be an integer >= 0, got '1.5'");
    assert_eq!(usage_error(&["--lr", "abc"]), "--lr must be a number > 0, got 'abc'");
    assert_eq!(usage_error(&["--lr", "0"]), "--lr must be a number > 0, got '0'");
    assert_eq!(usage_error(&["--lr", "inf"]), "--lr must be a number > 0, got 'inf'");
    assert_eq!(usage_error(&["--momentum", "1"]), "--momentum must be a number in [0, 1), got '1'");
    assert_eq!(usage_error(&["--seed", "4294967296"]), "--seed must be an integer in 0..4294967295, got '4294967296'");
    assert_eq!(usage_error(&["--limit-train", "50001"]), "--limit-train must be an integer in 1..50000, got '50001'");
    assert_eq!(usage_error(&["--limit-train", "0"]), "--limit-train must be an integer in 1..50000, got '0'");
    assert_eq!(usage_error(&["--dataset", "cifar10"]), "--dataset must be one of mnist, fashion-mnist, got 'cifar10'");
}

#[test]
fn malformed_command_lines() {
    let unknown = usage_error(&["--bogus"]);
    assert!(unknown.contains("'--bogus'") && unknown.ends_with("(see --help)"), "{unknown}");
    let missing = usage_error(&["--epochs"]);
    assert!(missing.contains("--epochs") && missing.ends_with("(see --help)"), "{missing}");
    let both = usage_error(&["--init", "a", "--load", "b"]);
    assert!(both.contains("--init") && both.contains("--load"), "{both}");
    assert!(usage_error(&["stray"]).contains("'stray'"));
    assert_eq!(usage_error(&["--predict", "x.idx"]), "--predict needs the weights to classify with: add --load FILE");
    assert_eq!(
        usage_error(&["--save", "/nonexistent/dir/w.safetensors"]),
        "--save: directory /nonexistent/dir does not exist"
    );
}

#[test]
fn predict_uses_the_load_file() {
    let args = args(&["--load", "w.safetensors", "--predict", "x.idx"]);
    assert_eq!(args.init, Some(PathBuf::from("w.safetensors")));
    assert_eq!(args.predict, Some(PathBuf::from("x.idx")));
}

#[test]
fn help() {
    match parse(&["--help"]) {
        Ok(Parsed::Help(text)) => {
            assert!(text.starts_with("A test row."), "{text}");
            for flag in ["--dataset", "--data-dir", "--limit-train", "--no-shuffle", "--predict"] {
                assert!(text.contains(flag), "{flag} missing from {text}");
            }
        }
        other => panic!("expected help, got {other:?}"),
    }
}
