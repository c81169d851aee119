package mnist.contract;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.DoubleSupplier;

/**
 * The progress lines on stderr (SPEC.md §6): a {@code train} line only when 0.25 s have passed since the previous
 * progress line, so that checking the clock is all a batch pays.
 */
public final class Progress {
    private Progress() {
    }

    static final long INTERVAL_NANOS = 250_000_000L;
    static PrintStream err = System.err;
    private static long last;
    private static boolean printed;

    public static void start(String row) {
        print("event=progress stage=start row=" + row);
    }

    public static void data(String dataset) {
        print("event=progress stage=data dataset=" + dataset);
    }

    public static void warmup() {
        print("event=progress stage=warmup");
    }

    /** After training batch {@code batch} (from 1) of {@code batches}; {@code loss} is read only when printed. */
    public static void train(long epoch, long epochs, long batch, long batches, DoubleSupplier loss) {
        trainAt(System.nanoTime(), epoch, epochs, batch, batches, loss);
    }

    static synchronized void trainAt(long now, long epoch, long epochs, long batch, long batches,
                                     DoubleSupplier loss) {
        if (printed && now - last < INTERVAL_NANOS) {
            return;
        }
        printAt(now, String.format(Locale.ROOT, "event=progress stage=train epoch=%d epochs=%d batch=%d batches=%d"
                + " loss=%.6f", epoch, epochs, batch, batches, loss.getAsDouble()));
    }

    private static void print(String line) {
        printAt(System.nanoTime(), line);
    }

    private static synchronized void printAt(long now, String line) {
        last = now;
        printed = true;
        err.println(line);
        err.flush();
    }

    /** Forget the last line's time (the tests). */
    static synchronized void reset() {
        printed = false;
    }
}
