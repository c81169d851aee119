package mnist.contract;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WeightsTest {
    @TempDir
    Path folder;

    static Map<String, float[]> tensors() {
        Map<String, float[]> tensors = new LinkedHashMap<>();
        Weights.SHAPES.forEach((name, shape) -> {
            float[] values = new float[(int) (shape.length == 1 ? shape[0] : shape[0] * shape[1])];
            for (int i = 0; i < values.length; i++) {
                values[i] = name.hashCode() % 7 + i * 0.001f;
            }
            tensors.put(name, values);
        });
        return tensors;
    }

    /** A safetensors file with the given header JSON and payload bytes. */
    Path file(String name, String header, int payload) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer bytes = ByteBuffer.allocate(8 + json.length + payload).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putLong(json.length).put(json);
        Path path = folder.resolve(name);
        Files.write(path, bytes.array());
        return path;
    }

    @Test
    void savedWeightsLoadBackExactly() {
        Path path = folder.resolve("w.safetensors");
        Weights.save(path, tensors());
        Map<String, float[]> loaded = Weights.load(path);
        assertEquals(Weights.SHAPES.keySet(), loaded.keySet());
        tensors().forEach((name, values) -> assertArrayEquals(values, loaded.get(name), name));
    }

    @Test
    void theFileIsSafetensorsWithAnAlignedHeader() throws IOException {
        Path path = folder.resolve("w.safetensors");
        Weights.save(path, tensors());
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN);
        long length = bytes.getLong();
        assertEquals(0, length % 8);
        String header = new String(bytes.array(), 8, (int) length, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[512,784],\"data_offsets\":[0,1605632]}"),
                header);
        assertEquals(8 + length + 4L * (512 * 784 + 512 + 512 * 512 + 512 + 10 * 512 + 10), Files.size(path));
    }

    @Test
    void badFilesAreTheUsersMistake() throws IOException {
        Path absent = folder.resolve("absent.safetensors");
        assertEquals(absent + ": weights file not found", assertThrows(Failure.class, () -> Weights.load(absent))
                .getMessage());
        Path garbage = folder.resolve("garbage.safetensors");
        Files.write(garbage, new byte[] {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1});
        assertTrue(assertThrows(Failure.class, () -> Weights.load(garbage)).getMessage()
                .startsWith(garbage + ": not a safetensors file"));
        Path lying = file("lying.safetensors",
                "{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[512,784],\"data_offsets\":[0,1099511627776]}}", 16);
        assertEquals(lying + ": not a safetensors file (tensor fc1.weight's data_offsets lie outside the file or "
                + "disagree with its shape)", assertThrows(Failure.class, () -> Weights.load(lying)).getMessage());
        Path one = file("one.safetensors", "{\"fc1.bias\":{\"dtype\":\"F32\",\"shape\":[512],\"data_offsets\":[0,2048]}}",
                2048);
        assertEquals(one + ": weights file lacks tensor fc1.weight",
                assertThrows(Failure.class, () -> Weights.load(one)).getMessage());
    }

    @Test
    void wrongShapeDtypeOrNameIsNamed() throws IOException {
        Path path = folder.resolve("w.safetensors");
        Weights.save(path, tensors());
        byte[] bytes = Files.readAllBytes(path);
        String text = new String(bytes, StandardCharsets.ISO_8859_1);
        Path renamed = folder.resolve("renamed.safetensors");
        Files.write(renamed, text.replace("fc3.bias", "fc9.bias").getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(renamed + ": weights file lacks tensor fc3.bias",
                assertThrows(Failure.class, () -> Weights.load(renamed)).getMessage());
        Path reshaped = folder.resolve("reshaped.safetensors");
        Files.write(reshaped, text.replace("[512,512]", "[256,1024]").getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(reshaped + ": tensor fc2.weight has shape [256, 1024], expected [512, 512]",
                assertThrows(Failure.class, () -> Weights.load(reshaped)).getMessage());
        Path ints = folder.resolve("ints.safetensors");
        Files.write(ints, text.replace("\"F32\"", "\"I32\"").getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(ints + ": tensor fc1.weight is I32, expected F32 (float32)",
                assertThrows(Failure.class, () -> Weights.load(ints)).getMessage());
    }
}
