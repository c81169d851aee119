package mnist.contract;

import java.util.SplittableRandom;

/** The seeded order of an epoch's examples, for rows whose framework does not shuffle for them. */
public final class Rng {
    private Rng() {
    }

    public static SplittableRandom seeded(long seed) {
        return new SplittableRandom(seed);
    }

    /** 0..n-1, shuffled (Fisher-Yates) when {@code shuffle} is set. */
    public static long[] epochOrder(int n, boolean shuffle, SplittableRandom random) {
        long[] order = new long[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; shuffle && i > 0; i--) {
            int j = random.nextInt(i + 1);
            long swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        return order;
    }
}
