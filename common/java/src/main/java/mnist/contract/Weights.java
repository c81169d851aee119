package mnist.contract;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;

/**
 * The weights file (SPEC.md §5): safetensors holding six float32 tensors under PyTorch's names, in its [out, in]
 * layout. Read strictly (a wrong name, dtype, shape or offset is the user's mistake, exit status 2) and written.
 */
public final class Weights {
    private Weights() {
    }

    /** The contract's tensors, in this order: name → shape. */
    public static final Map<String, long[]> SHAPES = shapes();

    private static Map<String, long[]> shapes() {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("fc1.weight", new long[] {512, 784});
        shapes.put("fc1.bias", new long[] {512});
        shapes.put("fc2.weight", new long[] {512, 512});
        shapes.put("fc2.bias", new long[] {512});
        shapes.put("fc3.weight", new long[] {10, 512});
        shapes.put("fc3.bias", new long[] {10});
        return java.util.Collections.unmodifiableMap(shapes);
    }

    /** The six tensors of a weights file, by name, in the order of {@link #SHAPES}. */
    public static Map<String, float[]> load(Path path) {
        if (!Files.isRegularFile(path)) {
            throw Failure.badInput(path + ": weights file not found");
        }
        byte[] bytes = Data.readFile(path);
        Map<String, Entry> entries = parseHeader(bytes, path);
        for (String name : SHAPES.keySet()) {
            if (!entries.containsKey(name)) {
                throw Failure.badInput(path + ": weights file lacks tensor " + name);
            }
        }
        for (String name : new TreeSet<>(entries.keySet())) {
            if (!SHAPES.containsKey(name)) {
                throw Failure.badInput(path + ": weights file has unexpected tensor " + name);
            }
        }
        Map<String, float[]> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> spec : SHAPES.entrySet()) {
            String name = spec.getKey();
            Entry entry = entries.get(name);
            if (!entry.dtype.equals("F32")) {
                throw Failure.badInput(path + ": tensor " + name + " is " + entry.dtype + ", expected F32 (float32)");
            }
            if (!Arrays.equals(entry.shape, spec.getValue())) {
                throw Failure.badInput(path + ": tensor " + name + " has shape " + Arrays.toString(entry.shape)
                        + ", expected " + Arrays.toString(spec.getValue()));
            }
            float[] values = new float[(int) (entry.end - entry.begin) / 4];
            ByteBuffer.wrap(bytes, (int) entry.begin, (int) (entry.end - entry.begin)).order(ByteOrder.LITTLE_ENDIAN)
                    .asFloatBuffer().get(values);
            tensors.put(name, values);
        }
        return tensors;
    }

    private record Entry(String dtype, long[] shape, long begin, long end) {
    }

    /** The header's tensors with their offsets made absolute, each checked to lie inside the file. */
    private static Map<String, Entry> parseHeader(byte[] bytes, Path path) {
        String notSafetensors = path + ": not a safetensors file";
        if (bytes.length < 8) {
            throw Failure.badInput(notSafetensors + " (" + bytes.length + " bytes)");
        }
        long length = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (length < 2 || length > bytes.length - 8) {
            throw Failure.badInput(notSafetensors + " (header length " + Long.toUnsignedString(length) + ")");
        }
        JsonObject header;
        try {
            header = new Gson().fromJson(new String(bytes, 8, (int) length, StandardCharsets.UTF_8), JsonObject.class);
        } catch (JsonParseException | ClassCastException error) {
            throw Failure.badInput(notSafetensors + " (its header is not a JSON object)");
        }
        if (header == null) {
            throw Failure.badInput(notSafetensors + " (empty header)");
        }
        long dataStart = 8 + length;
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> item : header.entrySet()) {
            if (item.getKey().equals("__metadata__")) {
                continue;
            }
            try {
                JsonObject tensor = item.getValue().getAsJsonObject();
                JsonArray shapeJson = tensor.getAsJsonArray("shape");
                long[] shape = new long[shapeJson.size()];
                long count = 1;
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = shapeJson.get(i).getAsLong();
                    count *= shape[i];
                }
                JsonArray offsets = tensor.getAsJsonArray("data_offsets");
                long begin = dataStart + offsets.get(0).getAsLong();
                long end = dataStart + offsets.get(1).getAsLong();
                String dtype = tensor.get("dtype").getAsString();
                int size = switch (dtype) {
                    case "F64", "I64", "U64" -> 8;
                    case "F32", "I32", "U32" -> 4;
                    case "F16", "BF16", "I16", "U16" -> 2;
                    default -> 1;
                };
                if (begin < dataStart || end < begin || end > bytes.length || end - begin != count * size) {
                    throw Failure.badInput(notSafetensors + " (tensor " + item.getKey() + "'s data_offsets lie "
                            + "outside the file or disagree with its shape)");
                }
                entries.put(item.getKey(), new Entry(dtype, shape, begin, end));
            } catch (IllegalStateException | NullPointerException | IndexOutOfBoundsException
                     | UnsupportedOperationException | NumberFormatException error) {
                throw Failure.badInput(notSafetensors + " (tensor " + item.getKey() + " is not described properly)");
            }
        }
        return entries;
    }

    /** Write the six tensors (names and shapes of {@link #SHAPES}, values row by row) as a safetensors file. */
    public static void save(Path path, Map<String, float[]> tensors) {
        if (!tensors.keySet().equals(SHAPES.keySet())) {
            throw Failure.internal("weights to save are " + new TreeSet<>(tensors.keySet()) + ", expected "
                    + new TreeSet<>(SHAPES.keySet()));
        }
        JsonObject header = new JsonObject();
        long offset = 0;
        for (Map.Entry<String, long[]> spec : SHAPES.entrySet()) {
            long count = Arrays.stream(spec.getValue()).reduce(1, (a, b) -> a * b);
            float[] values = tensors.get(spec.getKey());
            if (values.length != count) {
                throw Failure.internal("weights to save: " + spec.getKey() + " has " + values.length
                        + " values, expected " + count);
            }
            JsonObject entry = new JsonObject();
            entry.addProperty("dtype", "F32");
            JsonArray shape = new JsonArray();
            Arrays.stream(spec.getValue()).forEach(shape::add);
            entry.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(offset);
            offsets.add(offset + 4 * count);
            entry.add("data_offsets", offsets);
            header.add(spec.getKey(), entry);
            offset += 4 * count;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;  // the data starts 8-byte aligned
        ByteBuffer file = ByteBuffer.allocate(8 + padded + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
        file.putLong(padded).put(json);
        for (int i = json.length; i < padded; i++) {
            file.put((byte) ' ');
        }
        for (String name : SHAPES.keySet()) {
            float[] values = tensors.get(name);
            file.asFloatBuffer().put(values);
            file.position(file.position() + 4 * values.length);
        }
        try {
            Files.write(path, file.array());
        } catch (IOException error) {
            throw Failure.badInput(path + ": cannot write weights (" + error.getMessage() + ")");
        }
    }
}
