//! MNIST in Rust with candle: candle_nn layers, candle's autograd, and SGD with momentum as a
//! candle_nn::Optimizer of our own (candle's SGD has no momentum).
//!
//! The same model, data and hyperparameters as every other row (SPEC.md). Run from the repository root:
//!
//!     cargo run --release --manifest-path rust/Cargo.toml -- --epochs 1
//!
//! Plumbing lives next door: cli.rs (flags), data.rs (IDX .gz files), weights.rs (safetensors),
//! report.rs (errors and log lines).

mod cli;
mod data;
mod report;
mod weights;

use std::io::Write;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Module, Tensor, Var, D};
use candle_nn::{loss, ops, Init, Linear, Optimizer, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use cli::{Args, Parsed};
use data::Split;
use report::{emit, emit_predict, one_line, six, three, Failure};

// ---------------------------------------------------------------- data
// data::load reads the IDX files into tensors and splits them (SPEC.md §1).

// ---------------------------------------------------------------- model
/// (name, fan_in, fan_out) of each layer: x[784] → fc1 → ReLU → fc2 → ReLU → fc3 → logits[10].
const LAYERS: [(&str, usize, usize); 3] = [("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10)];

struct Net {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

/// A Linear layer with PyTorch's default init, weight *and* bias ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in));
/// candle_nn::linear's own init differs (Kaiming-style weight, different bias bound).
fn linear(vb: VarBuilder, fan_in: usize, fan_out: usize) -> candle_core::Result<Linear> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let init = Init::Uniform { lo: -bound, up: bound };
    let weight = vb.get_with_hints((fan_out, fan_in), "weight", init)?;
    let bias = vb.get_with_hints(fan_out, "bias", init)?;
    Ok(Linear::new(weight, Some(bias)))
}

impl Net {
    /// The variables live in the VarBuilder's VarMap as fc1.weight, fc1.bias, ... (PyTorch's names).
    fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        let [(n1, i1, o1), (n2, i2, o2), (n3, i3, o3)] = LAYERS;
        Ok(Net { fc1: linear(vb.pp(n1), i1, o1)?, fc2: linear(vb.pp(n2), i2, o2)?, fc3: linear(vb.pp(n3), i3, o3)? })
    }
}

impl Module for Net {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.apply(&self.fc1)?.relu()?.apply(&self.fc2)?.relu()?.apply(&self.fc3)
    }
}

/// Redraw every variable from the row's own seeded RNG, with the same distribution as above:
/// candle's CPU random numbers cannot be seeded (Device::set_seed fails on the CPU).
fn init_params(varmap: &mut VarMap, rng: &mut ChaCha8Rng) -> Result<(), Failure> {
    for (layer, fan_in, fan_out) in LAYERS {
        let bound = 1.0 / (fan_in as f64).sqrt();
        for (name, shape) in [("weight", vec![fan_out, fan_in]), ("bias", vec![fan_out])] {
            let count = shape.iter().product();
            let values: Vec<f32> = (0..count).map(|_| rng.random_range(-bound..bound) as f32).collect();
            varmap.set_one(format!("{layer}.{name}"), Tensor::from_vec(values, shape, &Device::Cpu)?)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- optimiser
/// SGD with momentum in PyTorch's form, no dampening, no Nesterov, no weight decay (SPEC.md §3):
/// buf ← μ·buf + g (buf starts at 0, so the first step is buf = g); p ← p − lr·buf.
struct SgdMomentum {
    vars: Vec<Var>,
    velocity: Vec<Tensor>,
    lr: f64,
    momentum: f64,
}

struct SgdConfig {
    lr: f64,
    momentum: f64,
}

impl Optimizer for SgdMomentum {
    type Config = SgdConfig;

    fn new(vars: Vec<Var>, config: SgdConfig) -> candle_core::Result<Self> {
        let velocity = vars.iter().map(|var| var.zeros_like()).collect::<candle_core::Result<_>>()?;
        Ok(SgdMomentum { vars, velocity, lr: config.lr, momentum: config.momentum })
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        for (var, buf) in self.vars.iter().zip(self.velocity.iter_mut()) {
            if let Some(grad) = grads.get(var) {
                *buf = (buf.affine(self.momentum, 0.0)? + grad)?; // buf ← μ·buf + g
                var.set(&var.sub(&buf.affine(self.lr, 0.0)?)?)?; // p ← p − lr·buf (in place: the Linears see it)
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
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
    rng: &mut ChaCha8Rng,
) -> candle_core::Result<(f64, f64)> {
    let mut order: Vec<u32> = (0..train.len as u32).collect();
    if args.shuffle {
        order.shuffle(rng);
    }
    let (mut total_loss, mut correct) = (0.0, 0);
    for batch in order.chunks(args.batch_size) {
        let index = Tensor::from_slice(batch, batch.len(), &Device::Cpu)?;
        let x = train.images.index_select(&index, 0)?;
        let y = train.labels.index_select(&index, 0)?;
        let (loss, hits) = train_step(model, optimizer, &x, &y)?;
        total_loss += loss * batch.len() as f64;
        correct += hits;
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
    emit(
        "start",
        &[
            ("row", "rust".into()),
            ("language", format!("rust/{}", env!("MNIST_RUSTC_VERSION"))),
            ("framework", format!("candle/{}", env!("MNIST_CANDLE_VERSION"))),
            ("device", "cpu".into()),
        ],
    );
    // --predict: classify the file's images with the loaded weights, no dataset, no training (cli.rs makes sure
    // --load came with it).
    if let (Some(path), Some(load)) = (&args.predict, &args.init) {
        let model = Net::new(VarBuilder::from_tensors(weights::load(load)?, DType::F32, &Device::Cpu))?;
        for (index, probabilities) in predict(&model, &data::read_images(path)?)?.iter().enumerate() {
            emit_predict(index, probabilities);
        }
        return Ok(());
    }
    emit(
        "config",
        &[
            ("dataset", args.dataset.name().into()),
            ("epochs", args.epochs.to_string()),
            ("batch_size", args.batch_size.to_string()),
            ("lr", args.lr.to_string()),
            ("momentum", args.momentum.to_string()),
            ("seed", args.seed.to_string()),
            ("limit_train", args.limit_train.to_string()),
            ("shuffle", u8::from(args.shuffle).to_string()),
            ("init", u8::from(args.init.is_some()).to_string()),
        ],
    );

    let (splits, seconds) = data::load(&args.data_dir, args.dataset.name(), args.limit_train)?;
    emit(
        "data",
        &[
            ("train", splits.train.len.to_string()),
            ("val", splits.val.len.to_string()),
            ("test", splits.test.len.to_string()),
            ("seconds", three(seconds)),
        ],
    );

    let mut rng = ChaCha8Rng::seed_from_u64(args.seed as u64);
    let mut varmap = VarMap::new();
    let model = Net::new(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
    match &args.init {
        Some(path) => {
            for (name, tensor) in weights::load(path)? {
                varmap.set_one(name, tensor)?;
            }
        }
        None => init_params(&mut varmap, &mut rng)?,
    }
    let mut optimizer = SgdMomentum::new(varmap.all_vars(), SgdConfig { lr: args.lr, momentum: args.momentum })?;

    for epoch in 1..=args.epochs {
        let started = Instant::now();
        let (train_loss, train_acc) = train_epoch(&model, &mut optimizer, &splits.train, args, &mut rng)?;
        let seconds = started.elapsed().as_secs_f64();
        if !train_loss.is_finite() {
            return Err(Failure::Diverged(format!(
                "training diverged in epoch {epoch}: the training loss is {train_loss}; try a smaller --lr"
            )));
        }
        let (val_loss, val_acc) = evaluate(&model, &splits.val)?;
        emit(
            "epoch",
            &[
                ("epoch", epoch.to_string()),
                ("train_loss", six(train_loss)),
                ("train_acc", six(train_acc)),
                ("val_loss", six(val_loss)),
                ("val_acc", six(val_acc)),
                ("seconds", three(seconds)),
            ],
        );
    }

    let started = Instant::now();
    let (test_loss, test_acc) = evaluate(&model, &splits.test)?;
    let seconds = started.elapsed().as_secs_f64();
    emit("test", &[("test_loss", six(test_loss)), ("test_acc", six(test_acc)), ("seconds", three(seconds))]);
    if let Some(path) = &args.save {
        weights::save(path, &varmap)?;
    }
    Ok(())
}

fn main() {
    // A bug must still end in one `error:` line, not a panic message and backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error: {}", info.to_string().replace('\n', " "));
    }));
    let status = match cli::parse_args().and_then(|parsed| match parsed {
        Parsed::Run(args) => run(&args),
        Parsed::Help => Ok(()),
    }) {
        Ok(()) => 0,
        Err(failure) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {}", one_line(&failure.to_string()));
            failure.exit_code()
        }
    };
    std::process::exit(status);
}
