package mnist.contract;

/**
 * Why a run stopped early (SPEC.md §7); {@link Contract#main} turns it into one {@code error: ...} line on
 * stderr and the exit status.
 */
public final class Failure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** A bad flag, data file or weights file. */
    public static final int BAD_INPUT = 2;
    /** The training loss stopped being finite. */
    public static final int DIVERGED = 3;
    /** Not the user's mistake: a bug, or the framework failing. */
    public static final int INTERNAL = 1;

    private final int status;

    private Failure(int status, String message) {
        super(oneLine(message));
        this.status = status;
    }

    public int status() {
        return status;
    }

    /** A user's mistake: exit status 2. */
    public static Failure badInput(String message) {
        return new Failure(BAD_INPUT, message);
    }

    public static Failure internal(String message) {
        return new Failure(INTERNAL, message);
    }

    /** SPEC.md §3: a training loss that is not finite ends the run with exit status 3. */
    public static void checkFinite(long epoch, double trainLoss) {
        if (!Double.isFinite(trainLoss)) {
            throw new Failure(DIVERGED, "training diverged in epoch " + epoch + ": the training loss is "
                    + trainLoss + "; try a smaller --lr");
        }
    }

    /** The first line of a message, so that an error (and any trace attached to it) stays on one line. */
    public static String oneLine(String message) {
        if (message == null) {
            return "";
        }
        int newline = message.indexOf('\n');
        return (newline < 0 ? message : message.substring(0, newline)).stripTrailing();
    }
}
