package mnist.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

class ProgressTest {
    @Test
    void trainLinesAreRateLimitedAndTheLossIsReadOnlyWhenPrinted() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream saved = Progress.err;
        Progress.err = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        AtomicInteger reads = new AtomicInteger();
        try {
            Progress.reset();
            long start = 1_000_000_000L;
            Progress.trainAt(start, 1, 5, 1, 391, () -> reads.incrementAndGet() * 1.5);
            Progress.trainAt(start + 100_000_000L, 1, 5, 2, 391, () -> reads.incrementAndGet() * 1.5);
            Progress.trainAt(start + 250_000_000L, 1, 5, 3, 391, () -> reads.incrementAndGet() * 1.5);
        } finally {
            Progress.err = saved;
        }
        assertEquals("event=progress stage=train epoch=1 epochs=5 batch=1 batches=391 loss=1.500000\n"
                + "event=progress stage=train epoch=1 epochs=5 batch=3 batches=391 loss=3.000000\n",
                bytes.toString(StandardCharsets.UTF_8).replace("\r\n", "\n"));
        assertEquals(2, reads.get());
    }
}
