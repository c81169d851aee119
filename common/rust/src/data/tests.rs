//! Unit tests of data.rs.

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
    assert_eq!(bad(parse_idx_images(&images_idx(1, 27, 27 * 27), "f", None)), "f: images are 27x27, expected 28x28");
    assert_eq!(
        bad(parse_idx_images(&images_idx(10, 28, 10 * PIXELS - 1), "f", None)),
        "f: header says 10 images, but holds 7839 pixel bytes (expected 7840)"
    );
    assert!(parse_idx_images(&images_idx(10, 28, 10 * PIXELS + 1), "f", None).is_err());
    assert_eq!(bad(parse_idx_images(&images_idx(2, 28, 2 * PIXELS), "f", Some(3))), "f: holds 2 images, expected 3");
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
    assert_eq!(read_images(&plain).unwrap(), (expected.clone(), 3));
    assert_eq!(read_images(&packed).unwrap(), (expected, 3));

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
