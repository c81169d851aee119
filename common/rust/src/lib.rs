//! The SPEC.md contract for Rust rows, so that a row's own file holds only the learning.
//!
//! - [`cli`]: the flags (SPEC.md §4), parsed by clap, every mistake one `error:` line;
//! - [`data`]: the IDX files (SPEC.md §1) and --predict's image file, checked, scaled, split;
//! - [`weights`]: the safetensors weights file (SPEC.md §5), read, checked and written;
//! - [`log`]: the log lines on stdout (SPEC.md §6), one typed function per event;
//! - [`progress`]: the rate-limited progress lines on stderr;
//! - [`rng`]: the seeded random numbers for initialisation and shuffling;
//! - [`Failure`] and [`main`]: exit statuses and error lines (SPEC.md §7).
//!
//! It hands rows plain `Vec<f32>` / `Vec<u32>`, whatever their framework. A row's `fn main` is
//!
//! ```no_run
//! mnist_contract::main("rust", "Train the SPEC.md MLP with ...", |args| {
//!     mnist_contract::log::start("rust", "framework/1.0", "cpu");
//!     // ... log::config(args), data::load(args), training, log::test(...)
//!     Ok(())
//! })
//! ```

pub mod cli;
pub mod data;
mod error;
pub mod log;
pub mod progress;
pub mod rng;
pub mod weights;

use std::io::Write;

pub use cli::{Args, Dataset};
pub use error::{bad_input, check_finite, one_line, Failure};

/// Run a row: parse the flags (--help prints the help with `about` as its first line), print the
/// `start` progress line, call `run`, and exit with the contract's status. A failure becomes one
/// `error: ...` line on stderr, and so does a panic, without a backtrace.
pub fn main(row: &str, about: &str, run: impl FnOnce(&Args) -> Result<(), Failure>) -> ! {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {}", info.to_string().replace('\n', " "));
    }));
    let result = cli::parse_args(about).and_then(|parsed| match parsed {
        cli::Parsed::Help(text) => {
            println!("{}", text.trim_end());
            Ok(())
        }
        cli::Parsed::Run(args) => {
            progress::start(row);
            run(&args)
        }
    });
    let _ = std::io::stdout().flush();
    let status = match result {
        Ok(()) => 0,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    };
    std::process::exit(status);
}

#[cfg(test)]
mod testing;
