package mnist.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class LogTest {
    @Test
    void linesHaveTheContractsFieldsAndDigits() {
        Args args = new Args("mnist", Path.of("d"), 5, 128, 0.05, 0.9, 7, 2000, false, Path.of("w"), null, null);
        assertEquals("event=config dataset=mnist epochs=5 batch_size=128 lr=0.05 momentum=0.9 seed=7 limit_train=2000"
                + " shuffle=0 init=1", Log.Format.config(args));
        assertEquals("event=epoch epoch=2 train_loss=0.123457 train_acc=0.500000 val_loss=1.000000 val_acc=0.250000"
                + " seconds=1.235", Log.Format.epoch(2, 0.1234567, 0.5, 1, 0.25, 1.2345));
        assertEquals("event=data train=2000 val=10000 test=10000 seconds=0.413",
                Log.Format.data(2000, 10000, 10000, 0.4125));
    }

    @Test
    void numbersReadAsPythonWritesThem() {
        assertEquals("0.05", Log.Format.number(0.05));
        assertEquals("1e-05", Log.Format.number(1e-5));
        assertEquals("1.5e-07", Log.Format.number(1.5e-7));
        assertEquals("1000000.0", Log.Format.number(1e6));
        assertEquals("1e+20", Log.Format.number(1e20));
        assertEquals("0.0", Log.Format.number(0));
    }

    @Test
    void predictNamesTheLowestMostProbableClass() {
        float[] p = {0, 0.1f, 0.4f, 0.4f, 0, 0, 0, 0, 0.1f, 0, 9};
        assertEquals("event=predict index=3 class=2 p0=0.000000 p1=0.100000 p2=0.400000 p3=0.400000 p4=0.000000"
                + " p5=0.000000 p6=0.000000 p7=0.000000 p8=0.100000 p9=0.000000", Log.Format.predict(3, p, 0));
        assertTrue(Log.Format.predict(0, p, 1).contains("class=9 p0=0.100000"));  // the offset row: p[1..10]
    }

    @Test
    void startNamesJavasVersionAndEveryLineIsFlushed() {
        List<String> flushed = new ArrayList<>();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream saved = Log.out;
        Log.out = new PrintStream(bytes, false, StandardCharsets.UTF_8) {
            @Override
            public void flush() {
                super.flush();
                flushed.add(bytes.toString(StandardCharsets.UTF_8));
            }
        };
        try {
            Log.start("djl", "djl/0.36.0", "cpu");
        } finally {
            Log.out = saved;
        }
        assertEquals(1, flushed.size());
        assertTrue(flushed.get(0).matches("event=start row=djl language=java/\\d+\\.\\d+\\.\\d+ framework=djl/0.36.0"
                + " device=cpu\\R"), flushed.get(0));
    }
}
