package mnist.contract;

/**
 * The SPEC.md contract for Java rows, so that a row's own file holds only the learning: {@link Cli} (flags, by
 * picocli), {@link Data} (IDX files), {@link Weights} (safetensors), {@link Log} (stdout), {@link Progress}
 * (stderr), {@link Failure} (errors and exit statuses), {@link Rng}. A row's {@code main} is
 *
 * <pre>{@code
 * public static void main(String[] argv) {
 *     Contract.main("djl", "Train the SPEC.md MLP with ...", argv, args -> {
 *         Log.start("djl", "djl/0.36.0", "cpu");
 *         // ... Log.config(args), Data.load(args), training, Log.test(...)
 *     });
 * }
 * }</pre>
 */
public final class Contract {
    private Contract() {
    }

    /** The row's work once its flags are checked. */
    @FunctionalInterface
    public interface Run {
        void run(Args args) throws Exception;
    }

    /**
     * Parse the flags (--help prints the usage with {@code about} under it), print the {@code start} progress line,
     * call {@code run}, and exit with the contract's status: a {@link Failure} becomes its one {@code error:} line,
     * any other exception (the framework's) one {@code error: internal error: ...} line with status 1.
     */
    public static void main(String row, String about, String[] argv, Run run) {
        int status = execute(row, about, argv, System.getenv("MNIST_DATA_DIR"), run);
        System.exit(status);
    }

    static int execute(String row, String about, String[] argv, String envDataDir, Run run) {
        try {
            Args args = Cli.parse(argv, about, envDataDir);
            if (args != null) {
                Progress.start(row);
                run.run(args);
            }
            Log.out.flush();
            return 0;
        } catch (Failure failure) {
            return fail(failure.getMessage(), failure.status());
        } catch (Exception | Error error) {
            String message = error.getMessage() == null ? error.toString() : error.getMessage();
            return fail("internal error: " + Failure.oneLine(message), Failure.INTERNAL);
        }
    }

    private static int fail(String message, int status) {
        Log.out.flush();
        Progress.err.println("error: " + Failure.oneLine(message));
        Progress.err.flush();
        return status;
    }
}
