// MNIST in TypeScript with TensorFlow.js on its WebAssembly backend (XNNPACK's kernels, 128-bit SIMD): tf.variable
// parameters, tf.customGrad layers, tf.losses.softmaxCrossEntropy and tf.train.momentum. Same model, data and
// hyperparameters as every row (SPEC.md); flags, files, log lines and errors come from the TypeScript contract
// library, common/typescript. Run from the repository root: node tfjs/build/main.js --help
import type * as TF from '@tensorflow/tfjs';
import * as contract from 'mnist-contract';

// TensorFlow.js, imported by main once the contract has checked the flags and read the files (SPEC.md §4).
let tf: typeof TF;

// ---------------------------------------------------------------- data

/** A split on the backend: images float32 [n, 784] in [0, 1], labels int32 [n]. Batches are gathered from it. */
interface Data { images: TF.Tensor2D; labels: TF.Tensor1D; count: number }

function toTensors(split: contract.Split): Data {
  return { images: tf.tensor2d(split.images, [split.count, contract.Pixels]),
    labels: tf.tensor1d(Int32Array.from(split.labels), 'int32'), count: split.count };
}

// ---------------------------------------------------------------- model

/** The six parameters in the weights file's order and PyTorch's layout: fc1.weight [512, 784], fc1.bias, … */
type Params = TF.Variable[];

/** nn.Linear's default, weight and bias ~ U(±1/√fan_in), from the seeded RNG; or the given weights. */
function initParams(rng: contract.Rng | null, tensors: contract.Tensor[] | null): Params {
  return contract.Shapes.map(({ name, shape }, i) => {
    const fanIn = contract.Shapes[i - (i % 2)]!.shape[1]!; // the columns of the layer's weight
    const values = tensors ? tensors[i]!.values
      : contract.uniform(rng!, 1 / Math.sqrt(fanIn), shape.reduce((a, b) => a * b));
    return tf.variable(tf.tensor(values, shape), true, name);
  });
}

/**
 * One layer, x·Wᵀ + b (then ReLU), with W [out, in] as the file keeps it. The WebAssembly backend runs a product
 * on XNNPACK only when neither side is transposed (matMul's transposeA/B flags take a scalar loop, 10-20× slower),
 * and tf.matMul's own gradient uses those flags; so the layer says its gradient itself, in plain products of
 * explicitly transposed tensors. The images need no gradient: fc1 skips g·W (inputGrad false).
 */
function linear(x: TF.Tensor2D, w: TF.Variable, b: TF.Variable, relu: boolean, inputGrad: boolean): TF.Tensor2D {
  const layer = tf.customGrad((...inputs) => {
    const [x, w, b, save] = inputs as [TF.Tensor2D, TF.Tensor2D, TF.Tensor1D, TF.GradSaveFunc];
    const activation = relu ? 'relu' : 'linear';
    const y = tf.fused.matMul({ a: x, b: tf.transpose(w), bias: b, activation }) as TF.Tensor2D;
    save([x, w, y]);
    return { value: y, gradFunc: (dy: TF.Tensor2D, saved: TF.Tensor[]) => {
      const [x, w, y] = saved as [TF.Tensor2D, TF.Tensor2D, TF.Tensor2D];
      const g = relu ? tf.mul(dy, tf.step(y)) : dy; // ReLU passes the gradient where its output was positive
      return [inputGrad ? tf.matMul(g, w) : tf.zerosLike(x), tf.matMul(tf.transpose(g), x), tf.sum(g, 0)];
    } };
  });
  return layer(x, w, b) as TF.Tensor2D;
}

/** x [n, 784] → fc1 → ReLU → fc2 → ReLU → fc3 → logits [n, 10]. */
function forward(params: Params, x: TF.Tensor2D): TF.Tensor2D {
  const [w1, b1, w2, b2, w3, b3] = params as [TF.Variable, TF.Variable, TF.Variable, TF.Variable, TF.Variable,
    TF.Variable];
  const h1 = linear(x, w1, b1, true, false);
  const h2 = linear(h1, w2, b2, true, true);
  return linear(h2, w3, b3, false, true);
}

/** The mean softmax cross-entropy of the logits against the labels, and how many the logits got right. */
function lossAndCorrect(logits: TF.Tensor2D, labels: TF.Tensor1D): [TF.Scalar, TF.Scalar] {
  const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, contract.Classes), logits) as TF.Scalar;
  return [loss, tf.sum(tf.equal(tf.argMax(logits, 1), labels))];
}

// ---------------------------------------------------------------- train step

/**
 * One SGD step on a batch: tf.train.momentum's minimize differentiates the loss and updates the variables,
 * acc ← μ·acc + g, p ← p − lr·acc (PyTorch's form). Returns the batch's summed loss and correct predictions.
 */
function trainStep(params: Params, optimizer: TF.Optimizer, x: TF.Tensor2D, labels: TF.Tensor1D): [number, number] {
  return tf.tidy(() => {
    let correct!: TF.Scalar;
    const loss = optimizer.minimize(() => {
      const [loss, right] = lossAndCorrect(forward(params, x), labels);
      correct = tf.keep(right);
      return loss;
    }, true, params)!;
    const result: [number, number] = [loss.dataSync()[0]! * labels.shape[0], correct.dataSync()[0]!];
    correct.dispose();
    return result;
  });
}

/** One epoch in a fresh random order (file order with --no-shuffle); its mean loss and accuracy. */
function trainEpoch(params: Params, optimizer: TF.Optimizer, train: Data, args: contract.Args, epoch: number,
  rng: contract.Rng): [number, number] {
  const order = contract.epochOrder(train.count, args.shuffle, rng);
  const batches = Math.ceil(train.count / args.batchSize);
  let totalLoss = 0, correct = 0;
  for (let b = 0; b < batches; b++) {
    const [loss, right] = tf.tidy(() => {
      const batch = tf.tensor1d(order.subarray(b * args.batchSize, (b + 1) * args.batchSize), 'int32');
      return trainStep(params, optimizer, tf.gather(train.images, batch), tf.gather(train.labels, batch));
    });
    totalLoss += loss;
    correct += right;
    const seen = Math.min((b + 1) * args.batchSize, train.count);
    contract.progressTrain(epoch, args.epochs, b + 1, batches, () => totalLoss / seen);
  }
  return [totalLoss / train.count, correct / train.count];
}

// ---------------------------------------------------------------- evaluate

/** The mean loss and accuracy over a whole split, in one pass. */
function evaluate(params: Params, split: Data): [number, number] {
  return tf.tidy(() => {
    const [loss, correct] = lossAndCorrect(forward(params, split.images), split.labels);
    return [loss.dataSync()[0]!, correct.dataSync()[0]! / split.count];
  });
}

/** Logs the softmax probabilities of each image's ten classes (--predict). */
function predict(params: Params, images: Float32Array): void {
  const count = images.length / contract.Pixels;
  const probabilities = tf.tidy(() => tf.softmax(forward(params, tf.tensor2d(images, [count, contract.Pixels]))));
  const values = probabilities.dataSync();
  for (let i = 0; i < count; i++) {
    contract.logPredict(i, values.subarray(i * contract.Classes, (i + 1) * contract.Classes));
  }
}

// ---------------------------------------------------------------- main

/** Compiles and instantiates the WebAssembly module (XNNPACK inside); without it TensorFlow.js would fall back. */
async function startBackend(): Promise<void> {
  if (!(await tf.setBackend('wasm'))) {
    throw new Error("TensorFlow.js's WebAssembly backend did not start");
  }
}

async function run(args: contract.Args): Promise<void> {
  const inputs = contract.readInputs(args); // the weights, and --predict's images or the dataset, checked
  tf = await import('@tensorflow/tfjs');
  await import('@tensorflow/tfjs-backend-wasm'); // registers the 'wasm' backend
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'); // Node has it; threads it has not (README)
  contract.logStart('tfjs', `tfjs/${tf.version.tfjs}+wasm${simd ? '-simd' : ''}`, 'cpu');

  if (inputs.images) { // classify the file's images with the --load weights, and nothing else
    await startBackend();
    predict(initParams(null, inputs.init), inputs.images);
    return;
  }
  const splits = inputs.splits!;
  contract.logConfig(args);
  contract.logData(splits);
  contract.progressWarmup();
  const warming = performance.now();
  await startBackend();
  contract.logWarmup((performance.now() - warming) / 1000);
  const [train, val, test] = [splits.train, splits.val, splits.test].map(toTensors) as [Data, Data, Data];
  const rng = contract.seeded(args.seed);
  const params = initParams(rng, inputs.init);
  const optimizer = tf.train.momentum(args.lr, args.momentum);

  for (let epoch = 1; epoch <= args.epochs; epoch++) {
    const started = performance.now();
    const [trainLoss, trainAcc] = trainEpoch(params, optimizer, train, args, epoch, rng);
    const seconds = (performance.now() - started) / 1000;
    contract.checkFinite(epoch, trainLoss);
    const [valLoss, valAcc] = evaluate(params, val);
    contract.logEpoch(epoch, trainLoss, trainAcc, valLoss, valAcc, seconds);
  }

  const started = performance.now();
  const [testLoss, testAcc] = evaluate(params, test);
  contract.logTest(testLoss, testAcc, (performance.now() - started) / 1000);
  if (args.save) {
    contract.saveWeights(args.save, contract.Shapes.map(({ name, shape }, i) =>
      ({ name, shape: [...shape], values: params[i]!.dataSync() as Float32Array })));
  }
}

await contract.main('tfjs', 'Train the SPEC.md MLP on MNIST in TypeScript: TensorFlow.js on WebAssembly.', run);
