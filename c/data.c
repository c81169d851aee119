/* The contract's data (SPEC.md §1): the four IDX .gz files, decompressed by zlib, checked, scaled and split. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "mnist.h"

#define IMAGE_MAGIC 0x00000803u
#define LABEL_MAGIC 0x00000801u
#define SIDE 28
#define TRAIN_COUNT 60000
#define TEST_COUNT 10000
#define VAL_COUNT 10000
#define MAX_DECOMPRESSED ((size_t)256 << 20)  /* the largest MNIST file is 47 MB */

/* The whole file in memory; a missing or unreadable file is bad input. */
static int read_file(const char *path, unsigned char **out, size_t *length) {
    struct stat info;
    if (stat(path, &info) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return fail(EXIT_BAD_INPUT, "%s: file not found", path);
        return fail(EXIT_BAD_INPUT, "%s: cannot read (%s)", path, strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) return fail(EXIT_BAD_INPUT, "%s: not a regular file", path);
    FILE *file = fopen(path, "rb");
    if (!file) return fail(EXIT_BAD_INPUT, "%s: cannot read (%s)", path, strerror(errno));
    size_t size = (size_t)info.st_size;
    unsigned char *buffer = malloc(size ? size : 1);
    if (!buffer) {
        fclose(file);
        return fail(EXIT_BAD_INPUT, "%s: too large to read (%zu bytes)", path, size);
    }
    size_t got = fread(buffer, 1, size, file);
    int failed = ferror(file);
    fclose(file);
    if (failed || got != size) {
        free(buffer);
        return fail(EXIT_BAD_INPUT, "%s: cannot read (short read)", path);
    }
    *out = buffer;
    *length = size;
    return EXIT_OK;
}

static int is_gzip(const unsigned char *bytes, size_t length) {
    return length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

/* Decompress gzip bytes read from path (one or more members); a truncated or corrupt file is bad input. */
static int gunzip(const char *path, const unsigned char *compressed, size_t compressed_length, unsigned char **out,
                  size_t *length) {
    if (!is_gzip(compressed, compressed_length))
        return fail(EXIT_BAD_INPUT, "%s: not a valid gzip file (no gzip magic bytes)", path);

    /* The trailer's ISIZE (size mod 2^32) is a good first guess at the output size. */
    size_t capacity = 1 << 16;
    if (compressed_length >= 18) {
        const unsigned char *t = compressed + compressed_length - 4;
        size_t hint = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
        if (hint > capacity && hint <= MAX_DECOMPRESSED) capacity = hint;
    }
    unsigned char *buffer = malloc(capacity);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (!buffer || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        free(buffer);
        return fail(EXIT_BAD_INPUT, "%s: cannot decompress (out of memory)", path);
    }
    z.next_in = (unsigned char *)compressed;  /* zlib does not write through next_in */
    size_t used = 0;
    size_t remaining = compressed_length;
    int result = Z_OK;
    const char *problem = NULL;
    while (!problem) {
        if (used == capacity) {
            if (capacity >= MAX_DECOMPRESSED) {
                problem = "decompresses to more than 256 MiB";
                break;
            }
            capacity *= 2;
            unsigned char *bigger = realloc(buffer, capacity);
            if (!bigger) {
                problem = "out of memory";
                break;
            }
            buffer = bigger;
        }
        uInt chunk = remaining > (1u << 30) ? (1u << 30) : (uInt)remaining;
        z.avail_in = chunk;
        size_t room = capacity - used;
        z.next_out = buffer + used;
        z.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        uInt out_before = z.avail_out;
        result = inflate(&z, Z_NO_FLUSH);
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
        return fail(EXIT_BAD_INPUT, "%s: not a valid gzip file (%s)", path, reason);
    }
    *out = buffer;
    *length = used;
    return EXIT_OK;
}

/* A whole gzip file, decompressed. */
static int read_gz(const char *path, unsigned char **out, size_t *length) {
    unsigned char *compressed = NULL;
    size_t compressed_length = 0;
    int status = read_file(path, &compressed, &compressed_length);
    if (status != EXIT_OK) return status;
    status = gunzip(path, compressed, compressed_length, out, length);
    free(compressed);
    return status;
}

static uint32_t big_endian(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

#define ANY_COUNT SIZE_MAX  /* parse_idx_images: a --predict file may hold any number of images */

/* IDX3 bytes → float32 [count, 784] scaled to [0, 1]. */
static int parse_idx_images(const char *name, const unsigned char *raw, size_t length, size_t expected,
                            float **images) {
    if (length < 16) return fail(EXIT_BAD_INPUT, "%s: too short for an IDX image header (%zu bytes)", name, length);
    uint32_t magic = big_endian(raw), count = big_endian(raw + 4);
    uint32_t rows = big_endian(raw + 8), cols = big_endian(raw + 12);
    if (magic != IMAGE_MAGIC)
        return fail(EXIT_BAD_INPUT, "%s: not an IDX image file (magic 0x%08x, expected 0x%08x)", name, magic,
                    IMAGE_MAGIC);
    if (rows != SIDE || cols != SIDE)
        return fail(EXIT_BAD_INPUT, "%s: images are %ux%u, expected %dx%d", name, rows, cols, SIDE, SIDE);
    uint64_t pixels = (uint64_t)count * SIDE * SIDE;
    if (length - 16 != pixels)
        return fail(EXIT_BAD_INPUT, "%s: header says %u images, but holds %zu pixel bytes (expected %llu)", name,
                    count, length - 16, (unsigned long long)pixels);
    if (expected != ANY_COUNT && count != expected)
        return fail(EXIT_BAD_INPUT, "%s: holds %u images, expected %zu", name, count, expected);
    float *out = malloc(pixels ? (size_t)pixels * sizeof *out : 1);
    if (!out) return fail(EXIT_BAD_INPUT, "%s: out of memory", name);
    for (size_t i = 0; i < pixels; i++) out[i] = (float)raw[16 + i] / 255.0f;
    *images = out;
    return EXIT_OK;
}

/* IDX1 bytes → uint8 [count], each 0–9. */
static int parse_idx_labels(const char *name, const unsigned char *raw, size_t length, size_t expected,
                            uint8_t **labels) {
    if (length < 8) return fail(EXIT_BAD_INPUT, "%s: too short for an IDX label header (%zu bytes)", name, length);
    uint32_t magic = big_endian(raw), count = big_endian(raw + 4);
    if (magic != LABEL_MAGIC)
        return fail(EXIT_BAD_INPUT, "%s: not an IDX label file (magic 0x%08x, expected 0x%08x)", name, magic,
                    LABEL_MAGIC);
    if (length - 8 != count)
        return fail(EXIT_BAD_INPUT, "%s: header says %u labels, but holds %zu bytes", name, count, length - 8);
    if (count != expected) return fail(EXIT_BAD_INPUT, "%s: holds %u labels, expected %zu", name, count, expected);
    for (size_t i = 0; i < count; i++)
        if (raw[8 + i] > 9) return fail(EXIT_BAD_INPUT, "%s: label %u is out of range 0-9", name, raw[8 + i]);
    uint8_t *out = malloc(count ? count : 1);
    if (!out) return fail(EXIT_BAD_INPUT, "%s: out of memory", name);
    memcpy(out, raw + 8, count);
    *labels = out;
    return EXIT_OK;
}

/* One pair of files → images and labels, `expected` of each. */
static int read_split(const char *directory, const char *images_file, const char *labels_file, size_t expected,
                      float **images, uint8_t **labels) {
    char images_path[4096], labels_path[4096];
    if ((size_t)snprintf(images_path, sizeof images_path, "%s/%s", directory, images_file) >= sizeof images_path ||
        (size_t)snprintf(labels_path, sizeof labels_path, "%s/%s", directory, labels_file) >= sizeof labels_path)
        return fail(EXIT_BAD_INPUT, "%s: path is too long", directory);
    unsigned char *raw = NULL;
    size_t length = 0;
    int status = read_gz(images_path, &raw, &length);
    if (status != EXIT_OK) return status;
    status = parse_idx_images(images_path, raw, length, expected, images);
    free(raw);
    if (status != EXIT_OK) return status;
    status = read_gz(labels_path, &raw, &length);
    if (status == EXIT_OK) {
        status = parse_idx_labels(labels_path, raw, length, expected, labels);
        free(raw);
    }
    if (status != EXIT_OK) {
        free(*images);
        *images = NULL;
    }
    return status;
}

int load_mnist(const char *data_dir, const char *dataset, size_t limit_train, Dataset *out) {
    memset(out, 0, sizeof *out);
    char directory[4096];
    if ((size_t)snprintf(directory, sizeof directory, "%s/%s", data_dir, dataset) >= sizeof directory)
        return fail(EXIT_BAD_INPUT, "--data-dir: path is too long");
    struct stat info;
    if (stat(directory, &info) != 0 || !S_ISDIR(info.st_mode))
        return fail(EXIT_BAD_INPUT,
                    "data directory %s not found: run `invoke data`, or point --data-dir / MNIST_DATA_DIR at the "
                    "folder that holds %s/",
                    directory, dataset);
    int status = read_split(directory, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", TRAIN_COUNT,
                            &out->train_images, &out->train_labels);
    if (status != EXIT_OK) return status;
    status = read_split(directory, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", TEST_COUNT,
                        &out->test.x, &out->test.y);
    if (status != EXIT_OK) {
        free_dataset(out);
        return status;
    }
    size_t split = TRAIN_COUNT - VAL_COUNT;
    out->test.n = TEST_COUNT;
    out->train = (Split){out->train_images, out->train_labels, limit_train < split ? limit_train : split};
    out->val = (Split){out->train_images + split * PIXELS, out->train_labels + split, VAL_COUNT};
    return EXIT_OK;
}

int read_images(const char *path, float **images, size_t *n) {
    unsigned char *raw = NULL;
    size_t length = 0;
    int status = read_file(path, &raw, &length);
    if (status != EXIT_OK) return status;
    if (is_gzip(raw, length)) {
        unsigned char *compressed = raw;
        status = gunzip(path, compressed, length, &raw, &length);
        free(compressed);
        if (status != EXIT_OK) return status;
    }
    status = parse_idx_images(path, raw, length, ANY_COUNT, images);
    free(raw);
    if (status == EXIT_OK) *n = (length - 16) / PIXELS;
    return status;
}

void free_dataset(Dataset *data) {
    free(data->train_images);
    free(data->train_labels);
    free(data->test.x);
    free(data->test.y);
    memset(data, 0, sizeof *data);
}
