//! The contract's data (SPEC.md §1): the four IDX .gz files, decompressed by flate2, checked, scaled and
//! split; and --predict's image file, gzip-compressed or plain (SPEC.md §4).

use std::io::{self, Read};
use std::path::Path;
use std::time::Instant;

use flate2::read::MultiGzDecoder;

use crate::cli::Args;
use crate::error::{bad_input, Failure};
use crate::progress;

const IMAGE_MAGIC: u32 = 0x0000_0803;
const LABEL_MAGIC: u32 = 0x0000_0801;
const SIDE: usize = 28;
/// Values per image: 28 × 28 pixels, row-major.
pub const PIXELS: usize = SIDE * SIDE;
const TRAIN_COUNT: usize = 60_000;
const TEST_COUNT: usize = 10_000;
const VAL_COUNT: usize = 10_000;

/// Examples of one split: `images` holds `len()` × 784 pixels in [0, 1], image after image; labels are 0–9.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Moves examples `at ..` out into a split of their own.
    fn split_off(&mut self, at: usize) -> Split {
        Split { images: self.images.split_off(at * PIXELS), labels: self.labels.split_off(at) }
    }

    /// Keeps the first `len` examples.
    fn truncate(&mut self, len: usize) {
        self.images.truncate(len * PIXELS);
        self.labels.truncate(len);
    }
}

/// The train / validation / test split of SPEC.md §1.
#[derive(Debug)]
pub struct Splits {
    pub train: Split,
    pub val: Split,
    pub test: Split,
}

/// Read the dataset the flags name (printing the `data` progress line first); returns the splits and
/// the seconds reading and decoding took.
pub fn load(args: &Args) -> Result<(Splits, f64), Failure> {
    progress::data(args.dataset.name());
    let started = Instant::now();
    let splits = load_splits(&args.data_dir, args.dataset.name(), args.limit_train)?;
    Ok((splits, started.elapsed().as_secs_f64()))
}

/// `<data_dir>/<dataset>/`'s four files, split by position: train = the first `limit_train` of training
/// examples 0–49,999, validate = 50,000–59,999, test = the t10k files.
pub fn load_splits(data_dir: &Path, dataset: &str, limit_train: usize) -> Result<Splits, Failure> {
    let directory = data_dir.join(dataset);
    if !directory.is_dir() {
        return Err(bad_input(format!(
            "data directory {} not found: run `invoke data`, or point --data-dir / MNIST_DATA_DIR at the folder \
             that holds {dataset}/",
            directory.display()
        )));
    }
    let mut train = read_split(&directory, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", TRAIN_COUNT)?;
    let test = read_split(&directory, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", TEST_COUNT)?;
    let val = train.split_off(TRAIN_COUNT - VAL_COUNT);
    train.truncate(limit_train.min(TRAIN_COUNT - VAL_COUNT));
    Ok(Splits { train, val, test })
}

/// An IDX image file for --predict, gzip-compressed or plain (told apart by gzip's magic `1f 8b`), holding
/// any number of images: their 784 pixels each in [0, 1], image after image, and how many there are.
pub fn read_images(path: &Path) -> Result<(Vec<f32>, usize), Failure> {
    let bytes = read_file(path)?;
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) { gunzip(&bytes, path)? } else { bytes };
    let pixels = parse_idx_images(&raw, &path.display().to_string(), None)?;
    let count = pixels.len() / PIXELS;
    Ok((pixels, count))
}

/// One pair of files, each checked, with `expected` examples.
fn read_split(directory: &Path, images_file: &str, labels_file: &str, expected: usize) -> Result<Split, Failure> {
    let (images_path, labels_path) = (directory.join(images_file), directory.join(labels_file));
    let images = parse_idx_images(&read_gz(&images_path)?, &images_path.display().to_string(), Some(expected))?;
    let labels = parse_idx_labels(&read_gz(&labels_path)?, &labels_path.display().to_string(), expected)?;
    Ok(Split { images, labels })
}

/// A file's bytes; a missing or unreadable file is bad input.
fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => bad_input(format!("{}: file not found", path.display())),
        _ => bad_input(format!("{}: cannot read ({error})", path.display())),
    })
}

/// The decompressed bytes of gzip data read from `path`; truncated or corrupt data is bad input.
fn gunzip(compressed: &[u8], path: &Path) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    MultiGzDecoder::new(compressed).read_to_end(&mut bytes).map_err(|error| {
        let reason = match error.kind() {
            io::ErrorKind::UnexpectedEof => "truncated".to_owned(),
            _ => error.to_string(),
        };
        bad_input(format!("{}: not a valid gzip file ({reason})", path.display()))
    })?;
    Ok(bytes)
}

/// The decompressed bytes of a .gz file.
fn read_gz(path: &Path) -> Result<Vec<u8>, Failure> {
    gunzip(&read_file(path)?, path)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// IDX3 bytes → f32 pixels scaled to [0, 1], 784 per image; `expected` images, if given.
fn parse_idx_images(raw: &[u8], name: &str, expected: Option<usize>) -> Result<Vec<f32>, Failure> {
    if raw.len() < 16 {
        return Err(bad_input(format!("{name}: too short for an IDX image header ({} bytes)", raw.len())));
    }
    let (magic, count) = (be_u32(raw, 0), be_u32(raw, 4) as usize);
    let (rows, cols) = (be_u32(raw, 8), be_u32(raw, 12));
    if magic != IMAGE_MAGIC {
        return Err(bad_input(format!(
            "{name}: not an IDX image file (magic 0x{magic:08x}, expected 0x{IMAGE_MAGIC:08x})"
        )));
    }
    if (rows, cols) != (SIDE as u32, SIDE as u32) {
        return Err(bad_input(format!("{name}: images are {rows}x{cols}, expected {SIDE}x{SIDE}")));
    }
    let pixels = count as u64 * PIXELS as u64;
    if (raw.len() - 16) as u64 != pixels {
        return Err(bad_input(format!(
            "{name}: header says {count} images, but holds {} pixel bytes (expected {pixels})",
            raw.len() - 16
        )));
    }
    if let Some(expected) = expected.filter(|&expected| expected != count) {
        return Err(bad_input(format!("{name}: holds {count} images, expected {expected}")));
    }
    Ok(raw[16..].iter().map(|&p| p as f32 / 255.0).collect())
}

/// IDX1 bytes → labels, each 0–9.
fn parse_idx_labels(raw: &[u8], name: &str, expected: usize) -> Result<Vec<u32>, Failure> {
    if raw.len() < 8 {
        return Err(bad_input(format!("{name}: too short for an IDX label header ({} bytes)", raw.len())));
    }
    let (magic, count) = (be_u32(raw, 0), be_u32(raw, 4) as usize);
    if magic != LABEL_MAGIC {
        return Err(bad_input(format!(
            "{name}: not an IDX label file (magic 0x{magic:08x}, expected 0x{LABEL_MAGIC:08x})"
        )));
    }
    if raw.len() - 8 != count {
        return Err(bad_input(format!("{name}: header says {count} labels, but holds {} bytes", raw.len() - 8)));
    }
    if count != expected {
        return Err(bad_input(format!("{name}: holds {count} labels, expected {expected}")));
    }
    if let Some(&label) = raw[8..].iter().find(|&&label| label > 9) {
        return Err(bad_input(format!("{name}: label {label} is out of range 0-9")));
    }
    Ok(raw[8..].iter().map(|&label| label as u32).collect())
}

#[cfg(test)]
mod tests;
