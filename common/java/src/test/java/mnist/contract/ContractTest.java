package mnist.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

class ContractTest {
    String stderr;

    int execute(Contract.Run run, String... argv) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream saved = Progress.err;
        Progress.err = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        try {
            return Contract.execute("test", "about", argv, "/data", run);
        } finally {
            Progress.err = saved;
            stderr = bytes.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void aRunPrintsTheStartLineAndExitsZero() {
        assertEquals(0, execute(args -> assertEquals(3, args.epochs()), "--epochs", "3"));
        assertEquals("event=progress stage=start row=test", stderr.strip());
    }

    @Test
    void failuresAreOneErrorLineWithTheirStatus() {
        assertEquals(2, execute(args -> { }, "--batch-size", "0"));
        assertEquals("error: --batch-size must be an integer >= 1, got '0'", stderr.strip());
        assertEquals(3, execute(args -> Failure.checkFinite(2, Double.NaN)));
        assertTrue(stderr.strip().endsWith("error: training diverged in epoch 2: the training loss is NaN; try a "
                + "smaller --lr"), stderr);
    }

    @Test
    void aFrameworksExceptionIsAnInternalErrorOnOneLine() {
        assertEquals(1, execute(args -> {
            throw new IllegalStateException("engine failed\n\tat native code");
        }));
        String last = stderr.strip().lines().reduce((a, b) -> b).orElse("");
        assertEquals("error: internal error: engine failed", last);
    }
}
