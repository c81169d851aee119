package mnist.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CliTest {
    static Args parse(String... argv) {
        return Cli.parse(argv, "about", "/env/data");
    }

    @Test
    void defaultsAreTheContracts() {
        Args args = parse();
        assertEquals(new Args("mnist", Path.of("/env/data"), 5, 128, 0.05, 0.9, 0, 50_000, true, null, null, null),
                args);
    }

    @Test
    void everyFlagIsRead() {
        Args args = parse("--dataset", "fashion-mnist", "--data-dir", "d", "--epochs", "0", "--batch-size", "7",
                "--lr", "1e-3", "--momentum", "0", "--seed", "4294967295", "--limit-train", "2000", "--no-shuffle",
                "--load", "w.safetensors", "--predict", "x.idx");
        assertEquals(new Args("fashion-mnist", Path.of("d"), 0, 7, 0.001, 0, 4_294_967_295L, 2000, false,
                Path.of("w.safetensors"), null, Path.of("x.idx")), args);
        assertEquals(Path.of("data"), Cli.parse(new String[0], "about", "").dataDir());
        assertEquals(3, parse("--epochs", "2", "--epochs", "3").epochs());  // the last one counts, as with argparse
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--batch-size -5    | --batch-size must be an integer >= 1, got '-5'",
        "--batch-size 0     | --batch-size must be an integer >= 1, got '0'",
        "--epochs 1.5       | --epochs must be an integer >= 0, got '1.5'",
        "--lr abc           | --lr must be a number > 0, got 'abc'",
        "--lr -0.1          | --lr must be a number > 0, got '-0.1'",
        "--lr nan           | --lr must be a number > 0, got 'nan'",
        "--lr 1d            | --lr must be a number > 0, got '1d'",
        "--momentum 1       | --momentum must be a number in [0, 1), got '1'",
        "--seed 4294967296  | --seed must be an integer in 0..4294967295, got '4294967296'",
        "--limit-train 50001 | --limit-train must be an integer in 1..50000, got '50001'",
        "--dataset cifar10  | --dataset must be one of mnist, fashion-mnist, got 'cifar10'",
        "--predict x.idx    | --predict needs the weights to classify with: add --load FILE",
        "--save /nowhere/w  | --save: directory /nowhere does not exist",
    })
    void mistakesAreOneLineNamingTheFlag(String argv, String message) {
        Failure failure = assertThrows(Failure.class, () -> parse(argv.strip().split("\\s+")));
        assertEquals(message, failure.getMessage());
        assertEquals(Failure.BAD_INPUT, failure.status());
    }

    @ParameterizedTest
    @CsvSource({"--bogus,--bogus", "--epochs,--epochs", "--init a --load b,--init"})
    void picocliMistakesAreOneLineToo(String argv, String flag) {
        Failure failure = assertThrows(Failure.class, () -> parse(argv.split(" ")));
        assertTrue(failure.getMessage().contains(flag) && !failure.getMessage().contains("\n"), failure.getMessage());
        assertTrue(failure.getMessage().endsWith("(see --help)"), failure.getMessage());
    }

    @Test
    void helpPrintsTheUsageWithTheRowsSentenceAndNoRun() {
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        PrintStream saved = Log.out;
        Log.out = new PrintStream(text, true, StandardCharsets.UTF_8);
        try {
            assertNull(Cli.parse(new String[] {"--help"}, "Train the SPEC.md MLP with a test.", null));
        } finally {
            Log.out = saved;
        }
        String usage = text.toString(StandardCharsets.UTF_8);
        assertTrue(usage.contains("Train the SPEC.md MLP with a test.") && usage.contains("--limit-train"), usage);
    }
}
