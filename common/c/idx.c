/* The contract's data (SPEC.md §1): IDX files, gzip-compressed (zlib) or plain, checked, scaled to
 * [0, 1] and split. Every problem is one error line and exit status 2. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "contract.h"

#define IMAGE_MAGIC 0x00000803u
#define LABEL_MAGIC 0x00000801u
#define SIDE 28
#define TRAIN_FILE 60000
#define TEST_FILE 10000
#define MAX_DECOMPRESSED ((size_t)256 << 20)  /* the largest MNIST file is 47 MB */

uint8_t *read_whole_file(const char *path, size_t *length) {
    struct stat info;
    if (stat(path, &info) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) fail(EXIT_BAD_INPUT, "%s: file not found", path);
        fail(EXIT_BAD_INPUT, "%s: cannot read (%s)", path, strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) fail(EXIT_BAD_INPUT, "%s: not a regular file", path);
    FILE *file = fopen(path, "rb");
    if (!file) fail(EXIT_BAD_INPUT, "%s: cannot read (%s)", path, strerror(errno));
    size_t size = (size_t)info.st_size;
    uint8_t *buffer = malloc(size ? size : 1);
    size_t got = buffer ? fread(buffer, 1, size, file) : 0;
    int failed = ferror(file);
    fclose(file);
    if (!buffer) fail(EXIT_BAD_INPUT, "%s: too large to read (%zu bytes)", path, size);
    if (failed || got != size) {
        free(buffer);
        fail(EXIT_BAD_INPUT, "%s: cannot read (short read)", path);
    }
    *length = size;
    return buffer;
}

static int is_gzip(const uint8_t *bytes, size_t length) { return length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

uint8_t *gunzip(const char *path, const uint8_t *compressed, size_t compressed_length, size_t *out_length) {
    if (!is_gzip(compressed, compressed_length))
        fail(EXIT_BAD_INPUT, "%s: not a valid gzip file (no gzip magic bytes)", path);
    size_t capacity = 1 << 16;  /* the trailer's ISIZE (size mod 2^32) is a good first guess */
    if (compressed_length >= 18) {
        const uint8_t *t = compressed + compressed_length - 4;
        size_t hint = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
        if (hint > capacity && hint <= MAX_DECOMPRESSED) capacity = hint;
    }
    uint8_t *buffer = malloc(capacity);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (!buffer || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        free(buffer);
        fail(EXIT_BAD_INPUT, "%s: cannot decompress (out of memory)", path);
    }
    z.next_in = (uint8_t *)compressed;  /* zlib does not write through next_in */
    size_t used = 0, remaining = compressed_length;
    const char *problem = NULL;
    while (!problem) {
        if (used == capacity) {
            uint8_t *bigger = capacity < MAX_DECOMPRESSED ? realloc(buffer, capacity * 2) : NULL;
            if (!bigger) {
                problem = capacity < MAX_DECOMPRESSED ? "out of memory" : "decompresses to more than 256 MiB";
                break;
            }
            buffer = bigger;
            capacity *= 2;
        }
        uInt chunk = remaining > (1u << 30) ? (1u << 30) : (uInt)remaining;
        size_t room = capacity - used;
        z.avail_in = chunk;
        z.next_out = buffer + used;
        z.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        uInt out_before = z.avail_out;
        int result = inflate(&z, Z_NO_FLUSH);
        remaining -= chunk - z.avail_in;
        used += out_before - z.avail_out;
        if (result == Z_STREAM_END) {
            if (remaining == 0) break;
            inflateReset(&z);  /* another gzip member follows */
        } else if (result == Z_BUF_ERROR && remaining == 0) {
            problem = "truncated";
        } else if (result != Z_OK && result != Z_BUF_ERROR) {
            problem = z.msg ? z.msg : "corrupt data";
        }
    }
    char reason[128];
    if (problem) snprintf(reason, sizeof reason, "%s", problem);
    inflateEnd(&z);
    if (problem) {
        free(buffer);
        fail(EXIT_BAD_INPUT, "%s: not a valid gzip file (%s)", path, reason);
    }
    *out_length = used;
    return buffer;
}

/* The file's bytes, decompressed when they start with gzip's magic (or must: !plain_ok). */
static uint8_t *read_maybe_gzip(const char *path, int plain_ok, size_t *length) {
    uint8_t *raw = read_whole_file(path, length);
    if (plain_ok && !is_gzip(raw, *length)) return raw;
    jmp_buf *outer = fail_jump, here;  /* free raw also when gunzip fails */
    if (setjmp(here)) {
        char message[sizeof fail_message];
        memcpy(message, fail_message, sizeof message);
        free(raw);
        fail_jump = outer;
        fail(fail_status, "%s", message);
    }
    fail_jump = &here;
    uint8_t *out = gunzip(path, raw, *length, length);
    fail_jump = outer;
    free(raw);
    return out;
}

static uint32_t big_endian(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Each check of an IDX header: on failure free the bytes, then fail with the message. */
#define CHECK(ok, ...)                      \
    do {                                    \
        if (!(ok)) {                        \
            free(raw);                      \
            fail(EXIT_BAD_INPUT, __VA_ARGS__); \
        }                                   \
    } while (0)

uint8_t *read_idx_images(const char *path, int64_t expected, int plain_ok, int64_t *count) {
    size_t length;
    uint8_t *raw = read_maybe_gzip(path, plain_ok, &length);
    CHECK(length >= 16, "%s: too short for an IDX image header (%zu bytes)", path, length);
    uint32_t magic = big_endian(raw), n = big_endian(raw + 4), rows = big_endian(raw + 8), cols = big_endian(raw + 12);
    CHECK(magic == IMAGE_MAGIC, "%s: not an IDX image file (magic 0x%08x, expected 0x%08x)", path, magic,
          IMAGE_MAGIC);
    CHECK(rows == SIDE && cols == SIDE, "%s: images are %ux%u, expected %dx%d", path, rows, cols, SIDE, SIDE);
    uint64_t pixels = (uint64_t)n * SIDE * SIDE;
    CHECK(length - 16 == pixels, "%s: header says %u images, but holds %zu pixel bytes (expected %llu)", path, n,
          length - 16, (unsigned long long)pixels);
    CHECK(expected < 0 || n == expected, "%s: holds %u images, expected %lld", path, n, (long long)expected);
    memmove(raw, raw + 16, pixels);
    *count = n;
    return raw;
}

uint8_t *read_idx_labels(const char *path, int64_t expected) {
    size_t length;
    uint8_t *raw = read_maybe_gzip(path, 0, &length);
    CHECK(length >= 8, "%s: too short for an IDX label header (%zu bytes)", path, length);
    uint32_t magic = big_endian(raw), n = big_endian(raw + 4);
    CHECK(magic == LABEL_MAGIC, "%s: not an IDX label file (magic 0x%08x, expected 0x%08x)", path, magic,
          LABEL_MAGIC);
    CHECK(length - 8 == n, "%s: header says %u labels, but holds %zu bytes", path, n, length - 8);
    CHECK(n == expected, "%s: holds %u labels, expected %lld", path, n, (long long)expected);
    for (uint32_t i = 0; i < n; i++) {
        unsigned label = raw[8 + i];
        CHECK(label <= 9, "%s: label %u (example %u) is out of range 0-9", path, label, i);
    }
    memmove(raw, raw + 8, n);
    return raw;
}

static float *to_floats(const uint8_t *pixels, int64_t count, PixelScaler *scale) {
    float *x = alloc_floats((size_t)count);
    if (scale) {
        scale(x, pixels, count);
    } else {
        for (int64_t i = 0; i < count; i++) x[i] = (float)pixels[i] / 255.0f;
    }
    return x;
}

/* One pair of files: `expected` images and as many labels. */
static Split read_split(const char *directory, const char *images_name, const char *labels_name, int64_t expected,
                        PixelScaler *scale) {
    char images_path[4096], labels_path[4096];
    if ((size_t)snprintf(images_path, sizeof images_path, "%s/%s", directory, images_name) >= sizeof images_path ||
        (size_t)snprintf(labels_path, sizeof labels_path, "%s/%s", directory, labels_name) >= sizeof labels_path)
        fail(EXIT_BAD_INPUT, "%s: path is too long", directory);
    int64_t n;
    uint8_t *pixels = read_idx_images(images_path, expected, 0, &n);
    Split split = {to_floats(pixels, n * PIXELS, scale), NULL, n};
    free(pixels);
    uint8_t *labels = read_idx_labels(labels_path, expected);
    split.y = malloc((size_t)n * sizeof *split.y);
    if (!split.y) fail(EXIT_INTERNAL, "out of memory");
    for (int64_t i = 0; i < n; i++) split.y[i] = labels[i];
    free(labels);
    return split;
}

Dataset load_mnist(const Args *args, PixelScaler *scale) {
    progress_data(args->dataset);
    char directory[4096];
    if ((size_t)snprintf(directory, sizeof directory, "%s/%s", args->data_dir, args->dataset) >= sizeof directory)
        fail(EXIT_BAD_INPUT, "--data-dir: path is too long");
    struct stat info;
    if (stat(directory, &info) != 0 || !S_ISDIR(info.st_mode))
        fail(EXIT_BAD_INPUT,
             "data directory %s not found: run `invoke data`, or point --data-dir / MNIST_DATA_DIR at the folder "
             "that holds %s/",
             directory, args->dataset);
    Split file = read_split(directory, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", TRAIN_FILE, scale);
    Dataset data;
    data.test = read_split(directory, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", TEST_FILE, scale);
    int64_t train = TRAIN_EXAMPLES, val = TRAIN_FILE - TRAIN_EXAMPLES;
    data.train = (Split){file.x, file.y, args->limit_train < train ? args->limit_train : train};
    data.val = (Split){file.x + (size_t)train * PIXELS, file.y + train, val};
    return data;
}

void free_dataset(Dataset *data) {
    free(data->train.x);
    free(data->train.y);
    free(data->test.x);
    free(data->test.y);
    memset(data, 0, sizeof *data);
}

Split read_images(const char *path, PixelScaler *scale) {
    Split images = {NULL, NULL, 0};
    uint8_t *pixels = read_idx_images(path, -1, 1, &images.n);
    images.x = to_floats(pixels, images.n * PIXELS, scale);
    free(pixels);
    return images;
}
