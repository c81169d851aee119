/* Flags, errors, .gz IDX files, safetensors, RNG and clocks: the plumbing of SPEC.md,
 * hand-written in C. None of it is arithmetic on the training path. */
#include "io.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

noreturn void fail(int status, const char *format, ...) {
    fflush(stdout);
    va_list ap;
    va_start(ap, format);
    fputs("error: ", stderr);
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

/* ================================================================ flags */

static const char USAGE[] =
    "usage: mnist [--help] [--dataset {mnist,fashion-mnist}] [--data-dir DIR] [--epochs N]\n"
    "             [--batch-size N] [--lr LR] [--momentum M] [--seed N] [--limit-train N]\n"
    "             [--no-shuffle] [--init FILE | --load FILE] [--save FILE] [--predict IDX_FILE]\n"
    "             [--threads N]\n"
    "\n"
    "Train the SPEC.md MLP on MNIST with hand-written x86-64 assembly kernels (AVX-512 or AVX2+FMA).\n"
    "\n"
    "options:\n"
    "  --help             show this help message and exit\n"
    "  --dataset NAME     which dataset to train on: mnist or fashion-mnist (default: mnist)\n"
    "  --data-dir DIR     data root holding <dataset>/ (default: $MNIST_DATA_DIR, else data/)\n"
    "  --epochs N         passes over the training set; 0 only evaluates (default: 5)\n"
    "  --batch-size N     examples per SGD step (default: 128)\n"
    "  --lr LR            learning rate (default: 0.05)\n"
    "  --momentum M       SGD momentum, in [0, 1) (default: 0.9)\n"
    "  --seed N           seeds initialisation and shuffling, 0..4294967295 (default: 0)\n"
    "  --limit-train N    train on the first N training examples only, 1..50000 (default: all 50000)\n"
    "  --no-shuffle       keep the training examples in file order every epoch\n"
    "  --init FILE        start from these safetensors weights instead of random ones\n"
    "  --load FILE        same as --init; with --epochs 0 only evaluates\n"
    "  --save FILE        write the trained weights to this safetensors file\n"
    "  --predict IDX_FILE classify the images of this IDX file (.gz or plain) with the --load weights\n"
    "                     instead of training\n"
    "  --threads N        threads for the matrix products (default: the CPUs this process may use,\n"
    "                     at most 8)\n"
    "\n"
    "environment:\n"
    "  MNIST_DATA_DIR     data root when --data-dir is not given\n"
    "  MNIST_ASM_ISA      avx512, avx2 or auto (default): which kernel set to run\n";

enum { F_DATASET, F_DATA_DIR, F_EPOCHS, F_BATCH, F_LR, F_MOMENTUM, F_SEED, F_LIMIT, F_NO_SHUFFLE,
       F_INIT, F_LOAD, F_SAVE, F_PREDICT, F_THREADS };
static const struct {
    const char *name;
    int takes_value;
} FLAGS[] = {
    [F_DATASET] = {"--dataset", 1}, [F_DATA_DIR] = {"--data-dir", 1}, [F_EPOCHS] = {"--epochs", 1},
    [F_BATCH] = {"--batch-size", 1}, [F_LR] = {"--lr", 1},           [F_MOMENTUM] = {"--momentum", 1},
    [F_SEED] = {"--seed", 1},        [F_LIMIT] = {"--limit-train", 1}, [F_NO_SHUFFLE] = {"--no-shuffle", 0},
    [F_INIT] = {"--init", 1},        [F_LOAD] = {"--load", 1},       [F_SAVE] = {"--save", 1},
    [F_PREDICT] = {"--predict", 1},  [F_THREADS] = {"--threads", 1},
};

/* An integer in [low, high]: optional sign and decimal digits, nothing else. */
static long long parse_int(const char *flag, const char *text, long long low, long long high) {
    const char *p = text + (*text == '+' || *text == '-');
    int ok = *p != '\0';
    for (; *p; p++)
        ok &= *p >= '0' && *p <= '9';
    long long value = 0;
    if (ok) {
        errno = 0;
        value = strtoll(text, NULL, 10);
        ok = errno == 0 && value >= low && value <= high;
    }
    if (!ok) {
        if (high == LLONG_MAX)
            fail(EXIT_BAD_INPUT, "%s must be an integer >= %lld, got '%s'", flag, low, text);
        fail(EXIT_BAD_INPUT, "%s must be an integer in %lld..%lld, got '%s'", flag, low, high, text);
    }
    return value;
}

/* A decimal number: [sign] digits [. digits] [e [sign] digits] (as Python's float() takes them). */
static int is_decimal(const char *p) {
    int digits = 0;
    p += *p == '+' || *p == '-';
    for (; *p >= '0' && *p <= '9'; p++)
        digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (!digits)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '+' || *p == '-';
        if (!(*p >= '0' && *p <= '9'))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

static double parse_number(const char *flag, const char *text, double low, int low_open, double high,
                           const char *wanted) {
    double value = is_decimal(text) ? strtod(text, NULL) : NAN;
    if (!isfinite(value) || value < low || (low_open && value == low) || value >= high)
        fail(EXIT_BAD_INPUT, "%s must be %s, got '%s'", flag, wanted, text);
    return value;
}

/* argparse's rule: "-5" or "-.5" is a value, any other "-..." is an option. */
static int looks_like_option(const char *text) {
    if (text[0] != '-' || text[1] == '\0')
        return 0;
    const char *p = text + 1;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '\0')
        return 0;
    if (*p == '.' && p[1] != '\0') {
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
        return *p != '\0';
    }
    return 1;
}

static int default_threads(void) {
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        return count < 1 ? 1 : count > 8 ? 8 : count;
    }
#endif
    return 1;
}

void parse_args(int argc, char **argv, Args *args) {
    *args = (Args){.dataset = "mnist", .epochs = 5, .batch_size = 128, .lr = 0.05, .momentum = 0.9,
                   .seed = 0, .limit_train = 50000, .shuffle = 1, .threads = 0};
    const char *init = NULL, *load = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(USAGE, stdout);
            exit(0);
        }
        const char *equals = strchr(arg, '=');
        size_t name_length = equals ? (size_t)(equals - arg) : strlen(arg);
        int flag = -1;
        for (int f = 0; f < (int)(sizeof FLAGS / sizeof FLAGS[0]); f++)
            if (strlen(FLAGS[f].name) == name_length && strncmp(arg, FLAGS[f].name, name_length) == 0)
                flag = f;
        if (flag < 0)
            fail(EXIT_BAD_INPUT, "unrecognized arguments: %s (see --help)", arg);
        const char *name = FLAGS[flag].name, *value = NULL;
        if (!FLAGS[flag].takes_value) {
            if (equals)
                fail(EXIT_BAD_INPUT, "argument %s: ignored explicit argument '%s' (see --help)", name, equals + 1);
        } else if (equals) {
            value = equals + 1;
        } else if (i + 1 < argc && !looks_like_option(argv[i + 1])) {
            value = argv[++i];
        } else {
            fail(EXIT_BAD_INPUT, "argument %s: expected one argument (see --help)", name);
        }
        switch (flag) {
        case F_DATASET:
            if (strcmp(value, "mnist") != 0 && strcmp(value, "fashion-mnist") != 0)
                fail(EXIT_BAD_INPUT,
                     "argument --dataset: invalid choice: '%s' (choose from 'mnist', 'fashion-mnist') (see --help)",
                     value);
            args->dataset = value;
            break;
        case F_DATA_DIR: args->data_dir = value; break;
        case F_EPOCHS: args->epochs = parse_int(name, value, 0, LLONG_MAX); break;
        case F_BATCH: args->batch_size = parse_int(name, value, 1, LLONG_MAX); break;
        case F_LR: args->lr = parse_number(name, value, 0.0, 1, INFINITY, "a number > 0"); break;
        case F_MOMENTUM: args->momentum = parse_number(name, value, 0.0, 0, 1.0, "a number in [0, 1)"); break;
        case F_SEED: args->seed = parse_int(name, value, 0, 4294967295LL); break;
        case F_LIMIT: args->limit_train = parse_int(name, value, 1, 50000); break;
        case F_NO_SHUFFLE: args->shuffle = 0; break;
        case F_INIT: init = value; break;
        case F_LOAD: load = value; break;
        case F_SAVE: args->save = value; break;
        case F_PREDICT: args->predict = value; break;
        case F_THREADS: args->threads = parse_int(name, value, 1, 1024); break;
        }
    }
    if (init && load)
        fail(EXIT_BAD_INPUT, "--init and --load are the same option; give only one");
    if (args->predict && !load)
        fail(EXIT_BAD_INPUT, "--predict needs the weights to classify with: add --load FILE");
    args->init = init ? init : load;
    if (!args->data_dir) {
        const char *env = getenv("MNIST_DATA_DIR");
        args->data_dir = env && *env ? env : "data";
    }
    if (args->threads == 0)
        args->threads = default_threads();
    if (args->save) {
        char directory[4096];
        const char *slash = strrchr(args->save, '/');
        if (!slash)
            strcpy(directory, ".");
        else
            snprintf(directory, sizeof directory, "%.*s", slash == args->save ? 1 : (int)(slash - args->save),
                     args->save);
        struct stat st;
        if (stat(directory, &st) != 0 || !S_ISDIR(st.st_mode))
            fail(EXIT_BAD_INPUT, "--save: directory %s does not exist", directory);
    }
}

/* Python's repr of a float: the shortest digits that read back to the same value, in
 * fixed notation for exponents -4..15 (always with a fractional part), else 1.5e-07. */
const char *format_number(double value) {
    static char text[64];
    char digits[40];
    int precision = 1;
    for (; precision < 17; precision++) {
        snprintf(digits, sizeof digits, "%.*e", precision - 1, value);
        if (strtod(digits, NULL) == value)
            break;
    }
    snprintf(digits, sizeof digits, "%.*e", precision - 1, value);
    int exponent = atoi(strchr(digits, 'e') + 1);
    if (exponent < -4 || exponent >= 16)
        return strcpy(text, digits);
    int decimals = precision - 1 - exponent;
    snprintf(text, sizeof text, "%.*f", decimals > 1 ? decimals : 1, value);
    return text;
}

/* ================================================================ .gz IDX files */

/* The whole decompressed file; a plain (not gzip) file is read as it is when plain_ok. */
static uint8_t *read_gz(const char *path, size_t *size, int plain_ok) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            fail(EXIT_BAD_INPUT, "%s: file not found", path);
        fail(EXIT_BAD_INPUT, "%s: cannot read (%s)", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode))
        fail(EXIT_BAD_INPUT, "%s: is a directory, expected a .gz file", path);
    gzFile file = gzopen(path, "rb");
    if (!file)
        fail(EXIT_BAD_INPUT, "%s: cannot open (%s)", path, strerror(errno));
    gzbuffer(file, 1 << 20);
    size_t capacity = 1 << 24, length = 0;
    uint8_t *data = malloc(capacity);
    if (!data)
        fail(1, "out of memory reading %s", path);
    for (;;) {
        if (capacity - length < (1 << 20)) {
            capacity *= 2;
            uint8_t *bigger = realloc(data, capacity);
            if (!bigger)
                fail(1, "out of memory reading %s", path);
            data = bigger;
        }
        int got = gzread(file, data + length, (unsigned)(capacity - length > (1u << 30) ? 1u << 30 : capacity - length));
        if (length == 0 && got >= 0 && gzdirect(file) && st.st_size > 0 && !plain_ok)
            fail(EXIT_BAD_INPUT, "%s: not a valid gzip file (not gzip data)", path);
        int code;
        const char *message = gzerror(file, &code);
        if (got < 0 || (code != Z_OK && code != Z_STREAM_END)) {
            if (code == Z_BUF_ERROR)
                fail(EXIT_BAD_INPUT, "%s: not a valid gzip file (truncated)", path);
            fail(EXIT_BAD_INPUT, "%s: not a valid gzip file (%s)", path, message);
        }
        if (got == 0)
            break;
        length += (size_t)got;
    }
    if (gzclose_r(file) != Z_OK)
        fail(EXIT_BAD_INPUT, "%s: not a valid gzip file (truncated)", path);
    *size = length;
    return data;
}

static uint32_t big_endian(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint8_t *read_idx_images(const char *path, int64_t *count, int plain_ok) {
    size_t size;
    uint8_t *raw = read_gz(path, &size, plain_ok);
    if (size < 16)
        fail(EXIT_BAD_INPUT, "%s: too short for an IDX image header (%zu bytes)", path, size);
    uint32_t magic = big_endian(raw), n = big_endian(raw + 4), rows = big_endian(raw + 8), cols = big_endian(raw + 12);
    if (magic != 0x803)
        fail(EXIT_BAD_INPUT, "%s: not an IDX image file (magic 0x%08x, expected 0x00000803)", path, magic);
    if (rows != 28 || cols != 28)
        fail(EXIT_BAD_INPUT, "%s: images are %ux%u, expected 28x28", path, rows, cols);
    if (size - 16 != (uint64_t)n * rows * cols)
        fail(EXIT_BAD_INPUT, "%s: header says %u images, but holds %zu pixel bytes (expected %llu)", path, n,
             size - 16, (unsigned long long)n * rows * cols);
    memmove(raw, raw + 16, size - 16);
    *count = n;
    return raw;
}

uint8_t *read_idx_labels(const char *path, int64_t *count) {
    size_t size;
    uint8_t *raw = read_gz(path, &size, 0);
    if (size < 8)
        fail(EXIT_BAD_INPUT, "%s: too short for an IDX label header (%zu bytes)", path, size);
    uint32_t magic = big_endian(raw), n = big_endian(raw + 4);
    if (magic != 0x801)
        fail(EXIT_BAD_INPUT, "%s: not an IDX label file (magic 0x%08x, expected 0x00000801)", path, magic);
    if (size - 8 != n)
        fail(EXIT_BAD_INPUT, "%s: header says %u labels, but holds %zu bytes", path, n, size - 8);
    memmove(raw, raw + 8, n);
    for (uint32_t i = 0; i < n; i++)
        if (raw[i] > 9)
            fail(EXIT_BAD_INPUT, "%s: label %u (example %u) is out of range 0-9", path, raw[i], i);
    *count = n;
    return raw;
}

/* ================================================================ safetensors */
/* File: u64 little-endian header length, a JSON header {name: {dtype, shape, data_offsets},
 * "__metadata__": {str: str}}, then the tensors' bytes. Checked strictly, as the reference
 * implementation does: known dtypes, sizes that match the shapes, offsets that tile the data. */

#define MAX_TENSORS 64
#define MAX_NAME 256
#define MAX_RANK 8

typedef struct {
    char name[MAX_NAME], dtype[16];
    int rank;
    int64_t shape[MAX_RANK];
    uint64_t begin, end;
} Entry;

typedef struct {
    const char *p, *end;
} Json;

static void skip_space(Json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int expect(Json *j, char c) {
    skip_space(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

/* A JSON string into out (NUL-terminated, at most cap - 1 bytes); 0 on malformed input. */
static int json_string(Json *j, char *out, size_t cap) {
    if (!expect(j, '"'))
        return 0;
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (j->p >= j->end)
                return 0;
            char e = *j->p++;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (simple && e) {
                c = (unsigned char)"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            } else if (e == 'u') {
                if (j->end - j->p < 4)
                    return 0;
                unsigned code = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *j->p++;
                    code = code * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                                  : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 99);
                    if (code > 0xFFFF)
                        return 0;
                }
                c = code < 0x80 ? (unsigned char)code : '?'; /* names we accept are ASCII */
            } else {
                return 0;
            }
        }
        if (n + 1 >= cap)
            return 0;
        out[n++] = (char)c;
    }
    if (!expect(j, '"'))
        return 0;
    out[n] = '\0';
    return 1;
}

static int json_uint(Json *j, uint64_t *value) {
    skip_space(j);
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return 0;
    uint64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*j->p++ - '0');
    }
    *value = v;
    return 1;
}

static int parse_entry(Json *j, Entry *e) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    char key[32];
    if (!expect(j, '{'))
        return 0;
    if (expect(j, '}'))
        return 0;
    do {
        if (!json_string(j, key, sizeof key) || !expect(j, ':'))
            return 0;
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            if (!json_string(j, e->dtype, sizeof e->dtype))
                return 0;
            have_dtype = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!expect(j, '['))
                return 0;
            e->rank = 0;
            if (!expect(j, ']')) {
                do {
                    uint64_t dim;
                    if (e->rank == MAX_RANK || !json_uint(j, &dim) || dim > (1ull << 40))
                        return 0;
                    e->shape[e->rank++] = (int64_t)dim;
                } while (expect(j, ','));
                if (!expect(j, ']'))
                    return 0;
            }
            have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            if (!expect(j, '[') || !json_uint(j, &e->begin) || !expect(j, ',') || !json_uint(j, &e->end) ||
                !expect(j, ']'))
                return 0;
            have_offsets = 1;
        } else {
            return 0;
        }
    } while (expect(j, ','));
    return expect(j, '}') && have_dtype && have_shape && have_offsets;
}

static int parse_metadata(Json *j) {
    char text[4096];
    if (!expect(j, '{'))
        return 0;
    if (expect(j, '}'))
        return 1;
    do {
        if (!json_string(j, text, sizeof text) || !expect(j, ':') || !json_string(j, text, sizeof text))
            return 0;
    } while (expect(j, ','));
    return expect(j, '}');
}

static int dtype_size(const char *dtype) {
    static const struct {
        const char *name;
        int size;
    } DTYPES[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
                  {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},     {"U32", 4},     {"F32", 4},
                  {"F64", 8},  {"I64", 8}, {"U64", 8}};
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(dtype, DTYPES[i].name) == 0)
            return DTYPES[i].size;
    return 0;
}

static int by_offset(const void *a, const void *b) {
    const Entry *x = *(const Entry *const *)a, *y = *(const Entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static const char *shape_text(const int64_t *shape, int rank) {
    static char text[2][128];
    static int which;
    char *out = text[which ^= 1];
    size_t n = (size_t)snprintf(out, 128, "[");
    for (int i = 0; i < rank; i++)
        n += (size_t)snprintf(out + n, 128 - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    snprintf(out + n, 128 - n, "]");
    return out;
}

void read_safetensors(const char *path, const TensorSpec *specs, int count, float *const *out) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        fail(EXIT_BAD_INPUT, "%s: weights file not found", path);
    FILE *file = fopen(path, "rb");
    if (!file)
        fail(EXIT_BAD_INPUT, "%s: cannot read weights file (%s)", path, strerror(errno));
    size_t size = (size_t)st.st_size;
    uint8_t *raw = malloc(size ? size : 1);
    if (!raw)
        fail(1, "out of memory reading %s", path);
    if (fread(raw, 1, size, file) != size)
        fail(EXIT_BAD_INPUT, "%s: cannot read weights file", path);
    fclose(file);
#define BAD(...) fail(EXIT_BAD_INPUT, "%s: not a safetensors file (" __VA_ARGS__)
    if (size < 8)
        BAD("%zu bytes, too short)", path, size);
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; i--)
        header_length = header_length << 8 | raw[i];
    if (header_length > 100000000 || header_length > size - 8)
        BAD("header length %llu does not fit the file)", path, (unsigned long long)header_length);
    Json j = {(const char *)raw + 8, (const char *)raw + 8 + header_length};
    static Entry entries[MAX_TENSORS];
    int n = 0;
    char key[MAX_NAME];
    if (!expect(&j, '{'))
        BAD("the header is not a JSON object)", path);
    if (!expect(&j, '}')) {
        do {
            if (!json_string(&j, key, sizeof key) || !expect(&j, ':'))
                BAD("malformed JSON header)", path);
            if (strcmp(key, "__metadata__") == 0) {
                if (!parse_metadata(&j))
                    BAD("malformed __metadata__)", path);
                continue;
            }
            if (n == MAX_TENSORS)
                BAD("more than %d tensors)", path, MAX_TENSORS);
            for (int i = 0; i < n; i++)
                if (strcmp(entries[i].name, key) == 0)
                    BAD("tensor %s appears twice)", path, key);
            Entry *e = &entries[n++];
            strcpy(e->name, key);
            if (!parse_entry(&j, e))
                BAD("malformed entry for tensor %s)", path, key);
        } while (expect(&j, ','));
        if (!expect(&j, '}'))
            BAD("malformed JSON header)", path);
    }
    skip_space(&j);
    if (j.p != j.end)
        BAD("trailing bytes after the JSON header)", path);
    uint64_t data_size = size - 8 - header_length;
    const Entry *sorted[MAX_TENSORS];
    for (int i = 0; i < n; i++) {
        Entry *e = &entries[i];
        int element = dtype_size(e->dtype);
        if (!element)
            BAD("tensor %s has unknown dtype %s)", path, e->name, e->dtype);
        uint64_t bytes = (uint64_t)element;
        for (int d = 0; d < e->rank; d++)
            bytes *= (uint64_t)e->shape[d];
        if (e->begin > e->end || e->end > data_size || e->end - e->begin != bytes)
            BAD("tensor %s: data_offsets [%llu, %llu] do not match its shape or the file)", path, e->name,
                (unsigned long long)e->begin, (unsigned long long)e->end);
        sorted[i] = e;
    }
    qsort(sorted, (size_t)n, sizeof sorted[0], by_offset);
    uint64_t position = 0;
    for (int i = 0; i < n; i++) {
        if (sorted[i]->begin != position)
            BAD("tensor data has gaps or overlaps)", path);
        position = sorted[i]->end;
    }
    if (position != data_size)
        BAD("%llu bytes after the last tensor)", path, (unsigned long long)(data_size - position));
#undef BAD
    /* the contract: exactly these tensors, float32, these shapes */
    const Entry *found[MAX_TENSORS] = {0};
    for (int s = 0; s < count; s++) {
        for (int i = 0; i < n; i++)
            if (strcmp(entries[i].name, specs[s].name) == 0)
                found[s] = &entries[i];
        if (!found[s])
            fail(EXIT_BAD_INPUT, "%s: weights file lacks tensor %s", path, specs[s].name);
    }
    const char *extra = NULL;
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (int s = 0; s < count; s++)
            known |= strcmp(entries[i].name, specs[s].name) == 0;
        if (!known && (!extra || strcmp(entries[i].name, extra) < 0))
            extra = entries[i].name;
    }
    if (extra)
        fail(EXIT_BAD_INPUT, "%s: weights file has unexpected tensor %s", path, extra);
    for (int s = 0; s < count; s++) {
        const Entry *e = found[s];
        if (strcmp(e->dtype, "F32") != 0)
            fail(EXIT_BAD_INPUT, "%s: tensor %s is %s, expected F32 (float32)", path, e->name, e->dtype);
        int same = e->rank == specs[s].rank;
        for (int d = 0; same && d < e->rank; d++)
            same = e->shape[d] == specs[s].shape[d];
        if (!same)
            fail(EXIT_BAD_INPUT, "%s: tensor %s has shape %s, expected %s", path, e->name,
                 shape_text(e->shape, e->rank), shape_text(specs[s].shape, specs[s].rank));
        memcpy(out[s], raw + 8 + header_length + e->begin, e->end - e->begin); /* little-endian F32 */
    }
    free(raw);
}

void write_safetensors(const char *path, const TensorSpec *specs, int count, const float *const *data) {
    char header[4096];
    size_t n = 0;
    uint64_t offset = 0, sizes[MAX_TENSORS];
    n += (size_t)snprintf(header + n, sizeof header - n, "{");
    for (int s = 0; s < count; s++) {
        sizes[s] = 4;
        for (int d = 0; d < specs[s].rank; d++)
            sizes[s] *= (uint64_t)specs[s].shape[d];
        char shape[64];
        if (specs[s].rank == 1)
            snprintf(shape, sizeof shape, "[%lld]", (long long)specs[s].shape[0]);
        else
            snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)specs[s].shape[0], (long long)specs[s].shape[1]);
        n += (size_t)snprintf(header + n, sizeof header - n, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":%s,"
                              "\"data_offsets\":[%llu,%llu]}", s ? "," : "", specs[s].name, shape,
                              (unsigned long long)offset, (unsigned long long)(offset + sizes[s]));
        offset += sizes[s];
    }
    n += (size_t)snprintf(header + n, sizeof header - n, "}");
    while (n % 8)
        header[n++] = ' '; /* the format pads the header with spaces */
    uint8_t length[8];
    for (int i = 0; i < 8; i++)
        length[i] = (uint8_t)((uint64_t)n >> (8 * i));
    FILE *file = fopen(path, "wb");
    if (!file)
        fail(EXIT_BAD_INPUT, "%s: cannot write weights (%s)", path, strerror(errno));
    int ok = fwrite(length, 1, 8, file) == 8 && fwrite(header, 1, n, file) == n;
    for (int s = 0; ok && s < count; s++)
        ok = fwrite(data[s], 1, sizes[s], file) == sizes[s];
    if (fclose(file) != 0 || !ok)
        fail(EXIT_BAD_INPUT, "%s: cannot write weights (%s)", path, strerror(errno));
}

/* ================================================================ RNG, clock, memory */

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_seed(Rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(Rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float rng_uniform(Rng *rng, float bound) {
    double unit = (double)(rng_next(rng) >> 11) * 0x1.0p-53; /* [0, 1) */
    return (float)((2.0 * unit - 1.0) * bound);
}

static uint64_t rng_below(Rng *rng, uint64_t n) { /* uniform in [0, n), no modulo bias */
    uint64_t threshold = (0 - n) % n, r;
    do
        r = rng_next(rng);
    while (r < threshold);
    return r % n;
}

void rng_shuffle(Rng *rng, int32_t *items, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(rng, (uint64_t)i + 1);
        int32_t swap = items[i];
        items[i] = items[j];
        items[j] = swap;
    }
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Buffers of 1 MB and more (weights, velocities, activations, the data set) get 2 MB
 * alignment and transparent huge pages where the kernel offers them: the GEMM epilogues
 * walk weight rows 2 KB apart, which would otherwise cost a TLB miss every other row. */
void *alloc_floats(size_t count) {
    size_t bytes = (count * sizeof(float) + 63) / 64 * 64, huge = (size_t)2 << 20;
    int big = bytes >= huge / 2;
    if (big)
        bytes = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(big ? huge : 64, bytes ? bytes : 64);
    if (!p)
        fail(1, "out of memory (%zu bytes)", bytes);
    if (big)
        madvise(p, bytes, MADV_HUGEPAGE); /* a hint; fine if refused */
    memset(p, 0, bytes);
    return p;
}
