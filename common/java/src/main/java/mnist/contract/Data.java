package mnist.contract;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * The contract's data (SPEC.md §1): the four IDX .gz files, decompressed, checked, scaled to [0, 1] and split; and
 * --predict's image file, gzip-compressed or plain (SPEC.md §4).
 */
public final class Data {
    private Data() {
    }

    public static final int PIXELS = 28 * 28;
    public static final int CLASSES = 10;
    static final int IMAGE_MAGIC = 0x803;
    static final int LABEL_MAGIC = 0x801;
    static final int TRAIN_COUNT = 60_000;
    static final int TEST_COUNT = 10_000;
    static final int VAL_COUNT = 10_000;

    /** Images [count, 784] row by row, pixels / 255; labels 0..9. */
    public record Split(float[] images, int[] labels) {
        public int count() {
            return labels.length;
        }
    }

    public record Splits(Split train, Split val, Split test) {
    }

    /** The images of an IDX file for --predict: [count, 784] row by row. */
    public record Images(float[] pixels, int count) {
    }

    /** Prints the {@code data} progress line, then reads and splits the dataset; returns it with the seconds taken. */
    public static Splits load(Args args) {
        Progress.data(args.dataset());
        return loadSplits(args.dataDir(), args.dataset(), args.limitTrain());
    }

    /** train = the first limitTrain of examples 0..49,999, val = 50,000..59,999, test = t10k. */
    public static Splits loadSplits(Path dataDir, String dataset, int limitTrain) {
        Path directory = dataDir.resolve(dataset);
        if (!Files.isDirectory(directory)) {
            throw Failure.badInput("data directory " + directory + " not found: run `invoke data`, or point "
                    + "--data-dir / MNIST_DATA_DIR at the folder that holds " + dataset + "/");
        }
        Split train = readSplit(directory, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", TRAIN_COUNT);
        Split test = readSplit(directory, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", TEST_COUNT);
        int first = TRAIN_COUNT - VAL_COUNT;
        Split val = new Split(Arrays.copyOfRange(train.images(), first * PIXELS, TRAIN_COUNT * PIXELS),
                Arrays.copyOfRange(train.labels(), first, TRAIN_COUNT));
        int used = Math.min(limitTrain, first);
        return new Splits(new Split(Arrays.copyOf(train.images(), used * PIXELS), Arrays.copyOf(train.labels(), used)),
                val, test);
    }

    /** An IDX image file, gzip or plain (told apart by gzip's first two bytes), any number of images. */
    public static Images readImages(Path path) {
        byte[] bytes = readFile(path);
        boolean gzip = bytes.length >= 2 && (bytes[0] & 0xff) == 0x1f && (bytes[1] & 0xff) == 0x8b;
        float[] pixels = parseImages(gzip ? gunzip(bytes, path) : bytes, path.toString(), -1);
        return new Images(pixels, pixels.length / PIXELS);
    }

    private static Split readSplit(Path directory, String imagesFile, String labelsFile, int expected) {
        Path images = directory.resolve(imagesFile);
        Path labels = directory.resolve(labelsFile);
        return new Split(parseImages(gunzip(readFile(images), images), images.toString(), expected),
                parseLabels(gunzip(readFile(labels), labels), labels.toString(), expected));
    }

    static byte[] readFile(Path path) {
        try {
            return Files.readAllBytes(path);
        } catch (NoSuchFileException missing) {
            throw Failure.badInput(path + ": file not found");
        } catch (IOException error) {
            throw Failure.badInput(path + ": cannot read (" + error.getMessage() + ")");
        }
    }

    static byte[] gunzip(byte[] compressed, Path path) {
        try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(compressed), 1 << 16)) {
            return in.readAllBytes();
        } catch (EOFException truncated) {
            throw Failure.badInput(path + ": not a valid gzip file (truncated)");
        } catch (IOException error) {
            throw Failure.badInput(path + ": not a valid gzip file (" + error.getMessage() + ")");
        }
    }

    /** The pixels of an IDX image file, scaled; {@code expected} images, or any number when negative. */
    static float[] parseImages(byte[] raw, String name, int expected) {
        if (raw.length < 16) {
            throw Failure.badInput(name + ": too short for an IDX image header (" + raw.length + " bytes)");
        }
        ByteBuffer header = ByteBuffer.wrap(raw);  // big-endian, as IDX is
        int magic = header.getInt(0);
        long count = Integer.toUnsignedLong(header.getInt(4));
        int rows = header.getInt(8);
        int cols = header.getInt(12);
        if (magic != IMAGE_MAGIC) {
            throw Failure.badInput(String.format("%s: not an IDX image file (magic 0x%08x, expected 0x%08x)", name,
                    magic, IMAGE_MAGIC));
        }
        if (rows != 28 || cols != 28) {
            throw Failure.badInput(name + ": images are " + rows + "x" + cols + ", expected 28x28");
        }
        long pixels = count * PIXELS;
        if (raw.length - 16 != pixels) {
            throw Failure.badInput(name + ": header says " + count + " images, but holds " + (raw.length - 16)
                    + " pixel bytes (expected " + pixels + ")");
        }
        if (expected >= 0 && count != expected) {
            throw Failure.badInput(name + ": holds " + count + " images, expected " + expected);
        }
        float[] scaled = new float[(int) pixels];
        for (int i = 0; i < scaled.length; i++) {
            scaled[i] = (raw[16 + i] & 0xff) / 255.0f;
        }
        return scaled;
    }

    static int[] parseLabels(byte[] raw, String name, int expected) {
        if (raw.length < 8) {
            throw Failure.badInput(name + ": too short for an IDX label header (" + raw.length + " bytes)");
        }
        ByteBuffer header = ByteBuffer.wrap(raw);
        int magic = header.getInt(0);
        long count = Integer.toUnsignedLong(header.getInt(4));
        if (magic != LABEL_MAGIC) {
            throw Failure.badInput(String.format("%s: not an IDX label file (magic 0x%08x, expected 0x%08x)", name,
                    magic, LABEL_MAGIC));
        }
        if (raw.length - 8 != count) {
            throw Failure.badInput(name + ": header says " + count + " labels, but holds " + (raw.length - 8) + " bytes");
        }
        if (count != expected) {
            throw Failure.badInput(name + ": holds " + count + " labels, expected " + expected);
        }
        int[] labels = new int[(int) count];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = raw[8 + i] & 0xff;
            if (labels[i] > 9) {
                throw Failure.badInput(name + ": label " + labels[i] + " is out of range 0-9");
            }
        }
        return labels;
    }
}
