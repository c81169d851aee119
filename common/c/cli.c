/* The contract's flags (SPEC.md §4) through getopt_long: every value checked in full, every mistake
 * one error line in argparse's words (the Python rows' parser), exit status 2. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "contract.h"

enum { F_DATASET = 256, F_DATA_DIR, F_EPOCHS, F_BATCH, F_LR, F_MOMENTUM, F_SEED, F_LIMIT, F_NO_SHUFFLE, F_INIT,
       F_LOAD, F_SAVE, F_PREDICT, F_THREADS, F_HELP = 'h' };

static const struct option OPTIONS[] = {
    {"dataset", required_argument, NULL, F_DATASET},   {"data-dir", required_argument, NULL, F_DATA_DIR},
    {"epochs", required_argument, NULL, F_EPOCHS},     {"batch-size", required_argument, NULL, F_BATCH},
    {"lr", required_argument, NULL, F_LR},             {"momentum", required_argument, NULL, F_MOMENTUM},
    {"seed", required_argument, NULL, F_SEED},         {"limit-train", required_argument, NULL, F_LIMIT},
    {"no-shuffle", no_argument, NULL, F_NO_SHUFFLE},   {"init", required_argument, NULL, F_INIT},
    {"load", required_argument, NULL, F_LOAD},         {"save", required_argument, NULL, F_SAVE},
    {"predict", required_argument, NULL, F_PREDICT},   {"help", no_argument, NULL, F_HELP},
    {"threads", required_argument, NULL, F_THREADS},  /* last: only rows with Row.threads_flag */
    {NULL, 0, NULL, 0},
};
enum { N_OPTIONS = sizeof OPTIONS / sizeof OPTIONS[0] - 1 };

static void print_usage(const char *program, const Row *row) {
    printf("usage: %s [--help] [--dataset {mnist,fashion-mnist}] [--data-dir DIR] [--epochs N]\n"
           "       [--batch-size N] [--lr LR] [--momentum M] [--seed N] [--limit-train N] [--no-shuffle]\n"
           "       [--init FILE | --load FILE] [--save FILE] [--predict IDX_FILE]%s\n"
           "\n%s\n\n"
           "options:\n"
           "  -h, --help           show this help message and exit\n"
           "  --dataset {mnist,fashion-mnist}  which dataset to train on (default: mnist)\n"
           "  --data-dir DIR       data root holding <dataset>/ (default: $MNIST_DATA_DIR, else data/)\n"
           "  --epochs N           passes over the training set; 0 only evaluates (default: 5)\n"
           "  --batch-size N       examples per SGD step (default: 128)\n"
           "  --lr LR              learning rate (default: 0.05)\n"
           "  --momentum M         SGD momentum in [0, 1) (default: 0.9)\n"
           "  --seed N             seeds initialisation and shuffling, 0..4294967295 (default: 0)\n"
           "  --limit-train N      train on the first N training examples only, 1..50000 (default: all 50000)\n"
           "  --no-shuffle         keep the training examples in file order every epoch\n"
           "  --init FILE          start from these safetensors weights instead of random ones\n"
           "  --load FILE          same as --init; with --epochs 0 only evaluates\n"
           "  --save FILE          write the trained weights to this safetensors file\n"
           "  --predict IDX_FILE   classify the images of this IDX file (.gz or plain) with the --load weights\n"
           "                       instead of training\n",
           program, row->threads_flag ? " [--threads N]" : "", row->summary);
    if (row->threads_flag)
        printf("  --threads N          threads for the matrix products (default: the CPUs this process may\n"
               "                       use, at most 8)\n");
    if (row->help_extra) printf("\n%s", row->help_extra);
    fflush(stdout);
}

/* A whole string that is an optionally signed decimal integer in [low, high]. */
static int64_t parse_int(const char *flag, const char *text, long long low, long long high) {
    const char *digits = text + (text[0] == '+' || text[0] == '-');
    int ok = *digits != '\0';
    for (const char *c = digits; *c; c++) ok &= *c >= '0' && *c <= '9';
    long long value = 0;
    if (ok) {
        errno = 0;
        value = strtoll(text, NULL, 10);
        ok = errno == 0 && value >= low && value <= high;
    }
    if (!ok && high == LLONG_MAX) fail(EXIT_BAD_INPUT, "%s must be an integer >= %lld, got '%s'", flag, low, text);
    if (!ok) fail(EXIT_BAD_INPUT, "%s must be an integer in %lld..%lld, got '%s'", flag, low, high, text);
    return value;
}

/* A decimal number as Python's float() takes it: [sign] digits [. digits] [e [sign] digits]. */
static int is_decimal(const char *p) {
    int digits = 0;
    p += *p == '+' || *p == '-';
    for (; *p >= '0' && *p <= '9'; p++) digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) digits++;
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '+' || *p == '-';
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == '\0';
}

/* A finite number with low < value (low <= value when low_closed) and value < high. */
static double parse_number(const char *flag, const char *text, double low, int low_closed, double high,
                           const char *wanted) {
    double value = is_decimal(text) ? strtod(text, NULL) : NAN;
    if (!isfinite(value) || value < low || (!low_closed && value == low) || value >= high)
        fail(EXIT_BAD_INPUT, "%s must be %s, got '%s'", flag, wanted, text);
    return value;
}

/* argparse's rule for a separate value: "-5" or "-.5" is a value, any other "-..." is an option. */
static int looks_like_option(const char *text) {
    if (text[0] != '-' || text[1] == '\0') return 0;
    const char *p = text + 1;
    while (*p >= '0' && *p <= '9') p++;
    if (*p == '\0') return 0;
    if (*p == '.' && p[1] != '\0') {
        for (p++; *p >= '0' && *p <= '9'; p++) continue;
        return *p != '\0';
    }
    return 1;
}

/* The directory a --save file would be written to must exist ("." for a bare name, "/" for "/x"). */
static void check_save_directory(const char *path) {
    char directory[4096];
    size_t length = strlen(path);
    while (length > 1 && path[length - 1] == '/') length--;  /* "out/" names "out", as Python's Path does */
    size_t slash = length;
    while (slash > 0 && path[slash - 1] != '/') slash--;
    if (slash == 0) {
        strcpy(directory, ".");
    } else {
        size_t end = slash - 1;
        while (end > 0 && path[end - 1] == '/') end--;
        if (end == 0) end = 1;
        if (end >= sizeof directory) fail(EXIT_BAD_INPUT, "--save: path is too long");
        memcpy(directory, path, end);
        directory[end] = '\0';
    }
    struct stat info;
    if (stat(directory, &info) != 0 || !S_ISDIR(info.st_mode))
        fail(EXIT_BAD_INPUT, "--save: directory %s does not exist", directory);
}

/* The argument getopt_long just read, as the user wrote it ("--epochs=3" → "--epochs"). */
static const char *written_name(const char *arg, char *out, size_t size) {
    size_t n = strcspn(arg, "=");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), arg);
    return out;
}

Args parse_args(int argc, char **argv, const Row *row) {
    Args args = {.dataset = "mnist", .epochs = 5, .batch_size = 128, .lr = 0.05, .momentum = 0.9, .seed = 0,
                 .limit_train = TRAIN_EXAMPLES, .shuffle = 1};
    const char *init = NULL, *load = NULL;
    struct option options[N_OPTIONS + 1];
    memcpy(options, OPTIONS, sizeof options);
    if (!row->threads_flag) options[N_OPTIONS - 1] = (struct option){NULL, 0, NULL, 0};

    opterr = 0;  /* the errors below, not getopt's own */
    optind = 0;  /* a fresh scan (glibc), also when called again */
    for (;;) {
        int first = optind ? optind : 1, index = -1;
        int flag = getopt_long(argc, argv, "+:h", options, &index);
        if (flag == -1) break;
        /* getopt_long takes unique abbreviations (--epo); argparse here does not (allow_abbrev=False). */
        const char *arg = argv[first];
        char name[64];
        if (flag != '?' && flag != ':' && index >= 0 &&
            strcmp(written_name(arg, name, sizeof name) + 2, options[index].name) != 0)
            fail(EXIT_BAD_INPUT, "unrecognized arguments: %s (see --help)", name);
        if (flag == '?' && optopt == 0)
            fail(EXIT_BAD_INPUT, "unrecognized arguments: %s (see --help)", written_name(arg, name, sizeof name));
        if (flag == '?' && optopt == F_NO_SHUFFLE)
            fail(EXIT_BAD_INPUT, "argument --no-shuffle: ignored explicit argument '%s' (see --help)",
                 strchr(arg, '=') ? strchr(arg, '=') + 1 : "");
        if (flag == '?' && optopt == F_HELP && arg[1] == '-')
            fail(EXIT_BAD_INPUT, "argument --help: ignored explicit argument '%s' (see --help)",
                 strchr(arg, '=') ? strchr(arg, '=') + 1 : "");
        if (flag == '?')
            fail(EXIT_BAD_INPUT, "unrecognized arguments: %s (see --help)", arg);
        if (flag == ':' || (optarg && optarg == argv[optind - 1] && looks_like_option(optarg)))
            fail(EXIT_BAD_INPUT, "argument %s: expected one argument (see --help)",
                 written_name(arg, name, sizeof name));
        const char *flag_name = index >= 0 ? options[index].name : "help", *value = optarg;
        char display[80];
        snprintf(display, sizeof display, "--%s", flag_name);
        switch (flag) {
        case F_HELP:
            print_usage(argc > 0 ? argv[0] : "mnist", row);
            exit(EXIT_OK);
        case F_DATASET:
            if (strcmp(value, "mnist") != 0 && strcmp(value, "fashion-mnist") != 0)
                fail(EXIT_BAD_INPUT,
                     "argument --dataset: invalid choice: '%s' (choose from 'mnist', 'fashion-mnist') (see --help)",
                     value);
            args.dataset = value;
            break;
        case F_DATA_DIR: args.data_dir = value; break;
        case F_EPOCHS: args.epochs = parse_int(display, value, 0, LLONG_MAX); break;
        case F_BATCH: args.batch_size = parse_int(display, value, 1, LLONG_MAX); break;
        case F_LR: args.lr = parse_number(display, value, 0.0, 0, INFINITY, "a number > 0"); break;
        case F_MOMENTUM: args.momentum = parse_number(display, value, 0.0, 1, 1.0, "a number in [0, 1)"); break;
        case F_SEED: args.seed = (uint32_t)parse_int(display, value, 0, 4294967295LL); break;
        case F_LIMIT: args.limit_train = parse_int(display, value, 1, TRAIN_EXAMPLES); break;
        case F_NO_SHUFFLE: args.shuffle = 0; break;
        case F_INIT: init = value; break;
        case F_LOAD: load = value; break;
        case F_SAVE: args.save = value; break;
        case F_PREDICT: args.predict = value; break;
        case F_THREADS: args.threads = parse_int(display, value, 1, 1024); break;
        }
    }
    if (optind < argc) fail(EXIT_BAD_INPUT, "unrecognized arguments: %s (see --help)", argv[optind]);
    if (init && load) fail(EXIT_BAD_INPUT, "--init and --load are the same option; give only one");
    if (args.predict && !load) fail(EXIT_BAD_INPUT, "--predict needs the weights to classify with: add --load FILE");
    args.init = init ? init : load;
    if (!args.data_dir) {
        const char *env = getenv("MNIST_DATA_DIR");
        args.data_dir = env && env[0] ? env : "data";
    }
    if (args.data_dir[0] == '\0') args.data_dir = ".";
    if (row->threads_flag && args.threads == 0) args.threads = default_threads();
    if (args.save) check_save_directory(args.save);
    progress_start(row->name);
    return args;
}
