/* The contract's flags (SPEC.md §4): every value checked in full, every mistake one error line. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mnist.h"

#define MAX_SEED 4294967295LL

void print_usage(const char *program) {
    printf("usage: %s [--dataset {mnist,fashion-mnist}] [--data-dir DIR] [--epochs N] [--batch-size N]\n"
           "       [--lr LR] [--momentum M] [--seed N] [--limit-train N] [--no-shuffle]\n"
           "       [--init FILE | --load FILE] [--save FILE] [--predict IDX_FILE] [--help]\n"
           "\n"
           "Train the SPEC.md MLP on MNIST in C: hand-written backprop, matrix products by CBLAS.\n"
           "\n"
           "options:\n"
           "  --dataset {mnist,fashion-mnist}  which dataset to train on (default: mnist)\n"
           "  --data-dir DIR       data root holding <dataset>/ (default: $MNIST_DATA_DIR, else data/)\n"
           "  --epochs N           passes over the training set; 0 only evaluates (default: 5)\n"
           "  --batch-size N       examples per SGD step (default: 128)\n"
           "  --lr LR              learning rate (default: 0.05)\n"
           "  --momentum M         SGD momentum in [0, 1) (default: 0.9)\n"
           "  --seed N             seeds initialisation and shuffling, 0..4294967295 (default: 0)\n"
           "  --limit-train N      train on the first N training examples only (default: all 50000)\n"
           "  --no-shuffle         keep the training examples in file order every epoch\n"
           "  --init FILE          start from these safetensors weights instead of random ones\n"
           "  --load FILE          same as --init; with --epochs 0 only evaluates\n"
           "  --save FILE          write the trained weights to this safetensors file\n"
           "  --predict IDX_FILE   classify the images of this IDX file (.gz or plain) with the --load weights\n"
           "                       instead of training\n"
           "  -h, --help           show this help message and exit\n",
           program);
}

/* A whole string that is an optionally signed decimal integer in [low, high]. */
static int parse_int(const char *flag, const char *text, long long low, long long high, long long *out) {
    const char *digits = text + (text[0] == '+' || text[0] == '-');
    int ok = isdigit((unsigned char)digits[0]);
    for (const char *c = digits; ok && *c; c++) ok = isdigit((unsigned char)*c);
    long long value = 0;
    if (ok) {
        errno = 0;
        value = strtoll(text, NULL, 10);
        ok = errno == 0 && value >= low && value <= high;
    }
    if (!ok) {
        if (high == LLONG_MAX)
            return fail(EXIT_BAD_INPUT, "%s must be an integer >= %lld, got '%s'", flag, low, text);
        return fail(EXIT_BAD_INPUT, "%s must be an integer in %lld..%lld, got '%s'", flag, low, high, text);
    }
    *out = value;
    return EXIT_OK;
}

/* A whole string that is a finite decimal number (0.05, 5e-2); hex floats, inf and nan are refused. */
static int parse_number(const char *flag, const char *text, int (*check)(double), const char *wanted,
                        double *out) {
    char *end = NULL;
    double value = NAN;
    if (text[0] != '\0' && !isspace((unsigned char)text[0]) && !strpbrk(text, "xX")) {
        errno = 0;
        value = strtod(text, &end);
        if (*end != '\0' || errno == ERANGE) value = NAN;
    }
    if (!isfinite(value) || !check(value))
        return fail(EXIT_BAD_INPUT, "%s must be %s, got '%s'", flag, wanted, text);
    *out = value;
    return EXIT_OK;
}

static int positive(double v) { return v > 0; }
static int unit_interval(double v) { return v >= 0 && v < 1; }

static int directory_exists(const char *path) {
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

/* The directory a file would be written to: "." for a bare name, "/" for a name in the root. */
static int check_save_directory(const char *path) {
    size_t length = strlen(path);
    while (length > 1 && path[length - 1] == '/') length--;  /* "out/" names "out", as Python's Path does */
    size_t slash = length;
    while (slash > 0 && path[slash - 1] != '/') slash--;
    char directory[4096];
    if (slash == 0) {
        strcpy(directory, ".");
    } else {
        size_t end = slash - 1;
        while (end > 0 && path[end - 1] == '/') end--;
        if (end == 0) end = 1;  /* "/x" lives in "/" */
        if (end >= sizeof directory) return fail(EXIT_BAD_INPUT, "--save: path is too long");
        memcpy(directory, path, end);
        directory[end] = '\0';
    }
    if (!directory_exists(directory)) return fail(EXIT_BAD_INPUT, "--save: directory %s does not exist", directory);
    return EXIT_OK;
}

int parse_args(int argc, char **argv, Args *args) {
    *args = (Args){.dataset = "mnist", .epochs = 5, .batch_size = 128, .lr = 0.05, .momentum = 0.9, .seed = 0,
                   .limit_train = TRAIN_EXAMPLES, .shuffle = 1};
    const char *init = NULL, *load = NULL;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            args->help = 1;
            return EXIT_OK;
        }
        if (strcmp(arg, "--") == 0) {
            if (i + 1 < argc) return fail(EXIT_BAD_INPUT, "unrecognized argument '%s' (see --help)", argv[i + 1]);
            break;
        }
        if (strncmp(arg, "--", 2) != 0) return fail(EXIT_BAD_INPUT, "unrecognized argument '%s' (see --help)", arg);

        /* --flag=value or --flag value */
        char name[64];
        const char *equals = strchr(arg, '=');
        size_t name_length = equals ? (size_t)(equals - arg) : strlen(arg);
        if (name_length >= sizeof name) return fail(EXIT_BAD_INPUT, "unrecognized argument '%s' (see --help)", arg);
        memcpy(name, arg, name_length);
        name[name_length] = '\0';

        if (strcmp(name, "--no-shuffle") == 0) {
            if (equals) return fail(EXIT_BAD_INPUT, "--no-shuffle takes no value, got '%s'", equals + 1);
            args->shuffle = 0;
            continue;
        }
        static const char *const valued[] = {"--dataset", "--data-dir", "--epochs", "--batch-size",
                                             "--lr", "--momentum", "--seed", "--limit-train",
                                             "--init", "--load", "--save", "--predict"};
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= strcmp(name, valued[k]) == 0;
        if (!known) return fail(EXIT_BAD_INPUT, "unrecognized argument '%s' (see --help)", name);

        const char *value;
        if (equals) {
            value = equals + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            return fail(EXIT_BAD_INPUT, "%s expects a value (see --help)", name);
        }

        long long integer;
        int status = EXIT_OK;
        if (strcmp(name, "--dataset") == 0) {
            if (strcmp(value, "mnist") != 0 && strcmp(value, "fashion-mnist") != 0)
                return fail(EXIT_BAD_INPUT, "--dataset must be one of mnist, fashion-mnist, got '%s'", value);
            args->dataset = value;
        } else if (strcmp(name, "--data-dir") == 0) {
            args->data_dir = value;
        } else if (strcmp(name, "--epochs") == 0) {
            status = parse_int(name, value, 0, LLONG_MAX, &args->epochs);
        } else if (strcmp(name, "--batch-size") == 0) {
            status = parse_int(name, value, 1, LLONG_MAX, &args->batch_size);
        } else if (strcmp(name, "--lr") == 0) {
            status = parse_number(name, value, positive, "a number > 0", &args->lr);
        } else if (strcmp(name, "--momentum") == 0) {
            status = parse_number(name, value, unit_interval, "a number in [0, 1)", &args->momentum);
        } else if (strcmp(name, "--seed") == 0) {
            status = parse_int(name, value, 0, MAX_SEED, &integer);
            args->seed = (uint32_t)integer;
        } else if (strcmp(name, "--limit-train") == 0) {
            status = parse_int(name, value, 1, TRAIN_EXAMPLES, &args->limit_train);
        } else if (strcmp(name, "--init") == 0) {
            init = value;
        } else if (strcmp(name, "--load") == 0) {
            load = value;
        } else if (strcmp(name, "--predict") == 0) {
            args->predict = value;
        } else {
            args->save = value;
        }
        if (status != EXIT_OK) return status;
    }

    if (init && load) return fail(EXIT_BAD_INPUT, "--init and --load are the same option; give only one");
    if (args->predict && !load)
        return fail(EXIT_BAD_INPUT, "--predict needs the weights to classify with: add --load FILE");
    args->init = init ? init : load;
    if (!args->data_dir) {
        const char *env = getenv("MNIST_DATA_DIR");
        args->data_dir = env && env[0] ? env : "data";
    }
    if (args->data_dir[0] == '\0') args->data_dir = ".";
    if (args->save) return check_save_directory(args->save);
    return EXIT_OK;
}
