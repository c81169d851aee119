//! The contract's flags (SPEC.md §4), parsed by clap; every mistake becomes one `error: ...` line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::error::{bad_input, one_line, Failure};

/// Training examples in the train split (SPEC.md §1), and so the largest --limit-train.
pub const TRAIN_EXAMPLES: usize = 50_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dataset {
    Mnist,
    FashionMnist,
}

impl Dataset {
    /// The name in flags, logs and the data directory: `mnist`, `fashion-mnist`.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
        }
    }
}

/// The flags as clap sees them; the doc comments are the --help text. The row's own one-line
/// description replaces the `about` at run time.
#[derive(Parser, Debug)]
#[command(name = "mnist", args_override_self = true, disable_version_flag = true)]
struct Cli {
    /// Which dataset to train on
    #[arg(long, value_enum, default_value_t = Dataset::Mnist)]
    dataset: Dataset,

    /// Data root holding <dataset>/ [default: $MNIST_DATA_DIR, else data/]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Passes over the training set; 0 only evaluates
    #[arg(long, value_name = "N", default_value_t = 5, allow_negative_numbers = true, value_parser = epochs)]
    epochs: u64,

    /// Examples per SGD step
    #[arg(long, value_name = "N", default_value_t = 128, allow_negative_numbers = true, value_parser = batch_size)]
    batch_size: usize,

    /// Learning rate
    #[arg(long, value_name = "LR", default_value_t = 0.05, allow_negative_numbers = true, value_parser = lr)]
    lr: f64,

    /// SGD momentum, in [0, 1)
    #[arg(long, value_name = "M", default_value_t = 0.9, allow_negative_numbers = true, value_parser = momentum)]
    momentum: f64,

    /// Seeds initialisation and shuffling, 0..4294967295
    #[arg(long, value_name = "N", default_value_t = 0, allow_negative_numbers = true, value_parser = seed)]
    seed: u32,

    /// Train on the first N training examples only [default: all 50000]
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = limit_train)]
    limit_train: Option<usize>,

    /// Keep the training examples in file order every epoch
    #[arg(long)]
    no_shuffle: bool,

    /// Start from these safetensors weights instead of random ones
    #[arg(long, value_name = "FILE", conflicts_with = "load")]
    init: Option<PathBuf>,

    /// Same as --init; with --epochs 0 only evaluates
    #[arg(long, value_name = "FILE")]
    load: Option<PathBuf>,

    /// Write the trained weights to this safetensors file
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,

    /// Classify the images of this IDX file (.gz or plain) with the --load weights instead of training
    #[arg(long, value_name = "IDX_FILE")]
    predict: Option<PathBuf>,
}

/// The flags after cross-checking: --load merged into --init (which --predict then uses), the data root resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub dataset: Dataset,
    pub data_dir: PathBuf,
    pub epochs: u64,
    pub batch_size: usize,
    pub lr: f64,
    pub momentum: f64,
    pub seed: u32,
    /// The number of training examples used: --limit-train, else all 50000.
    pub limit_train: usize,
    /// false with --no-shuffle.
    pub shuffle: bool,
    /// --init or --load.
    pub init: Option<PathBuf>,
    pub save: Option<PathBuf>,
    /// With --predict, `init` holds the --load file (checked here).
    pub predict: Option<PathBuf>,
}

/// What the command line asks for: a run, or the help text (for stdout).
#[derive(Debug)]
pub enum Parsed {
    Run(Args),
    Help(String),
}

/// Parse this process's flags; `about` is the row's one-line description for --help.
pub fn parse_args(about: &str) -> Result<Parsed, Failure> {
    parse_from(std::env::args_os(), about, std::env::var_os("MNIST_DATA_DIR"))
}

/// Parse `argv` (program name first); `env_data_dir` is $MNIST_DATA_DIR.
pub fn parse_from(
    argv: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    about: &str,
    env_data_dir: Option<OsString>,
) -> Result<Parsed, Failure> {
    let command = Cli::command().about(about.to_owned());
    let cli = match command.try_get_matches_from(argv).and_then(|matches| Cli::from_arg_matches(&matches)) {
        Ok(cli) => cli,
        Err(error) if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Parsed::Help(error.render().to_string()));
        }
        Err(error) => return Err(bad_input(usage_message(&error))),
    };
    if cli.predict.is_some() && cli.load.is_none() {
        return Err(bad_input("--predict needs the weights to classify with: add --load FILE"));
    }
    let data_dir = cli.data_dir.unwrap_or_else(|| match env_data_dir {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("data"),
    });
    if let Some(save) = &cli.save {
        let parent = save.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(bad_input(format!("--save: directory {} does not exist", parent.display())));
        }
    }
    Ok(Parsed::Run(Args {
        dataset: cli.dataset,
        data_dir,
        epochs: cli.epochs,
        batch_size: cli.batch_size,
        lr: cli.lr,
        momentum: cli.momentum,
        seed: cli.seed,
        limit_train: cli.limit_train.unwrap_or(TRAIN_EXAMPLES),
        shuffle: !cli.no_shuffle,
        init: cli.init.or(cli.load),
        save: cli.save,
        predict: cli.predict,
    }))
}

// Value parsers: the Err text completes "<flag> must be ...".
fn integer(text: &str, low: u64, high: u64, wanted: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(value) if (low..=high).contains(&value) => Ok(value),
        _ => Err(wanted.to_owned()),
    }
}

fn epochs(text: &str) -> Result<u64, String> {
    integer(text, 0, u64::MAX, "an integer >= 0")
}

fn batch_size(text: &str) -> Result<usize, String> {
    integer(text, 1, usize::MAX as u64, "an integer >= 1").map(|v| v as usize)
}

fn seed(text: &str) -> Result<u32, String> {
    integer(text, 0, u32::MAX as u64, "an integer in 0..4294967295").map(|v| v as u32)
}

fn limit_train(text: &str) -> Result<usize, String> {
    integer(text, 1, TRAIN_EXAMPLES as u64, "an integer in 1..50000").map(|v| v as usize)
}

fn number(text: &str, ok: impl Fn(f64) -> bool, wanted: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && ok(value) => Ok(value),
        _ => Err(wanted.to_owned()),
    }
}

fn lr(text: &str) -> Result<f64, String> {
    number(text, |v| v > 0.0, "a number > 0")
}

fn momentum(text: &str) -> Result<f64, String> {
    number(text, |v| (0.0..1.0).contains(&v), "a number in [0, 1)")
}

/// clap's multi-line error as one line: "--batch-size must be an integer >= 1, got '-5'".
fn usage_message(error: &clap::Error) -> String {
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        _ => None,
    };
    // InvalidArg reads "--batch-size <N>"; the flag is its first word.
    let flag = context(ContextKind::InvalidArg).and_then(|arg| arg.split_whitespace().next().map(str::to_owned));
    let value = context(ContextKind::InvalidValue);
    match (error.kind(), flag, value) {
        (ErrorKind::ValueValidation, Some(flag), Some(value)) => {
            let wanted = std::error::Error::source(error).map(|s| s.to_string()).unwrap_or_default();
            format!("{flag} must be {wanted}, got '{value}'")
        }
        (ErrorKind::InvalidValue, Some(flag), Some(value)) if !value.is_empty() => {
            let choices = match error.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(values)) => values.join(", "),
                _ => String::new(),
            };
            format!("{flag} must be one of {choices}, got '{value}'")
        }
        _ => {
            let text = one_line(&error.render().to_string());
            let text = text.strip_prefix("error: ").unwrap_or(&text).to_owned();
            format!("{text} (see --help)")
        }
    }
}

#[cfg(test)]
mod tests;
