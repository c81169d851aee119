/* The contract's weights file (SPEC.md §5): safetensors, read strictly and written by hand.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 *   {"fc1.weight":{"dtype":"F32","shape":[512,784],"data_offsets":[begin,end]}, ..., "__metadata__":{...}}
 * then the raw little-endian data, each tensor at [begin, end) of it. The reader accepts exactly the six
 * tensors of the contract, F32, of the contract's shapes, whose byte ranges tile the data exactly.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mnist.h"

const TensorSpec TENSORS[N_TENSORS] = {
    {"fc1.weight", 512, 784}, {"fc1.bias", 512, 0}, {"fc2.weight", 512, 512},
    {"fc2.bias", 512, 0},     {"fc3.weight", 10, 512}, {"fc3.bias", 10, 0},
};

#define MAX_HEADER (100u << 20)  /* the safetensors library's own limit */
#define MAX_DIMS 8
#define MAX_NAME 256

/* ------------------------------------------------------------ a JSON reader for the header's shape */
typedef struct {
    const char *at, *end;
    const char *problem;  /* first error, NULL while all is well */
} Json;

static void json_fail(Json *j, const char *problem) {
    if (!j->problem) j->problem = problem;
}

static void skip_space(Json *j) {
    while (j->at < j->end && (*j->at == ' ' || *j->at == '\t' || *j->at == '\n' || *j->at == '\r')) j->at++;
}

static int expect(Json *j, char c) {
    skip_space(j);
    if (j->problem || j->at >= j->end || *j->at != c) {
        json_fail(j, "malformed JSON header");
        return 0;
    }
    j->at++;
    return 1;
}

static int peek(Json *j, char c) {
    skip_space(j);
    return !j->problem && j->at < j->end && *j->at == c;
}

/* A string into out (NUL-terminated, truncated to size - 1; escapes outside ASCII become '?'). */
static void parse_string(Json *j, char *out, size_t size) {
    size_t n = 0;
    if (!expect(j, '"')) return;
    while (!j->problem) {
        if (j->at >= j->end) { json_fail(j, "malformed JSON header"); return; }
        unsigned char c = (unsigned char)*j->at++;
        if (c == '"') break;
        if (c < 0x20) { json_fail(j, "malformed JSON header"); return; }
        if (c == '\\') {
            if (j->at >= j->end) { json_fail(j, "malformed JSON header"); return; }
            char e = *j->at++;
            switch (e) {
            case '"': case '\\': case '/': c = (unsigned char)e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                unsigned code = 0;
                for (int k = 0; k < 4; k++) {
                    if (j->at >= j->end) { json_fail(j, "malformed JSON header"); return; }
                    char h = *j->at++;
                    unsigned digit = h >= '0' && h <= '9' ? (unsigned)(h - '0')
                                     : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                                     : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                                            : 16u;
                    if (digit == 16) { json_fail(j, "malformed JSON header"); return; }
                    code = code * 16 + digit;
                }
                c = code >= 0x20 && code < 0x7f ? (unsigned char)code : '?';
                break;
            }
            default: { json_fail(j, "malformed JSON header"); return; }
            }
        }
        if (n + 1 < size) out[n++] = (char)c;
    }
    if (size) out[n] = '\0';
}

/* A non-negative integer no larger than 2^53. */
static uint64_t parse_uint(Json *j) {
    skip_space(j);
    uint64_t value = 0;
    const char *start = j->at;
    while (j->at < j->end && *j->at >= '0' && *j->at <= '9') {
        value = value * 10 + (uint64_t)(*j->at++ - '0');
        if (value > (1ull << 53)) {
            json_fail(j, "number out of range in header");
            return 0;
        }
    }
    if (j->at == start) json_fail(j, "expected a non-negative integer in header");
    return value;
}

/* [n, n, ...] into values; returns the count, at most max. */
static size_t parse_uint_array(Json *j, uint64_t *values, size_t max) {
    size_t count = 0;
    if (!expect(j, '[')) return 0;
    if (peek(j, ']')) {
        j->at++;
        return 0;
    }
    do {
        uint64_t v = parse_uint(j);
        if (j->problem) return 0;
        if (count == max) {
            json_fail(j, "array too long in header");
            return 0;
        }
        values[count++] = v;
    } while (peek(j, ',') && expect(j, ','));
    expect(j, ']');
    return count;
}

typedef struct {
    char name[MAX_NAME];
    char dtype[16];
    uint64_t shape[MAX_DIMS];
    size_t dims;
    uint64_t begin, end;
} Entry;

/* {"dtype": "...", "shape": [...], "data_offsets": [b, e]}, each key exactly once. */
static void parse_entry(Json *j, Entry *e) {
    int seen_dtype = 0, seen_shape = 0, seen_offsets = 0;
    if (!expect(j, '{')) return;
    if (!peek(j, '}')) {
        do {
            char key[32];
            parse_string(j, key, sizeof key);
            if (!expect(j, ':')) return;
            if (strcmp(key, "dtype") == 0 && !seen_dtype) {
                parse_string(j, e->dtype, sizeof e->dtype);
                seen_dtype = 1;
            } else if (strcmp(key, "shape") == 0 && !seen_shape) {
                e->dims = parse_uint_array(j, e->shape, MAX_DIMS);
                seen_shape = 1;
            } else if (strcmp(key, "data_offsets") == 0 && !seen_offsets) {
                uint64_t offsets[2];
                if (parse_uint_array(j, offsets, 2) != 2) { json_fail(j, "bad data_offsets in header"); return; }
                e->begin = offsets[0];
                e->end = offsets[1];
                seen_offsets = 1;
            } else {
                { json_fail(j, "unexpected or repeated key in a tensor entry"); return; }
            }
            if (j->problem) return;
        } while (peek(j, ',') && expect(j, ','));
    }
    if (!expect(j, '}')) return;
    if (!seen_dtype || !seen_shape || !seen_offsets) json_fail(j, "tensor entry lacks dtype, shape or data_offsets");
}

/* "__metadata__": {"key": "value", ...}: checked for form, then ignored. */
static void skip_metadata(Json *j) {
    char text[8];
    if (!expect(j, '{')) return;
    if (peek(j, '}')) {
        j->at++;
        return;
    }
    do {
        parse_string(j, text, sizeof text);
        expect(j, ':');
        parse_string(j, text, sizeof text);
    } while (!j->problem && peek(j, ',') && expect(j, ','));
    expect(j, '}');
}

static void format_shape(char *out, size_t size, const uint64_t *shape, size_t dims) {
    size_t n = (size_t)snprintf(out, size, "[");
    for (size_t d = 0; d < dims && n < size; d++)
        n += (size_t)snprintf(out + n, size - n, "%s%llu", d ? ", " : "", (unsigned long long)shape[d]);
    if (n < size) snprintf(out + n, size - n, "]");
}

static int compare_begin(const void *a, const void *b) {
    const Entry *x = *(const Entry *const *)a, *y = *(const Entry *const *)b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Check the parsed header against the contract; copy the data into tensors. */
static int check_and_copy(const char *path, Entry *entries, size_t count, const unsigned char *data,
                          size_t data_length, float *tensors[N_TENSORS]) {
    const Entry *found[N_TENSORS] = {0};
    for (size_t i = 0; i < count; i++)
        for (size_t t = 0; t < N_TENSORS; t++)
            if (strcmp(entries[i].name, TENSORS[t].name) == 0) found[t] = &entries[i];
    for (size_t t = 0; t < N_TENSORS; t++)
        if (!found[t]) return fail(EXIT_BAD_INPUT, "%s: weights file lacks tensor %s", path, TENSORS[t].name);
    for (size_t i = 0; i < count; i++) {
        int known = 0;
        for (size_t t = 0; t < N_TENSORS; t++) known |= strcmp(entries[i].name, TENSORS[t].name) == 0;
        if (!known) return fail(EXIT_BAD_INPUT, "%s: weights file has unexpected tensor %s", path, entries[i].name);
    }
    for (size_t t = 0; t < N_TENSORS; t++) {
        const Entry *e = found[t];
        const TensorSpec *spec = &TENSORS[t];
        if (strcmp(e->dtype, "F32") != 0)
            return fail(EXIT_BAD_INPUT, "%s: tensor %s is %s, expected F32 (float32)", path, spec->name, e->dtype);
        uint64_t want[2] = {spec->rows, spec->cols};
        size_t want_dims = spec->cols ? 2 : 1;
        if (e->dims != want_dims || e->shape[0] != want[0] || (want_dims == 2 && e->shape[1] != want[1])) {
            char got_text[128], want_text[64];
            format_shape(got_text, sizeof got_text, e->shape, e->dims);
            format_shape(want_text, sizeof want_text, want, want_dims);
            return fail(EXIT_BAD_INPUT, "%s: tensor %s has shape %s, expected %s", path, spec->name, got_text,
                        want_text);
        }
    }
    /* Byte ranges: each as long as its tensor, together covering the data exactly, without overlap. */
    const Entry *order[N_TENSORS];
    memcpy(order, found, sizeof order);
    qsort(order, N_TENSORS, sizeof *order, compare_begin);
    uint64_t expected_begin = 0;
    for (size_t t = 0; t < N_TENSORS; t++) {
        const Entry *e = order[t];
        uint64_t bytes = e->shape[0] * (e->dims == 2 ? e->shape[1] : 1) * sizeof(float);
        if (e->begin != expected_begin || e->end < e->begin || e->end - e->begin != bytes || e->end > data_length)
            return fail(EXIT_BAD_INPUT, "%s: not a safetensors file (bad data_offsets for tensor %s)", path, e->name);
        expected_begin = e->end;
    }
    if (expected_begin != data_length)
        return fail(EXIT_BAD_INPUT, "%s: not a safetensors file (%llu bytes of data after the last tensor)", path,
                    (unsigned long long)(data_length - expected_begin));
    for (size_t t = 0; t < N_TENSORS; t++) {
        const unsigned char *src = data + found[t]->begin;
        size_t n = tensor_size(&TENSORS[t]);
        for (size_t i = 0; i < n; i++) {  /* little-endian on every host */
            uint32_t bits = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 | (uint32_t)src[4 * i + 2] << 16 |
                            (uint32_t)src[4 * i + 3] << 24;
            memcpy(&tensors[t][i], &bits, sizeof bits);
        }
    }
    return EXIT_OK;
}

#define MAX_ENTRIES 64

static int parse_weights(const char *path, const unsigned char *file, size_t length, float *tensors[N_TENSORS]) {
    if (length < 8) return fail(EXIT_BAD_INPUT, "%s: not a safetensors file (only %zu bytes)", path, length);
    uint64_t header_length = 0;
    for (int k = 7; k >= 0; k--) header_length = header_length << 8 | file[k];
    if (header_length < 2 || header_length > MAX_HEADER || header_length > length - 8)
        return fail(EXIT_BAD_INPUT, "%s: not a safetensors file (header length %llu does not fit the file)", path,
                    (unsigned long long)header_length);

    Entry *entries = calloc(MAX_ENTRIES, sizeof *entries);
    if (!entries) return fail(EXIT_BAD_INPUT, "%s: out of memory", path);
    Json j = {(const char *)file + 8, (const char *)file + 8 + header_length, NULL};
    size_t count = 0;
    int seen_metadata = 0;
    if (expect(&j, '{') && !peek(&j, '}')) {
        do {
            char name[MAX_NAME];
            parse_string(&j, name, sizeof name);
            if (!expect(&j, ':')) break;
            if (strcmp(name, "__metadata__") == 0 && !seen_metadata) {
                seen_metadata = 1;
                skip_metadata(&j);
                continue;
            }
            for (size_t i = 0; i < count; i++)
                if (strcmp(entries[i].name, name) == 0) json_fail(&j, "a tensor name appears twice in the header");
            if (count == MAX_ENTRIES) json_fail(&j, "too many tensors");
            if (j.problem) break;
            memcpy(entries[count].name, name, sizeof name);
            parse_entry(&j, &entries[count++]);
        } while (!j.problem && peek(&j, ',') && expect(&j, ','));
    }
    expect(&j, '}');
    skip_space(&j);
    if (!j.problem && j.at != j.end) json_fail(&j, "trailing bytes after the JSON header");
    int status;
    if (j.problem)
        status = fail(EXIT_BAD_INPUT, "%s: not a safetensors file (%s)", path, j.problem);
    else
        status = check_and_copy(path, entries, count, file + 8 + header_length, length - 8 - header_length, tensors);
    free(entries);
    return status;
}

int load_weights(const char *path, float *tensors[N_TENSORS]) {
    struct stat info;
    if (stat(path, &info) != 0 || !S_ISREG(info.st_mode))
        return fail(EXIT_BAD_INPUT, "%s: weights file not found", path);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(EXIT_BAD_INPUT, "%s: cannot read weights (%s)", path, strerror(errno));
    size_t length = (size_t)info.st_size;
    unsigned char *file = malloc(length ? length : 1);
    size_t got = file ? fread(file, 1, length, f) : 0;
    int failed = ferror(f);
    fclose(f);
    if (!file || failed || got != length) {
        free(file);
        return fail(EXIT_BAD_INPUT, "%s: cannot read weights", path);
    }
    int status = parse_weights(path, file, length, tensors);
    free(file);
    return status;
}

int save_weights(const char *path, float *const tensors[N_TENSORS]) {
    char header[1024];
    size_t n = 0;
    uint64_t offset = 0;
    n += (size_t)snprintf(header + n, sizeof header - n, "{");
    for (size_t t = 0; t < N_TENSORS; t++) {
        const TensorSpec *spec = &TENSORS[t];
        uint64_t bytes = tensor_size(spec) * sizeof(float);
        char shape[32];
        if (spec->cols)
            snprintf(shape, sizeof shape, "[%zu,%zu]", spec->rows, spec->cols);
        else
            snprintf(shape, sizeof shape, "[%zu]", spec->rows);
        n += (size_t)snprintf(header + n, sizeof header - n, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":%s,"
                              "\"data_offsets\":[%llu,%llu]}", t ? "," : "", spec->name, shape,
                              (unsigned long long)offset, (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    n += (size_t)snprintf(header + n, sizeof header - n, "}");
    while (n % 8) header[n++] = ' ';  /* the data starts 8-byte aligned, as the library writes it */

    FILE *f = fopen(path, "wb");
    if (!f) return fail(EXIT_BAD_INPUT, "%s: cannot write weights (%s)", path, strerror(errno));
    unsigned char prefix[8];
    for (int k = 0; k < 8; k++) prefix[k] = (unsigned char)((uint64_t)n >> (8 * k));
    int ok = fwrite(prefix, 1, 8, f) == 8 && fwrite(header, 1, n, f) == n;
    for (size_t t = 0; t < N_TENSORS && ok; t++) {
        size_t count = tensor_size(&TENSORS[t]);
        for (size_t i = 0; i < count && ok; i++) {
            uint32_t bits;
            memcpy(&bits, &tensors[t][i], sizeof bits);
            unsigned char le[4] = {(unsigned char)bits, (unsigned char)(bits >> 8), (unsigned char)(bits >> 16),
                                   (unsigned char)(bits >> 24)};
            ok = fwrite(le, 1, 4, f) == 4;
        }
    }
    int saved_errno = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        saved_errno = errno;
    }
    if (!ok) return fail(EXIT_BAD_INPUT, "%s: cannot write weights (%s)", path, strerror(saved_errno));
    return EXIT_OK;
}
