/*
 * MNIST in Java with DJL (Deep Java Library) on its PyTorch engine: a SequentialBlock of Linear layers, trained by
 * a DJL Trainer with a GradientCollector and Optimizer.sgd() with momentum, as DJL's "create your first network"
 * and "train your first model" tutorials build it, with the epoch loop written out. Flags, IDX files, the weights
 * file, log lines and errors come from the Java contract library (common/java). From the repository root:
 *
 *     invoke setup --project djl && java -jar djl/target/mnist-djl.jar --epochs 1
 */
package mnist.djl;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import mnist.contract.Args;
import mnist.contract.Contract;
import mnist.contract.Data;
import mnist.contract.Failure;
import mnist.contract.Log;
import mnist.contract.Progress;
import mnist.contract.Rng;
import mnist.contract.Weights;

public final class Main {
    // ---------------------------------------------------------------- data
    /** A split as two NDArrays: images float32 [n, 784] in [0, 1], labels int64 [n]. Batches are gathers from it. */
    record Split(NDArray images, NDArray labels, int count) {
        static Split of(NDManager manager, Data.Split s) {
            return new Split(manager.create(s.images(), new Shape(s.count(), Data.PIXELS)),
                    manager.create(s.labels()).toType(DataType.INT64, false), s.count());
        }
    }

    // ---------------------------------------------------------------- model
    /** (fan_in, units) of fc1, fc2, fc3: 784 → 512 → ReLU → 512 → ReLU → 10 logits. */
    static final int[][] LAYERS = {{784, 512}, {512, 512}, {512, 10}};

    /**
     * The network, each Linear's weight and bias drawn from U(±1/sqrt(fan_in)), the contract's init (DJL's own
     * default is Xavier weights and zero biases), or taken from the given weights, by name. The draws are the
     * engine's, seeded in main. DJL's Linear keeps its weight as [out, in], the file's layout.
     */
    static SequentialBlock initParams(Map<String, float[]> weights) {
        SequentialBlock net = new SequentialBlock();
        for (int i = 0; i < LAYERS.length; i++) {
            Linear fc = Linear.builder().setUnits(LAYERS[i][1]).build();
            float bound = (float) (1 / Math.sqrt(LAYERS[i][0]));
            for (Parameter.Type type : new Parameter.Type[] {Parameter.Type.WEIGHT, Parameter.Type.BIAS}) {
                String name = "fc" + (i + 1) + "." + type.name().toLowerCase();
                fc.setInitializer(weights == null
                        ? (manager, shape, dataType) -> manager.randomUniform(-bound, bound, shape, dataType)
                        : (manager, shape, dataType) -> manager.create(weights.get(name), shape), type);
            }
            net.add(fc);
            if (i < LAYERS.length - 1) {
                net.add(Activation::relu);
            }
        }
        return net;
    }

    /** The weights under the contract's names: each Linear layer's weight and bias, in order. */
    static Map<String, float[]> namedWeights(SequentialBlock net) {
        Map<String, float[]> named = new LinkedHashMap<>();
        int layer = 0;
        for (var child : net.getChildren().values()) {
            if (child instanceof Linear fc) {
                layer++;
                for (String kind : List.of("weight", "bias")) {
                    named.put("fc" + layer + "." + kind, fc.getParameters().get(kind).getArray().toFloatArray());
                }
            }
        }
        return named;
    }

    // ---------------------------------------------------------------- train step
    /** One SGD-with-momentum step on a batch; returns its mean loss and its number of correct predictions. */
    static double[] trainStep(Trainer trainer, NDArray x, NDArray y) {
        try (GradientCollector collector = trainer.newGradientCollector()) {
            NDArray logits = trainer.forward(new NDList(x)).singletonOrThrow();
            NDArray loss = trainer.getLoss().evaluate(new NDList(y), new NDList(logits));
            collector.backward(loss);
            trainer.step();  // the optimizer's update, then the gradients are cleared
            long correct = logits.argMax(1).eq(y).countNonzero().getLong();
            return new double[] {loss.getFloat(), correct};
        }
    }

    /** One epoch in the seeded order (file order with --no-shuffle); returns the mean loss and accuracy. */
    static double[] trainEpoch(Trainer trainer, Split train, Args args, SplittableRandom random, long epoch) {
        long[] order = Rng.epochOrder(train.count(), args.shuffle(), random);
        int batches = (train.count() + args.batchSize() - 1) / args.batchSize();
        double totalLoss = 0, correct = 0;
        for (int b = 0; b < batches; b++) {
            int start = b * args.batchSize();
            int size = Math.min(args.batchSize(), train.count() - start);
            // The batch's arrays, and every result computed from them, live in a manager closed with the batch.
            try (NDManager scope = train.images().getManager().newSubManager()) {
                NDArray index = scope.create(Arrays.copyOfRange(order, start, start + size));
                NDList batch = new NDList(train.images().get(index), train.labels().get(index));
                batch.attach(scope);
                double[] step = trainStep(trainer, batch.get(0), batch.get(1));
                totalLoss += step[0] * size;
                correct += step[1];
            }
            double lossSoFar = totalLoss / (start + size);
            Progress.train(epoch, args.epochs(), b + 1, batches, () -> lossSoFar);
        }
        return new double[] {totalLoss / train.count(), correct / train.count()};
    }

    // ---------------------------------------------------------------- evaluate
    /** Mean loss and accuracy over a whole split, 1000 examples at a time. */
    static double[] evaluate(Trainer trainer, Split split) {
        double totalLoss = 0, correct = 0;
        for (int start = 0; start < split.count(); start += 1000) {
            int size = Math.min(1000, split.count() - start);
            try (NDManager scope = split.images().getManager().newSubManager()) {
                String rows = start + ":" + (start + size);
                NDList batch = new NDList(split.images().get(rows), split.labels().get(rows));
                batch.attach(scope);
                NDArray logits = trainer.evaluate(new NDList(batch.get(0))).singletonOrThrow();
                totalLoss += trainer.getLoss().evaluate(new NDList(batch.get(1)), new NDList(logits)).getFloat() * size;
                correct += logits.argMax(1).eq(batch.get(1)).countNonzero().getLong();
            }
        }
        return new double[] {totalLoss / split.count(), correct / split.count()};
    }

    /** Softmax probabilities of each image's ten classes (--predict), row by row. */
    static float[] predict(Trainer trainer, NDArray images) {
        return trainer.evaluate(new NDList(images)).singletonOrThrow().softmax(1).toFloatArray();
    }

    // ---------------------------------------------------------------- main
    static void run(Args args) {
        Engine engine = Engine.getInstance();  // PyTorch, the only engine on the class path
        Log.start("djl", "djl/" + Engine.getDjlVersion() + "+pytorch-" + engine.getVersion(), "cpu");
        Map<String, float[]> weights = args.init() == null ? null : Weights.load(args.init());
        Data.Images images = args.predict() == null ? null : Data.readImages(args.predict());
        Data.Splits splits = null;
        if (images == null) {
            Log.config(args);
            long started = System.nanoTime();
            splits = Data.load(args);
            Log.data(splits, (System.nanoTime() - started) / 1e9);
        }

        engine.setRandomSeed((int) args.seed());  // the initial weights' draws
        try (Model model = Model.newInstance("mlp")) {
            SequentialBlock net = initParams(weights);
            model.setBlock(net);
            Optimizer sgd = Optimizer.sgd().setLearningRateTracker(Tracker.fixed((float) args.lr()))
                    .optMomentum((float) args.momentum()).build();
            try (Trainer trainer = model.newTrainer(new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(sgd))) {
                trainer.initialize(new Shape(1, Data.PIXELS));  // runs the initializers, now that shapes are known
                NDManager manager = trainer.getManager();
                if (images != null) {  // --predict: classify the file's images with the --load weights
                    float[] p = predict(trainer, manager.create(images.pixels(), new Shape(images.count(), 784)));
                    IntStream.range(0, images.count()).forEach(index -> Log.predict(index, p, index * Data.CLASSES));
                    return;
                }
                Split train = Split.of(manager, splits.train()), val = Split.of(manager, splits.val()),
                        test = Split.of(manager, splits.test());
                SplittableRandom random = Rng.seeded(args.seed());

                for (long epoch = 1; epoch <= args.epochs(); epoch++) {
                    long started = System.nanoTime();
                    double[] trained = trainEpoch(trainer, train, args, random, epoch);
                    double seconds = (System.nanoTime() - started) / 1e9;
                    Failure.checkFinite(epoch, trained[0]);
                    double[] validated = evaluate(trainer, val);
                    Log.epoch(epoch, trained[0], trained[1], validated[0], validated[1], seconds);
                }

                long started = System.nanoTime();
                double[] tested = evaluate(trainer, test);
                Log.test(tested[0], tested[1], (System.nanoTime() - started) / 1e9);
                if (args.save() != null) {
                    Weights.save(args.save(), namedWeights(net));
                }
            }
        }
    }

    public static void main(String[] argv) {
        Contract.main("djl", "Train the SPEC.md MLP on MNIST with DJL (Deep Java Library) on its PyTorch engine.",
                argv, Main::run);
    }
}
