package mnist.contract;

import java.nio.file.Path;

/**
 * The flags after checking (SPEC.md §4): --load merged into {@code init} (which --predict then uses), the data
 * root resolved, {@code limitTrain} the number of training examples used.
 *
 * @param init    --init or --load; null: random weights
 * @param save    null: do not save
 * @param predict an IDX image file to classify with the --load weights; null: train
 */
public record Args(String dataset, Path dataDir, long epochs, int batchSize, double lr, double momentum, long seed,
                   int limitTrain, boolean shuffle, Path init, Path save, Path predict) {
}
