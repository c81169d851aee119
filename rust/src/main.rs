//! MNIST in Rust with candle: tensors, candle's autograd and SGD with momentum of our own. The contract's plumbing
//! (flags, IDX files, weights file, log lines, errors, the seeded RNG) is the mnist_contract crate in common/rust/,
//! which every Rust row shares. Same model, data and hyperparameters as every row (SPEC.md); from the repository root:
//!
//!     cargo run --release --manifest-path rust/Cargo.toml -- --epochs 1

use std::{collections::HashMap, path::Path, time::Instant};

use candle_core::{DType, Device, Module, Tensor, Var, D};
use candle_nn::{loss, ops};
use mnist_contract::{check_finite, data, log, progress, rng, weights, Args, Failure};

const ROW: &str = "rust";
const ABOUT: &str = "Train the SPEC.md MLP on MNIST with candle: tensors, autograd, and SGD with momentum.";

// ---------------------------------------------------------------- data
/// A split as candle tensors: images f32 [n, 784] in [0, 1], labels u32 [n]. mnist_contract::data has read and
/// checked the IDX files (SPEC.md §1), and candle takes its vectors as they are.
struct Split {
    images: Tensor,
    labels: Tensor,
    len: usize,
}

fn to_tensors(split: data::Split) -> candle_core::Result<Split> {
    let len = split.len();
    let images = Tensor::from_vec(split.images, (len, data::PIXELS), &Device::Cpu)?;
    Ok(Split { images, labels: Tensor::from_vec(split.labels, len, &Device::Cpu)?, len })
}

// ---------------------------------------------------------------- model
/// (name, fan_in, fan_out) of each layer: x[784] → fc1 → ReLU → fc2 → ReLU → fc3 → logits[10].
const LAYERS: [(&str, usize, usize); 3] = [("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10)];

/// Every parameter under its PyTorch name (fc1.weight, ...) as a `Var`: autograd tracks it, the optimiser sets it.
type Params = HashMap<String, Var>;

/// PyTorch's nn.Linear default: weight *and* bias ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)), drawn from the row's
/// own seeded RNG (candle's CPU random numbers cannot be seeded: Device::set_seed fails on the CPU).
fn init_params(rng: &mut rng::Rng) -> candle_core::Result<Params> {
    let mut params = Params::new();
    for (layer, fan_in, fan_out) in LAYERS {
        let bound = 1.0 / (fan_in as f64).sqrt();
        for (name, shape) in [("weight", vec![fan_out, fan_in]), ("bias", vec![fan_out])] {
            let values = rng::uniform(rng, bound, shape.iter().product());
            params.insert(format!("{layer}.{name}"), to_var(values, shape)?);
        }
    }
    Ok(params)
}

/// A parameter as a `Var`; a weight, [out, in] (PyTorch's layout, the file's), is kept as [in, out] (see `Net`).
fn to_var(values: Vec<f32>, shape: Vec<usize>) -> candle_core::Result<Var> {
    let tensor = Tensor::from_vec(values, shape, &Device::Cpu)?;
    Var::from_tensor(&if tensor.rank() == 2 { tensor.t()?.contiguous()? } else { tensor })
}

/// The parameters of a weights file (--init, --load), which mnist_contract::weights checks against SPEC.md §5.
fn load_params(path: &Path) -> Result<Params, Failure> {
    weights::load(path)?.into_iter().map(|p| Ok((p.name, to_var(p.values, p.shape)?))).collect()
}

/// Write the parameters as a safetensors file (--save), the weights back in PyTorch's [out, in] layout.
fn save_params(path: &Path, params: &Params) -> Result<(), Failure> {
    let to_param = |(name, var): (&String, &Var)| -> candle_core::Result<weights::Param> {
        let t = if var.rank() == 2 { var.t()? } else { var.as_tensor().clone() };
        Ok(weights::Param { name: name.clone(), shape: t.dims().to_vec(), values: t.flatten_all()?.to_vec1()? })
    };
    weights::save(path, &params.iter().map(to_param).collect::<candle_core::Result<Vec<_>>>()?)
}

/// (weight, bias) of fc1, fc2, fc3, sharing the parameters' storage; each layer is x·W + b with W as [in, out]
/// (candle_nn::Linear's x·Wᵀ makes autograd add Wᵀ's gradient into W's, a strided pass each step: README).
struct Net([(Tensor, Tensor); 3]);

impl Net {
    fn new(params: &Params) -> Net {
        let tensor = |name: String| params[&name].as_tensor().clone(); // shares the Var's storage
        Net(["fc1", "fc2", "fc3"].map(|fc| (tensor(format!("{fc}.weight")), tensor(format!("{fc}.bias")))))
    }
}

impl Module for Net {
    /// The logits of a batch: fc1 → ReLU → fc2 → ReLU → fc3 (the loss applies the softmax).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let [(w1, b1), (w2, b2), (w3, b3)] = &self.0;
        let h1 = x.matmul(w1)?.broadcast_add(b1)?.relu()?;
        let h2 = h1.matmul(w2)?.broadcast_add(b2)?.relu()?;
        h2.matmul(w3)?.broadcast_add(b3)
    }
}

// ---------------------------------------------------------------- optimiser
/// SGD with momentum in PyTorch's form, no dampening, no Nesterov, no weight decay (SPEC.md §3):
/// buf ← μ·buf + g (buf starts at 0, so the first step is buf = g); p ← p − lr·buf. (candle_nn's SGD has no momentum.)
struct SgdMomentum {
    vars: Vec<Var>,
    velocity: Vec<Tensor>,
    lr: f64,
    momentum: f64,
}

impl SgdMomentum {
    fn new(vars: Vec<Var>, lr: f64, momentum: f64) -> candle_core::Result<Self> {
        let velocity = vars.iter().map(|var| var.zeros_like()).collect::<candle_core::Result<_>>()?;
        Ok(SgdMomentum { vars, velocity, lr, momentum })
    }

    /// Backpropagate `loss` through the graph that produced it, then update every parameter.
    fn backward_step(&mut self, loss: &Tensor) -> candle_core::Result<()> {
        let grads = loss.backward()?;
        for (var, buf) in self.vars.iter().zip(self.velocity.iter_mut()) {
            if let Some(grad) = grads.get(var) {
                *buf = (buf.affine(self.momentum, 0.0)? + grad.detach())?; // buf ← μ·buf + g, holding no graph
                var.set(&var.sub(&buf.affine(self.lr, 0.0)?)?)?; // p ← p − lr·buf (in place: the Net sees it)
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- train step
/// Correct predictions of a batch.
fn count_correct(logits: &Tensor, labels: &Tensor) -> candle_core::Result<u64> {
    let hits = logits.argmax(D::Minus1)?.eq(labels)?.to_dtype(DType::U32)?.sum_all()?;
    Ok(hits.to_scalar::<u32>()? as u64)
}

/// One SGD step: forward, mean cross-entropy, backward through the graph, optimiser update.
/// Returns the batch's mean loss and number of correct predictions.
fn train_step(model: &Net, optimizer: &mut SgdMomentum, x: &Tensor, y: &Tensor) -> candle_core::Result<(f64, u64)> {
    let logits = model.forward(x)?;
    let loss = loss::cross_entropy(&logits, y)?;
    optimizer.backward_step(&loss)?;
    Ok((loss.to_scalar::<f32>()? as f64, count_correct(&logits, y)?))
}

/// One epoch in a fresh random order (file order with --no-shuffle); mean loss and accuracy.
fn train_epoch(
    model: &Net,
    optimizer: &mut SgdMomentum,
    train: &Split,
    args: &Args,
    epoch: u64,
    rng: &mut rng::Rng,
) -> candle_core::Result<(f64, f64)> {
    let order = rng::epoch_order(train.len, args.shuffle, rng);
    let batches = order.len().div_ceil(args.batch_size);
    let (mut total_loss, mut correct, mut seen) = (0.0, 0, 0);
    for (k, batch) in order.chunks(args.batch_size).enumerate() {
        let index = Tensor::from_slice(batch, batch.len(), &Device::Cpu)?;
        let x = train.images.index_select(&index, 0)?;
        let y = train.labels.index_select(&index, 0)?;
        let (loss, hits) = train_step(model, optimizer, &x, &y)?;
        total_loss += loss * batch.len() as f64;
        correct += hits;
        seen += batch.len();
        progress::train(epoch, args.epochs, k + 1, batches, || total_loss / seen as f64);
    }
    Ok((total_loss / train.len as f64, correct as f64 / train.len as f64))
}

// ---------------------------------------------------------------- evaluate
/// Mean loss and accuracy over a whole split, 1000 examples at a time.
fn evaluate(model: &Net, split: &Split) -> candle_core::Result<(f64, f64)> {
    let (mut total_loss, mut correct) = (0.0, 0);
    for start in (0..split.len).step_by(1000) {
        let n = 1000.min(split.len - start);
        let x = split.images.narrow(0, start, n)?;
        let y = split.labels.narrow(0, start, n)?;
        let logits = model.forward(&x)?;
        total_loss += loss::cross_entropy(&logits, &y)?.to_scalar::<f32>()? as f64 * n as f64;
        correct += count_correct(&logits, &y)?;
    }
    Ok((total_loss / split.len as f64, correct as f64 / split.len as f64))
}

/// Softmax probabilities of each image's ten classes (--predict). candle's fused softmax_last_dim, unlike
/// ops::softmax, also takes a file of zero images.
fn predict(model: &Net, images: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    ops::softmax_last_dim(&model.forward(images)?)?.to_vec2()
}

// ---------------------------------------------------------------- main
fn run(args: &Args) -> Result<(), Failure> {
    log::start(ROW, concat!("candle/", env!("MNIST_CANDLE_VERSION")), "cpu");
    // --predict: classify the file's images with the --load weights; no dataset, no training.
    if let (Some(path), Some(load)) = (&args.predict, &args.init) {
        let model = Net::new(&load_params(load)?);
        let (pixels, count) = data::read_images(path)?;
        let images = Tensor::from_vec(pixels, (count, data::PIXELS), &Device::Cpu)?;
        for (index, probabilities) in predict(&model, &images)?.iter().enumerate() {
            log::predict(index, probabilities);
        }
        return Ok(());
    }
    log::config(args);
    let (splits, seconds) = data::load(args)?;
    log::data(&splits, seconds);
    let (train, val, test) = (to_tensors(splits.train)?, to_tensors(splits.val)?, to_tensors(splits.test)?);

    let mut rng = rng::seeded(args.seed);
    let params = if let Some(path) = &args.init { load_params(path)? } else { init_params(&mut rng)? };
    let model = Net::new(&params);
    let mut optimizer = SgdMomentum::new(params.values().cloned().collect(), args.lr, args.momentum)?;

    for epoch in 1..=args.epochs {
        let started = Instant::now();
        let (train_loss, train_acc) = train_epoch(&model, &mut optimizer, &train, args, epoch, &mut rng)?;
        let seconds = started.elapsed().as_secs_f64();
        check_finite(epoch, train_loss)?;
        let (val_loss, val_acc) = evaluate(&model, &val)?;
        log::epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds);
    }

    let started = Instant::now();
    let (test_loss, test_acc) = evaluate(&model, &test)?;
    log::test(test_loss, test_acc, started.elapsed().as_secs_f64());
    if let Some(path) = &args.save {
        save_params(path, &params)?;
    }
    Ok(())
}

fn main() {
    mnist_contract::main(ROW, ABOUT, run)
}
