package mnist.contract;

import java.io.PrintStream;
import java.util.Locale;

/** The log lines on stdout (SPEC.md §6), one method per event, each line flushed as it is printed. */
public final class Log {
    private Log() {
    }

    static PrintStream out = System.out;

    public static void start(String row, String framework, String device) {
        emit(Format.start(row, "java/" + Runtime.version().feature() + "." + Runtime.version().interim() + "."
                + Runtime.version().update(), framework, device));
    }

    public static void config(Args args) {
        emit(Format.config(args));
    }

    public static void data(Data.Splits splits, double seconds) {
        emit(Format.data(splits.train().count(), splits.val().count(), splits.test().count(), seconds));
    }

    public static void warmup(double seconds) {
        emit("event=warmup seconds=" + Format.three(seconds));
    }

    public static void epoch(long epoch, double trainLoss, double trainAcc, double valLoss, double valAcc,
                             double seconds) {
        emit(Format.epoch(epoch, trainLoss, trainAcc, valLoss, valAcc, seconds));
    }

    public static void test(double testLoss, double testAcc, double seconds) {
        emit("event=test test_loss=" + Format.six(testLoss) + " test_acc=" + Format.six(testAcc) + " seconds="
                + Format.three(seconds));
    }

    /** One image's class (the most probable digit, the lowest on a tie) and its ten probabilities. */
    public static void predict(long index, float[] probabilities, int offset) {
        emit(Format.predict(index, probabilities, offset));
    }

    private static void emit(String line) {
        out.println(line);
        out.flush();
    }

    /** The lines as text, for the tests. */
    static final class Format {
        private Format() {
        }

        static String six(double value) {
            return String.format(Locale.ROOT, "%.6f", value);
        }

        static String three(double value) {
            return String.format(Locale.ROOT, "%.3f", value);
        }

        /** A flag's number as Python's repr() writes it where it can (0.05, 1e-05, 1000000.0). */
        static String number(double value) {
            String text = Double.toString(value);  // 0.05, 1.0E-5, 1000000.0
            int e = text.indexOf('E');
            if (e < 0) {
                return text;
            }
            String mantissa = text.substring(0, e).replaceAll("\\.0$", "");
            int exponent = Integer.parseInt(text.substring(e + 1));
            return mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format(Locale.ROOT, "%02d", Math.abs(exponent));
        }

        static String start(String row, String language, String framework, String device) {
            return "event=start row=" + row + " language=" + language + " framework=" + framework + " device=" + device;
        }

        static String config(Args args) {
            return "event=config dataset=" + args.dataset() + " epochs=" + args.epochs() + " batch_size="
                    + args.batchSize() + " lr=" + number(args.lr()) + " momentum=" + number(args.momentum())
                    + " seed=" + args.seed() + " limit_train=" + args.limitTrain() + " shuffle="
                    + (args.shuffle() ? 1 : 0) + " init=" + (args.init() != null ? 1 : 0);
        }

        static String data(int train, int val, int test, double seconds) {
            return "event=data train=" + train + " val=" + val + " test=" + test + " seconds=" + three(seconds);
        }

        static String epoch(long epoch, double trainLoss, double trainAcc, double valLoss, double valAcc,
                            double seconds) {
            return "event=epoch epoch=" + epoch + " train_loss=" + six(trainLoss) + " train_acc=" + six(trainAcc)
                    + " val_loss=" + six(valLoss) + " val_acc=" + six(valAcc) + " seconds=" + three(seconds);
        }

        static String predict(long index, float[] probabilities, int offset) {
            int best = 0;
            for (int d = 1; d < Data.CLASSES; d++) {
                if (probabilities[offset + d] > probabilities[offset + best]) {
                    best = d;
                }
            }
            StringBuilder line = new StringBuilder("event=predict index=" + index + " class=" + best);
            for (int d = 0; d < Data.CLASSES; d++) {
                line.append(" p").append(d).append('=').append(six(probabilities[offset + d]));
            }
            return line.toString();
        }
    }
}
