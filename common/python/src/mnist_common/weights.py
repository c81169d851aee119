"""The contract's weights file (SPEC.md §5): safetensors, float32, PyTorch's names and layout."""

from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from mnist_common.errors import DataError

SHAPES = {
    "fc1.weight": (512, 784),
    "fc1.bias": (512,),
    "fc2.weight": (512, 512),
    "fc2.bias": (512,),
    "fc3.weight": (10, 512),
    "fc3.bias": (10,),
}


def check(tensors: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """Exactly the six tensors, float32, of the contract's shapes; otherwise a DataError naming the file."""
    missing = [name for name in SHAPES if name not in tensors]
    extra = sorted(set(tensors) - set(SHAPES))
    if missing:
        raise DataError(f"{path}: weights file lacks tensor {missing[0]}")
    if extra:
        raise DataError(f"{path}: weights file has unexpected tensor {extra[0]}")
    for name, shape in SHAPES.items():
        tensor = tensors[name]
        if tensor.dtype != np.float32:
            raise DataError(f"{path}: tensor {name} is {tensor.dtype}, expected float32")
        if tensor.shape != shape:
            raise DataError(f"{path}: tensor {name} has shape {list(tensor.shape)}, expected {list(shape)}")
    return tensors


def load(path: Path) -> dict[str, np.ndarray]:
    """Read and check a weights file into NumPy arrays."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: weights file not found")
    try:
        tensors = load_file(path)
    except (SafetensorError, ValueError, OSError) as error:
        raise DataError(f"{path}: not a safetensors file ({error})") from None
    return check(tensors, path)


def save(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write the six tensors as float32 safetensors."""
    arrays = {name: np.ascontiguousarray(tensors[name], dtype=np.float32) for name in SHAPES}
    check(arrays, Path(path))
    try:
        save_file(arrays, str(path))
    except OSError as error:
        raise DataError(f"{path}: cannot write weights ({error.strerror})") from None
