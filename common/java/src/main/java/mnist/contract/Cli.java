package mnist.contract;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.DoublePredicate;

import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * The contract's flags (SPEC.md §4), parsed by picocli. Values arrive as text and are checked here, so that every
 * mistake reads the same in every language: {@code --batch-size must be an integer >= 1, got '-5'}.
 */
public final class Cli {
    private Cli() {
    }

    /** Training examples in the train split (SPEC.md §1), and so the largest --limit-train. */
    public static final int TRAIN_EXAMPLES = 50_000;

    @Command(name = "mnist", sortOptions = false, usageHelpAutoWidth = true)
    static final class Flags {
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "show this help message and exit")
        boolean help;

        @Option(names = "--dataset", paramLabel = "{mnist,fashion-mnist}",
                description = "which dataset to train on (default: mnist)")
        String dataset = "mnist";

        @Option(names = "--data-dir", paramLabel = "DIR",
                description = "data root holding <dataset>/ (default: $MNIST_DATA_DIR, else data/)")
        String dataDir;

        @Option(names = "--epochs", paramLabel = "N", description = "passes over the training set; 0 only evaluates (default: 5)")
        String epochs = "5";

        @Option(names = "--batch-size", paramLabel = "N", description = "examples per SGD step (default: 128)")
        String batchSize = "128";

        @Option(names = "--lr", paramLabel = "LR", description = "learning rate (default: 0.05)")
        String lr = "0.05";

        @Option(names = "--momentum", paramLabel = "M", description = "SGD momentum in [0, 1) (default: 0.9)")
        String momentum = "0.9";

        @Option(names = "--seed", paramLabel = "N", description = "seeds initialisation and shuffling, 0..4294967295 (default: 0)")
        String seed = "0";

        @Option(names = "--limit-train", paramLabel = "N",
                description = "train on the first N training examples only, 1..50000 (default: all 50000)")
        String limitTrain;

        @Option(names = "--no-shuffle", description = "keep the training examples in file order every epoch")
        boolean noShuffle;

        @ArgGroup(exclusive = true)
        Weights weights;

        @Option(names = "--save", paramLabel = "FILE", description = "write the trained weights to this safetensors file")
        String save;

        @Option(names = "--predict", paramLabel = "IDX_FILE",
                description = "classify the images of this IDX file (.gz or plain) with the --load weights instead of training")
        String predict;
    }

    static final class Weights {
        @Option(names = "--init", paramLabel = "FILE", required = true,
                description = "start from these safetensors weights instead of random ones")
        String init;

        @Option(names = "--load", paramLabel = "FILE", required = true,
                description = "same as --init; with --epochs 0 only evaluates")
        String load;
    }

    /**
     * The checked flags, or null when --help printed the usage (to stdout). {@code envDataDir} is $MNIST_DATA_DIR.
     *
     * @throws Failure with status 2 for any mistake
     */
    public static Args parse(String[] argv, String about, String envDataDir) {
        Flags flags = new Flags();
        CommandLine command = new CommandLine(flags).setOverwrittenOptionsAllowed(true);
        command.getCommandSpec().usageMessage().description(about);
        try {
            command.parseArgs(argv);
        } catch (ParameterException error) {
            throw Failure.badInput(error.getMessage().replaceFirst("\\.?$", "") + " (see --help)");
        }
        if (command.isUsageHelpRequested()) {
            command.usage(Log.out);
            Log.out.flush();
            return null;
        }
        if (!flags.dataset.equals("mnist") && !flags.dataset.equals("fashion-mnist")) {
            throw Failure.badInput("--dataset must be one of mnist, fashion-mnist, got '" + flags.dataset + "'");
        }
        long epochs = integer("--epochs", flags.epochs, 0, Long.MAX_VALUE, "an integer >= 0");
        long batchSize = integer("--batch-size", flags.batchSize, 1, Integer.MAX_VALUE, "an integer >= 1");
        double lr = number("--lr", flags.lr, v -> v > 0, "a number > 0");
        double momentum = number("--momentum", flags.momentum, v -> v >= 0 && v < 1, "a number in [0, 1)");
        long seed = integer("--seed", flags.seed, 0, 4_294_967_295L, "an integer in 0..4294967295");
        long limitTrain = flags.limitTrain == null ? TRAIN_EXAMPLES
                : integer("--limit-train", flags.limitTrain, 1, TRAIN_EXAMPLES, "an integer in 1..50000");
        String init = flags.weights == null ? null : flags.weights.init != null ? flags.weights.init : flags.weights.load;
        boolean load = flags.weights != null && flags.weights.load != null;
        if (flags.predict != null && !load) {
            throw Failure.badInput("--predict needs the weights to classify with: add --load FILE");
        }
        Path dataDir = Path.of(flags.dataDir != null ? flags.dataDir
                : envDataDir != null && !envDataDir.isEmpty() ? envDataDir : "data");
        Path save = flags.save == null ? null : Path.of(flags.save);
        if (save != null) {
            Path parent = save.toAbsolutePath().getParent();
            if (parent == null || !Files.isDirectory(parent)) {
                throw Failure.badInput("--save: directory " + (save.getParent() == null ? "." : save.getParent())
                        + " does not exist");
            }
        }
        return new Args(flags.dataset, dataDir, epochs, (int) batchSize, lr, momentum, seed, (int) limitTrain,
                !flags.noShuffle, init == null ? null : Path.of(init), save,
                flags.predict == null ? null : Path.of(flags.predict));
    }

    private static long integer(String flag, String text, long low, long high, String wanted) {
        try {
            long value = Long.parseLong(text);
            if (value >= low && value <= high) {
                return value;
            }
        } catch (NumberFormatException notAnInteger) {
            // below
        }
        throw Failure.badInput(flag + " must be " + wanted + ", got '" + text + "'");
    }

    private static double number(String flag, String text, DoublePredicate ok, String wanted) {
        try {
            double value = Double.parseDouble(text.strip());
            if (Double.isFinite(value) && ok.test(value) && !text.strip().matches("(?i).*[a-z&&[^e]].*")) {
                return value;
            }
        } catch (NumberFormatException notANumber) {
            // below
        }
        throw Failure.badInput(flag + " must be " + wanted + ", got '" + text + "'");
    }
}
