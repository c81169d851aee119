//! The contract's weights file (SPEC.md §5): safetensors, F32 little-endian, exactly PyTorch's six tensors,
//! read and written with the `safetensors` crate and checked against the contract.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{bad_input, one_line, Failure};

/// The six tensors of SPEC.md §5, in the contract's order: PyTorch's state-dict names and shapes.
pub const SHAPES: [(&str, &[usize]); 6] = [
    ("fc1.weight", &[512, 784]),
    ("fc1.bias", &[512]),
    ("fc2.weight", &[512, 512]),
    ("fc2.bias", &[512]),
    ("fc3.weight", &[10, 512]),
    ("fc3.bias", &[10]),
];

/// One named parameter tensor: its shape and its values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Read a weights file: exactly the six tensors, F32, of the contract's shapes (in [`SHAPES`] order);
/// anything else is bad input (exit status 2) with a message that names the file and the tensor.
pub fn load(path: &Path) -> Result<Vec<Param>, Failure> {
    let shown = path.display();
    if !path.is_file() {
        return Err(bad_input(format!("{shown}: weights file not found")));
    }
    let bytes = std::fs::read(path).map_err(|error| bad_input(format!("{shown}: cannot read weights ({error})")))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|error| bad_input(format!("{shown}: not a safetensors file ({})", one_line(&error.to_string()))))?;
    let views: HashMap<String, TensorView> = file.tensors().into_iter().collect();

    if let Some((name, _)) = SHAPES.iter().find(|(name, _)| !views.contains_key(*name)) {
        return Err(bad_input(format!("{shown}: weights file lacks tensor {name}")));
    }
    let mut extra: Vec<&String> = views.keys().filter(|name| !SHAPES.iter().any(|(n, _)| n == name)).collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(bad_input(format!("{shown}: weights file has unexpected tensor {name}")));
    }
    let mut params = Vec::with_capacity(SHAPES.len());
    for (name, shape) in SHAPES {
        let view = &views[name];
        if view.dtype() != Dtype::F32 {
            return Err(bad_input(format!("{shown}: tensor {name} is {:?}, expected F32 (float32)", view.dtype())));
        }
        if view.shape() != shape {
            return Err(bad_input(format!("{shown}: tensor {name} has shape {:?}, expected {shape:?}", view.shape())));
        }
        // SafeTensors::deserialize has checked that the bytes match the shape and dtype.
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        params.push(Param { name: name.to_owned(), shape: shape.to_vec(), values });
    }
    Ok(params)
}

/// Write the six tensors as a safetensors file (the crate orders them by name in the file). A set of
/// tensors that is not the contract's is the row's bug (exit status 1); a file that cannot be written,
/// the user's (exit status 2).
pub fn save(path: &Path, params: &[Param]) -> Result<(), Failure> {
    let mut names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    let mut expected: Vec<&str> = SHAPES.iter().map(|(name, _)| *name).collect();
    expected.sort();
    if names != expected {
        return Err(Failure::Internal(format!("weights to save are {names:?}, expected {expected:?}")));
    }
    let bytes: Vec<(&str, Vec<u8>)> =
        params.iter().map(|p| (p.name.as_str(), p.values.iter().flat_map(|v| v.to_le_bytes()).collect())).collect();
    let mut views = Vec::with_capacity(params.len());
    for (param, (name, data)) in params.iter().zip(&bytes) {
        let wanted = SHAPES.iter().find(|(n, _)| n == name).map(|(_, shape)| *shape).unwrap_or_default();
        if param.shape != wanted {
            return Err(Failure::Internal(format!(
                "weights to save: {name} has shape {:?}, expected {wanted:?}",
                param.shape
            )));
        }
        views.push((*name, TensorView::new(Dtype::F32, param.shape.clone(), data)?));
    }
    let file = safetensors::serialize(views, None)?;
    std::fs::write(path, file).map_err(|error| bad_input(format!("{}: cannot write weights ({error})", path.display())))
}

#[cfg(test)]
mod tests;
