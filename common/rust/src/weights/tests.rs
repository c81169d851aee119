//! Unit tests of weights.rs.

use super::*;
use crate::testing::TempDir;

/// The contract's six tensors, each filled with a recognisable ramp.
fn params() -> Vec<Param> {
    SHAPES
        .iter()
        .enumerate()
        .map(|(k, (name, shape))| Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            values: (0..shape.iter().product::<usize>()).map(|i| k as f32 + i as f32 * 1e-3).collect(),
        })
        .collect()
}

/// A safetensors file of `tensors` (name, dtype, shape), each zero-filled.
fn write_file(path: &Path, tensors: &[(&str, Dtype, Vec<usize>)]) {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, dtype, shape)| vec![0; shape.iter().product::<usize>() * dtype.bitsize() / 8])
        .collect();
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .zip(&data)
        .map(|((name, dtype, shape), bytes)| (*name, TensorView::new(*dtype, shape.clone(), bytes).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn contract_tensors() -> Vec<(&'static str, Dtype, Vec<usize>)> {
    SHAPES.iter().map(|(name, shape)| (*name, Dtype::F32, shape.to_vec())).collect()
}

fn bad(path: &Path) -> String {
    let failure = load(path).unwrap_err();
    assert_eq!(failure.exit_code(), 2, "{failure}");
    failure.to_string().strip_prefix(&format!("{}: ", path.display())).expect("names the file").to_owned()
}

#[test]
fn round_trip() {
    let dir = TempDir::new("weights");
    let path = dir.path().join("w.safetensors");
    let mut shuffled = params();
    shuffled.reverse(); // the order handed in does not matter
    save(&path, &shuffled).unwrap();
    assert_eq!(load(&path).unwrap(), params());
    // Same tensors, same bytes, whatever the order.
    let first = std::fs::read(&path).unwrap();
    save(&path, &params()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), first);
    // The file is plain safetensors: F32, the contract's shapes, little-endian values.
    let file = SafeTensors::deserialize(&first).unwrap();
    let bias = file.tensor("fc3.bias").unwrap();
    assert_eq!((bias.dtype(), bias.shape()), (Dtype::F32, &[10][..]));
    assert_eq!(bias.data()[4..8], (5.0f32 + 1e-3).to_le_bytes());
    assert!(SafeTensors::read_metadata(&first).unwrap().1.metadata().is_none());
}

#[test]
fn bad_files() {
    let dir = TempDir::new("badweights");
    let path = dir.path().join("w.safetensors");
    assert_eq!(bad(&path), "weights file not found");
    assert_eq!(bad(dir.path()), "weights file not found");

    std::fs::write(&path, b"definitely not safetensors").unwrap();
    assert!(bad(&path).starts_with("not a safetensors file ("));
    std::fs::write(&path, b"").unwrap();
    assert!(bad(&path).starts_with("not a safetensors file ("));

    let mut tensors = contract_tensors();
    tensors.remove(3);
    write_file(&path, &tensors);
    assert_eq!(bad(&path), "weights file lacks tensor fc2.bias");

    let mut tensors = contract_tensors();
    tensors.push(("fc4.weight", Dtype::F32, vec![1]));
    tensors.push(("extra", Dtype::F32, vec![1]));
    write_file(&path, &tensors);
    assert_eq!(bad(&path), "weights file has unexpected tensor extra");

    let mut tensors = contract_tensors();
    tensors[0].1 = Dtype::F64;
    write_file(&path, &tensors);
    assert_eq!(bad(&path), "tensor fc1.weight is F64, expected F32 (float32)");

    let mut tensors = contract_tensors();
    tensors[2].2 = vec![512, 511];
    write_file(&path, &tensors);
    assert_eq!(bad(&path), "tensor fc2.weight has shape [512, 511], expected [512, 512]");

    // A header whose offsets do not match the data.
    save(&path, &params()).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 4);
    std::fs::write(&path, bytes).unwrap();
    assert!(bad(&path).starts_with("not a safetensors file ("));
}

#[test]
fn save_errors() {
    let dir = TempDir::new("saveweights");
    let unwritable = dir.path().join("missing-dir").join("w.safetensors");
    let failure = save(&unwritable, &params()).unwrap_err();
    assert_eq!(failure.exit_code(), 2);
    assert!(failure.to_string().starts_with(&format!("{}: cannot write weights (", unwritable.display())));

    let path = dir.path().join("w.safetensors");
    assert_eq!(save(&path, &params()[..5]).unwrap_err().exit_code(), 1);
    let mut wrong = params();
    wrong[1].shape = vec![511];
    assert_eq!(save(&path, &wrong).unwrap_err().exit_code(), 1);
    let mut short = params();
    short[0].values.pop();
    assert_eq!(save(&path, &short).unwrap_err().exit_code(), 1);
    assert!(!path.exists());
}
