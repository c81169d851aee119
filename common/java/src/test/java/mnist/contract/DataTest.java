package mnist.contract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataTest {
    @TempDir
    Path folder;

    static byte[] images(int count, int side, int fill) {
        ByteBuffer buffer = ByteBuffer.allocate(16 + count * side * side);
        buffer.putInt(0x803).putInt(count).putInt(side).putInt(side);
        for (int i = 0; i < count * side * side; i++) {
            buffer.put((byte) (fill + i / (side * side)));
        }
        return buffer.array();
    }

    static byte[] labels(int count) {
        ByteBuffer buffer = ByteBuffer.allocate(8 + count).putInt(0x801).putInt(count);
        for (int i = 0; i < count; i++) {
            buffer.put((byte) (i % 10));
        }
        return buffer.array();
    }

    static byte[] gzip(byte[] raw) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream zip = new GZIPOutputStream(out)) {
            zip.write(raw);
        }
        return out.toByteArray();
    }

    @Test
    void imagesAreScaledAndCheckedAgainstTheirHeader() {
        float[] pixels = Data.parseImages(images(2, 28, 51), "f", 2);
        assertEquals(2 * 784, pixels.length);
        assertEquals(51 / 255.0f, pixels[0]);
        assertEquals(52 / 255.0f, pixels[784]);
        assertEquals("f: holds 2 images, expected 3",
                assertThrows(Failure.class, () -> Data.parseImages(images(2, 28, 0), "f", 3)).getMessage());
        assertEquals("f: images are 14x14, expected 28x28",
                assertThrows(Failure.class, () -> Data.parseImages(images(1, 14, 0), "f", -1)).getMessage());
        byte[] shortOne = Arrays.copyOf(images(1, 28, 0), 16 + 783);
        assertEquals("f: header says 1 images, but holds 783 pixel bytes (expected 784)",
                assertThrows(Failure.class, () -> Data.parseImages(shortOne, "f", -1)).getMessage());
        assertEquals("f: not an IDX image file (magic 0x00000801, expected 0x00000803)",
                assertThrows(Failure.class, () -> Data.parseImages(Arrays.copyOf(labels(8), 16), "f", -1))
                        .getMessage());
    }

    @Test
    void labelsAreChecked() {
        assertArrayEquals(new int[] {0, 1, 2}, Data.parseLabels(labels(3), "l", 3));
        byte[] bad = labels(3);
        bad[9] = 10;
        assertEquals("l: label 10 is out of range 0-9",
                assertThrows(Failure.class, () -> Data.parseLabels(bad, "l", 3)).getMessage());
        assertEquals("l: too short for an IDX label header (4 bytes)",
                assertThrows(Failure.class, () -> Data.parseLabels(new byte[4], "l", 3)).getMessage());
    }

    @Test
    void predictReadsGzipOrPlainAndReportsBadFiles() throws IOException {
        Path plain = folder.resolve("plain.idx");
        Path zipped = folder.resolve("zipped.idx.gz");
        Files.write(plain, images(3, 28, 0));
        Files.write(zipped, gzip(images(3, 28, 0)));
        assertEquals(3, Data.readImages(plain).count());
        assertArrayEquals(Data.readImages(plain).pixels(), Data.readImages(zipped).pixels());
        byte[] compressed = gzip(images(3, 28, 0));
        Files.write(zipped, Arrays.copyOf(compressed, compressed.length / 2));
        assertEquals(zipped + ": not a valid gzip file (truncated)",
                assertThrows(Failure.class, () -> Data.readImages(zipped)).getMessage());
        Path absent = folder.resolve("absent.idx");
        assertEquals(absent + ": file not found", assertThrows(Failure.class, () -> Data.readImages(absent)).getMessage());
    }

    @Test
    void theDatasetIsSplitByPosition() throws IOException {
        Path dir = Files.createDirectories(folder.resolve("mnist"));
        // A real-sized label file with small stand-in images would fail the count check, so build full files.
        Files.write(dir.resolve("train-images-idx3-ubyte.gz"), gzip(images(60_000, 28, 0)));
        Files.write(dir.resolve("train-labels-idx1-ubyte.gz"), gzip(labels(60_000)));
        Files.write(dir.resolve("t10k-images-idx3-ubyte.gz"), gzip(images(10_000, 28, 0)));
        Files.write(dir.resolve("t10k-labels-idx1-ubyte.gz"), gzip(labels(10_000)));
        Data.Splits splits = Data.loadSplits(folder, "mnist", 2000);
        assertEquals(2000, splits.train().count());
        assertEquals(10_000, splits.val().count());
        assertEquals(10_000, splits.test().count());
        assertEquals(50_000 % 10, splits.val().labels()[0]);
        assertEquals(((byte) 50_000 & 0xff) / 255.0f, splits.val().images()[0]);
        Files.write(dir.resolve("t10k-labels-idx1-ubyte.gz"), "not gzip".getBytes());
        assertEquals(dir.resolve("t10k-labels-idx1-ubyte.gz") + ": not a valid gzip file (Not in GZIP format)",
                assertThrows(Failure.class, () -> Data.loadSplits(folder, "mnist", 10)).getMessage());
        assertEquals("data directory " + folder.resolve("fashion-mnist") + " not found: run `invoke data`, or point"
                + " --data-dir / MNIST_DATA_DIR at the folder that holds fashion-mnist/",
                assertThrows(Failure.class, () -> Data.loadSplits(folder, "fashion-mnist", 10)).getMessage());
    }
}
