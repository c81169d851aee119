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

/// An IDX image file for --predict, gzip-compressed or plain (told apart by gzip's magic `1f 8b`):
/// any number of images, 784 pixels in [0, 1] each, image after image.
pub fn read_images(path: &Path) -> Result<Vec<f32>, Failure> {
    let bytes = read_file(path)?;
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) { gunzip(&bytes, path)? } else { bytes };
    parse_idx_images(&raw, &path.display().to_string(), None)
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
mod tests {
    use super::*;
    use crate::testing::TempDir;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn images_idx(count: u32, side: u32, pixels: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for word in [IMAGE_MAGIC, count, side, side] {
            bytes.extend(word.to_be_bytes());
        }
        bytes.extend((0..pixels).map(|i| (i % 256) as u8));
        bytes
    }

    fn labels_idx(labels: &[u8]) -> Vec<u8> {
        let mut bytes = LABEL_MAGIC.to_be_bytes().to_vec();
        bytes.extend((labels.len() as u32).to_be_bytes());
        bytes.extend(labels);
        bytes
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn bad(result: Result<impl std::fmt::Debug, Failure>) -> String {
        let failure = result.unwrap_err();
        assert_eq!(failure.exit_code(), 2, "{failure}");
        failure.to_string()
    }

    #[test]
    fn images_are_scaled_row_major() {
        let pixels = parse_idx_images(&images_idx(2, 28, 2 * PIXELS), "f", Some(2)).unwrap();
        assert_eq!(pixels.len(), 2 * PIXELS);
        assert_eq!((pixels[0], pixels[1], pixels[255]), (0.0, 1.0 / 255.0, 1.0));
    }

    #[test]
    fn image_checks() {
        assert_eq!(bad(parse_idx_images(&[0; 10], "f", None)), "f: too short for an IDX image header (10 bytes)");
        let mut wrong_magic = images_idx(1, 28, PIXELS);
        wrong_magic[3] = 0x01;
        assert_eq!(
            bad(parse_idx_images(&wrong_magic, "f", None)),
            "f: not an IDX image file (magic 0x00000801, expected 0x00000803)"
        );
        assert_eq!(
            bad(parse_idx_images(&images_idx(1, 27, 27 * 27), "f", None)),
            "f: images are 27x27, expected 28x28"
        );
        assert_eq!(
            bad(parse_idx_images(&images_idx(10, 28, 10 * PIXELS - 1), "f", None)),
            "f: header says 10 images, but holds 7839 pixel bytes (expected 7840)"
        );
        assert!(parse_idx_images(&images_idx(10, 28, 10 * PIXELS + 1), "f", None).is_err());
        assert_eq!(
            bad(parse_idx_images(&images_idx(2, 28, 2 * PIXELS), "f", Some(3))),
            "f: holds 2 images, expected 3"
        );
        assert_eq!(parse_idx_images(&images_idx(0, 28, 0), "f", None).unwrap().len(), 0);
    }

    #[test]
    fn label_checks() {
        assert_eq!(parse_idx_labels(&labels_idx(&[0, 9, 3]), "l", 3).unwrap(), vec![0, 9, 3]);
        assert_eq!(bad(parse_idx_labels(&[0; 4], "l", 3)), "l: too short for an IDX label header (4 bytes)");
        let mut wrong_magic = labels_idx(&[1]);
        wrong_magic[3] = 0x03;
        assert_eq!(
            bad(parse_idx_labels(&wrong_magic, "l", 1)),
            "l: not an IDX label file (magic 0x00000803, expected 0x00000801)"
        );
        let mut short = labels_idx(&[1, 2]);
        short.pop();
        assert_eq!(bad(parse_idx_labels(&short, "l", 2)), "l: header says 2 labels, but holds 1 bytes");
        assert_eq!(bad(parse_idx_labels(&labels_idx(&[1, 2]), "l", 3)), "l: holds 2 labels, expected 3");
        assert_eq!(bad(parse_idx_labels(&labels_idx(&[1, 10]), "l", 2)), "l: label 10 is out of range 0-9");
    }

    #[test]
    fn predict_files_plain_or_gzip() {
        let dir = TempDir::new("idx");
        let raw = images_idx(3, 28, 3 * PIXELS);
        let (plain, packed) = (dir.path().join("x.idx"), dir.path().join("x.idx.gz"));
        std::fs::write(&plain, &raw).unwrap();
        std::fs::write(&packed, gzip(&raw)).unwrap();
        let expected = parse_idx_images(&raw, "x", None).unwrap();
        assert_eq!(read_images(&plain).unwrap(), expected);
        assert_eq!(read_images(&packed).unwrap(), expected);

        let missing = dir.path().join("none.idx");
        assert_eq!(bad(read_images(&missing)), format!("{}: file not found", missing.display()));
        let truncated = dir.path().join("t.gz");
        let zipped = gzip(&raw);
        std::fs::write(&truncated, &zipped[..zipped.len() / 2]).unwrap();
        assert_eq!(bad(read_images(&truncated)), format!("{}: not a valid gzip file (truncated)", truncated.display()));
    }

    #[test]
    fn missing_data_directory() {
        let dir = TempDir::new("nodata");
        let message = bad(load_splits(dir.path(), "mnist", 100).map(|_| ()));
        assert!(message.starts_with(&format!("data directory {} not found", dir.path().join("mnist").display())));
    }

    #[test]
    fn splits_by_position() {
        // A full-size synthetic dataset: example i's label is i % 10 and its first pixel i % 256.
        let dir = TempDir::new("splits");
        let folder = dir.path().join("mnist");
        std::fs::create_dir(&folder).unwrap();
        let write = |name: &str, count: usize, images: bool| {
            let raw = if images {
                let mut raw = images_idx(count as u32, 28, 0);
                raw.extend((0..count).flat_map(|i| std::iter::once((i % 256) as u8).chain([0; PIXELS - 1])));
                raw
            } else {
                labels_idx(&(0..count).map(|i| (i % 10) as u8).collect::<Vec<_>>())
            };
            std::fs::write(folder.join(name), gzip(&raw)).unwrap();
        };
        write("train-images-idx3-ubyte.gz", 60_000, true);
        write("train-labels-idx1-ubyte.gz", 60_000, false);
        write("t10k-images-idx3-ubyte.gz", 10_000, true);
        write("t10k-labels-idx1-ubyte.gz", 9_999, false);
        let message = bad(load_splits(dir.path(), "mnist", 50_000).map(|_| ()));
        assert!(message.ends_with("t10k-labels-idx1-ubyte.gz: holds 9999 labels, expected 10000"), "{message}");

        write("t10k-labels-idx1-ubyte.gz", 10_000, false);
        let splits = load_splits(dir.path(), "mnist", 1234).unwrap();
        assert_eq!((splits.train.len(), splits.val.len(), splits.test.len()), (1234, 10_000, 10_000));
        assert_eq!(splits.train.images.len(), 1234 * PIXELS);
        assert_eq!(splits.val.labels[..3], [0, 1, 2]); // example 50,000
        assert_eq!(splits.val.images[PIXELS], (50_001 % 256) as f32 / 255.0);
        assert_eq!(splits.train.labels[1233], 3);

        std::fs::write(folder.join("train-images-idx3-ubyte.gz"), b"not gzip").unwrap();
        let message = bad(load_splits(dir.path(), "mnist", 10).map(|_| ()));
        assert!(message.contains("train-images-idx3-ubyte.gz: not a valid gzip file"), "{message}");
    }
}
