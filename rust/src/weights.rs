//! The contract's weights file (SPEC.md §5): safetensors, F32, PyTorch's names and layout.
//! candle's safetensors support reads and writes the file; this module checks it against the contract.

use std::collections::HashMap;
use std::path::Path;

use candle_core::safetensors::{Load, SliceSafetensors};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;

use crate::report::{bad_input, one_line, Failure};

pub const SHAPES: [(&str, &[usize]); 6] = [
    ("fc1.weight", &[512, 784]),
    ("fc1.bias", &[512]),
    ("fc2.weight", &[512, 512]),
    ("fc2.bias", &[512]),
    ("fc3.weight", &[10, 512]),
    ("fc3.bias", &[10]),
];

/// Read a weights file: exactly the six tensors, F32, of the contract's shapes; otherwise bad input.
pub fn load(path: &Path) -> Result<HashMap<String, Tensor>, Failure> {
    let shown = path.display();
    if !path.is_file() {
        return Err(bad_input(format!("{shown}: weights file not found")));
    }
    let bytes = std::fs::read(path).map_err(|error| bad_input(format!("{shown}: cannot read weights ({error})")))?;
    let file = SliceSafetensors::new(&bytes)
        .map_err(|error| bad_input(format!("{shown}: not a safetensors file ({})", one_line(&error.to_string()))))?;
    let views: HashMap<String, _> = file.tensors().into_iter().collect();

    if let Some((name, _)) = SHAPES.iter().find(|(name, _)| !views.contains_key(*name)) {
        return Err(bad_input(format!("{shown}: weights file lacks tensor {name}")));
    }
    let mut extra: Vec<&String> = views.keys().filter(|name| !SHAPES.iter().any(|(n, _)| n == name)).collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(bad_input(format!("{shown}: weights file has unexpected tensor {name}")));
    }
    let mut tensors = HashMap::new();
    for (name, shape) in SHAPES {
        let tensor = views[name]
            .load(&Device::Cpu)
            .map_err(|error| bad_input(format!("{shown}: tensor {name}: {}", one_line(&error.to_string()))))?;
        if tensor.dtype() != DType::F32 {
            return Err(bad_input(format!("{shown}: tensor {name} is {:?}, expected F32 (float32)", tensor.dtype())));
        }
        if tensor.dims() != shape {
            return Err(bad_input(format!("{shown}: tensor {name} has shape {:?}, expected {shape:?}", tensor.dims())));
        }
        tensors.insert(name.to_owned(), tensor);
    }
    Ok(tensors)
}

/// Write the model's variables (named fc1.weight, ... by the VarBuilder paths) with candle.
pub fn save(path: &Path, varmap: &VarMap) -> Result<(), Failure> {
    varmap.save(path).map_err(|error| {
        bad_input(format!("{}: cannot write weights ({})", path.display(), one_line(&error.to_string())))
    })
}
