//! MNIST in Rust with Burn: `nn::Linear` modules, Burn's autodiff over its pure-Rust CPU backend (flex), and
//! burn-optim's SGD with momentum, in a custom training loop like Burn's own `custom-training-loop` example.
//! The contract's plumbing (flags, IDX files, weights file, log lines, errors, the shuffling RNG) is the
//! mnist_contract crate in common/rust/, which every Rust row shares. Same model, data and hyperparameters as
//! every row (SPEC.md); from the repository root:
//!
//!     cargo run --release --manifest-path burn/Cargo.toml -- --epochs 1

use std::{path::Path, time::Instant};

use burn::module::{Module, Param};
use burn::nn::{loss::CrossEntropyLoss, Linear, LinearConfig, Relu};
use burn::optim::{momentum::MomentumConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{activation::softmax, Device, Int, Tensor, TensorData};
use mnist_contract::{check_finite, data, log, progress, rng, weights, Args, Failure};

const ROW: &str = "burn";
const ABOUT: &str =
    "Train the SPEC.md MLP on MNIST with Burn: nn::Linear, autodiff on the flex CPU backend, SGD momentum.";

// ---------------------------------------------------------------- data
/// A split as Burn tensors: images f32 [n, 784] in [0, 1], labels Int [n]. mnist_contract::data has read and
/// checked the IDX files (SPEC.md §1); `TensorData` wraps its vectors with a shape.
struct Split {
    images: Tensor<2>,
    labels: Tensor<1, Int>,
    len: usize,
}

fn to_tensors(split: data::Split, device: &Device) -> Split {
    let len = split.len();
    let images = Tensor::from_data(TensorData::new(split.images, [len, data::PIXELS]), device);
    let labels: Vec<i64> = split.labels.into_iter().map(i64::from).collect();
    Split { images, labels: Tensor::from_data(TensorData::new(labels, [len]), device), len }
}

// ---------------------------------------------------------------- model
/// x[784] → fc1 → ReLU → fc2 → ReLU → fc3 → logits[10]. `#[derive(Module)]` lets Burn walk the parameters:
/// the optimiser, `valid()` (the model without autodiff) and `GradientsParams` all use that.
#[derive(Module, Debug)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
    relu: Relu,
}

impl Mlp {
    /// The logits of a batch (the loss applies the softmax). Burn's Linear computes x·W + b with W as [in, out].
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.relu.forward(self.fc1.forward(x));
        let x = self.relu.forward(self.fc2.forward(x));
        self.fc3.forward(x)
    }
}

/// (name, fan_in, fan_out) of each layer, in the weights file's names.
const LAYERS: [(&str, usize, usize); 3] = [("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10)];

/// Burn's default Linear init is already the contract's (PyTorch's): KaimingUniform with gain 1/√3 draws weight
/// *and* bias from U(±√3·gain/√fan_in) = U(±1/√fan_in). The draws come from the device's RNG, seeded by --seed.
fn init_params(device: &Device) -> Mlp {
    let [fc1, fc2, fc3] = LAYERS.map(|(_, fan_in, fan_out)| LinearConfig::new(fan_in, fan_out).init(device));
    Mlp { fc1, fc2, fc3, relu: Relu::new() }
}

/// The model of a weights file (--init, --load), which mnist_contract::weights checks against SPEC.md §5 and
/// returns in its order: fc1.weight, fc1.bias, fc2.weight, ... The file's [out, in] weights become Burn's [in, out].
fn load_params(path: &Path, device: &Device) -> Result<Mlp, Failure> {
    let mut params = weights::load(path)?.into_iter();
    let mut linear = || {
        let (weight, bias) = (params.next().expect("six tensors"), params.next().expect("six tensors"));
        let weight: Tensor<2> = Tensor::from_data(TensorData::new(weight.values, weight.shape), device);
        let bias = Tensor::from_data(TensorData::new(bias.values, bias.shape), device);
        Linear { weight: Param::from_tensor(weight.transpose()), bias: Some(Param::from_tensor(bias)) }
    };
    Ok(Mlp { fc1: linear(), fc2: linear(), fc3: linear(), relu: Relu::new() })
}

/// Write the parameters as a safetensors file (--save), the weights back in PyTorch's [out, in] layout.
fn save_params(path: &Path, model: &Mlp) -> Result<(), Failure> {
    let mut params = Vec::new();
    for ((name, fan_in, fan_out), layer) in LAYERS.into_iter().zip([&model.fc1, &model.fc2, &model.fc3]) {
        let (weight, bias) = (layer.weight.val().transpose(), layer.bias.as_ref().expect("Linear has a bias").val());
        let param = |part: &str, shape, values| weights::Param { name: format!("{name}.{part}"), shape, values };
        params.push(param("weight", vec![fan_out, fan_in], weight.into_data().try_to_vec()?));
        params.push(param("bias", vec![fan_out], bias.into_data().try_to_vec()?));
    }
    weights::save(path, &params)
}

// ---------------------------------------------------------------- train step
/// Correct predictions of a batch.
fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> u64 {
    let predicted = logits.argmax(1).squeeze_dim(1);
    predicted.equal(labels).int().sum().into_scalar::<i64>() as u64
}

/// One SGD step: forward, mean cross-entropy, backward (Burn's autodiff), optimiser update. Burn's optimiser takes
/// the model by value and returns the updated one. Returns it with the batch's mean loss and correct predictions.
fn train_step(
    model: Mlp,
    optimizer: &mut ModuleOptimizer,
    x: Tensor<2>,
    y: Tensor<1, Int>,
    lr: f64,
) -> (Mlp, f64, u64) {
    let logits = model.forward(x);
    let loss = CrossEntropyLoss::new(None, &logits.device()).forward(logits.clone(), y.clone());
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let model = optimizer.step(lr, model, grads);
    let correct = count_correct(logits.detach(), y);
    (model, loss.into_scalar::<f32>() as f64, correct)
}

/// One epoch in a fresh random order (file order with --no-shuffle); the model, mean loss and accuracy.
fn train_epoch(
    mut model: Mlp,
    optimizer: &mut ModuleOptimizer,
    train: &Split,
    args: &Args,
    epoch: u64,
    rng: &mut rng::Rng,
) -> (Mlp, f64, f64) {
    let order = rng::epoch_order(train.len, args.shuffle, rng);
    let batches = order.len().div_ceil(args.batch_size);
    let (mut total_loss, mut correct, mut seen) = (0.0, 0, 0);
    for (k, batch) in order.chunks(args.batch_size).enumerate() {
        let rows: Vec<i64> = batch.iter().map(|&i| i64::from(i)).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(rows, [batch.len()]), &train.images.device());
        let x = train.images.clone().select(0, index.clone());
        let y = train.labels.clone().select(0, index);
        let (loss, hits);
        (model, loss, hits) = train_step(model, optimizer, x, y, args.lr);
        total_loss += loss * batch.len() as f64;
        correct += hits;
        seen += batch.len();
        progress::train(epoch, args.epochs, k + 1, batches, || total_loss / seen as f64);
    }
    (model, total_loss / train.len as f64, correct as f64 / train.len as f64)
}

// ---------------------------------------------------------------- evaluate
/// Mean loss and accuracy over a whole split, 1000 examples at a time, with `model.valid()`: no autodiff graph.
fn evaluate(model: &Mlp, split: &Split) -> (f64, f64) {
    let (mut total_loss, mut correct) = (0.0, 0);
    for start in (0..split.len).step_by(1000) {
        let end = split.len.min(start + 1000);
        let x = split.images.clone().slice(start..end);
        let y = split.labels.clone().slice(start..end);
        let logits = model.forward(x);
        let loss = CrossEntropyLoss::new(None, &logits.device()).forward(logits.clone(), y.clone());
        total_loss += loss.into_scalar::<f32>() as f64 * (end - start) as f64;
        correct += count_correct(logits, y);
    }
    (total_loss / split.len as f64, correct as f64 / split.len as f64)
}

/// Softmax probabilities of each image's ten classes (--predict), one row per image.
fn predict(model: &Mlp, images: Tensor<2>) -> Result<Vec<Vec<f32>>, Failure> {
    let probabilities: Vec<f32> = softmax(model.forward(images), 1).into_data().try_to_vec()?;
    Ok(probabilities.chunks(10).map(<[f32]>::to_vec).collect())
}

// ---------------------------------------------------------------- main
fn run(args: &Args) -> Result<(), Failure> {
    log::start(ROW, concat!("burn/", env!("MNIST_BURN_VERSION")), "cpu");
    // Evaluation runs on the plain CPU device; training on the same device wrapped in Burn's autodiff.
    let cpu = Device::flex();
    // --predict: classify the file's images with the --load weights; no dataset, no training.
    if let (Some(path), Some(load)) = (&args.predict, &args.init) {
        let model = load_params(load, &cpu)?;
        let (pixels, count) = data::read_images(path)?;
        if count > 0 {
            let images = Tensor::from_data(TensorData::new(pixels, [count, data::PIXELS]), &cpu);
            for (index, probabilities) in predict(&model, images)?.iter().enumerate() {
                log::predict(index, probabilities);
            }
        }
        return Ok(());
    }
    log::config(args);
    let (splits, seconds) = data::load(args)?;
    log::data(&splits, seconds);
    let device = cpu.clone().autodiff();
    let (train, val, test) =
        (to_tensors(splits.train, &device), to_tensors(splits.val, &cpu), to_tensors(splits.test, &cpu));

    device.seed(u64::from(args.seed)); // Burn's RNG draws the initial weights
    let mut rng = rng::seeded(args.seed); // the contract's RNG draws each epoch's order
    let mut model = if let Some(path) = &args.init { load_params(path, &device)? } else { init_params(&device) };
    // burn-optim's momentum defaults to dampening 0.1; the contract's (PyTorch's) form has none (README).
    let momentum = MomentumConfig::new().with_momentum(args.momentum).with_dampening(0.0).with_nesterov(false);
    let mut optimizer = SgdConfig::new().with_momentum(Some(momentum)).init();

    for epoch in 1..=args.epochs {
        let started = Instant::now();
        let (train_loss, train_acc);
        (model, train_loss, train_acc) = train_epoch(model, &mut optimizer, &train, args, epoch, &mut rng);
        let seconds = started.elapsed().as_secs_f64();
        check_finite(epoch, train_loss)?;
        let (val_loss, val_acc) = evaluate(&model.valid(), &val);
        log::epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds);
    }

    let started = Instant::now();
    let (test_loss, test_acc) = evaluate(&model.valid(), &test);
    log::test(test_loss, test_acc, started.elapsed().as_secs_f64());
    if let Some(path) = &args.save {
        save_params(path, &model.valid())?;
    }
    Ok(())
}

fn main() {
    mnist_contract::main(ROW, ABOUT, run)
}
