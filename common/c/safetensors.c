/* The contract's weights file (SPEC.md §5): safetensors, read strictly and written.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 *   {"fc1.weight":{"dtype":"F32","shape":[512,784],"data_offsets":[begin,end]}, ..., "__metadata__":{...}}
 * then the tensors' little-endian bytes, each at [begin, end) of the data. The reader checks the file as the
 * reference implementation does (known dtypes, sizes that match the shapes, byte ranges that tile the data
 * exactly), then the contract: exactly the expected tensors, F32, of the expected shapes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "contract.h"

const TensorSpec TENSORS[N_TENSORS] = {
    {"fc1.weight", 512, 784}, {"fc1.bias", 512, 0}, {"fc2.weight", 512, 512},
    {"fc2.bias", 512, 0},     {"fc3.weight", 10, 512}, {"fc3.bias", 10, 0},
};

int64_t tensor_size(const TensorSpec *spec) { return spec->cols ? spec->rows * spec->cols : spec->rows; }

Tensors alloc_tensors(void) {
    Tensors tensors;
    for (int t = 0; t < N_TENSORS; t++) tensors.t[t] = alloc_floats((size_t)tensor_size(&TENSORS[t]));
    return tensors;
}

void free_tensors(Tensors *tensors) {
    for (int t = 0; t < N_TENSORS; t++) free(tensors->t[t]);
}

void load_weights(const char *path, float *const tensors[N_TENSORS]) {
    safetensors_read(path, TENSORS, N_TENSORS, tensors);
}

void save_weights(const char *path, float *const tensors[N_TENSORS]) {
    safetensors_write(path, TENSORS, N_TENSORS, tensors);
}

#define MAX_HEADER 100000000u  /* the safetensors library's own limit */
#define MAX_TENSORS 64
#define MAX_NAME 256
#define MAX_RANK 8

/* ================================================================ a JSON reader for the header's shape */
typedef struct {
    const char *p, *end;
} Json;

typedef struct {
    char name[MAX_NAME], dtype[16];
    int rank;
    uint64_t shape[MAX_RANK];
    uint64_t begin, end;
} Entry;

static void skip_space(Json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

/* Consume c (after white space) if it is next. */
static int accept(Json *j, char c) {
    skip_space(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

/* A JSON string into out (NUL-terminated, at most cap - 1 bytes; \u escapes outside ASCII become '?');
 * 0 when malformed or too long. */
static int json_string(Json *j, char *out, size_t cap) {
    if (!accept(j, '"')) return 0;
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p++;
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (j->p >= j->end) return 0;
            char e = *j->p++;
            const char *simple = e ? strchr("\"\\/bfnrt", e) : NULL;
            if (simple) {
                c = (unsigned char)"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            } else if (e == 'u') {
                if (j->end - j->p < 4) return 0;
                unsigned code = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *j->p++;
                    unsigned digit = h >= '0' && h <= '9' ? (unsigned)(h - '0')
                                     : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                                     : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                                            : 16u;
                    if (digit == 16) return 0;
                    code = code * 16 + digit;
                }
                c = code >= 0x20 && code < 0x7f ? (unsigned char)code : '?';
            } else {
                return 0;
            }
        }
        if (n + 1 >= cap) return 0;
        out[n++] = (char)c;
    }
    if (!accept(j, '"')) return 0;
    out[n] = '\0';
    return 1;
}

/* A non-negative integer no larger than 2^53. */
static int json_uint(Json *j, uint64_t *value) {
    skip_space(j);
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return 0;
    uint64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        v = v * 10 + (uint64_t)(*j->p++ - '0');
        if (v > (1ull << 53)) return 0;
    }
    *value = v;
    return 1;
}

/* {"dtype": "...", "shape": [...], "data_offsets": [b, e]}, each key exactly once. */
static int parse_entry(Json *j, Entry *e) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    char key[32];
    if (!accept(j, '{')) return 0;
    do {
        if (!json_string(j, key, sizeof key) || !accept(j, ':')) return 0;
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            if (!json_string(j, e->dtype, sizeof e->dtype)) return 0;
            have_dtype = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!accept(j, '[')) return 0;
            e->rank = 0;
            if (!accept(j, ']')) {
                do {
                    if (e->rank == MAX_RANK || !json_uint(j, &e->shape[e->rank])) return 0;
                    e->rank++;
                } while (accept(j, ','));
                if (!accept(j, ']')) return 0;
            }
            have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            if (!accept(j, '[') || !json_uint(j, &e->begin) || !accept(j, ',') || !json_uint(j, &e->end) ||
                !accept(j, ']'))
                return 0;
            have_offsets = 1;
        } else {
            return 0;
        }
    } while (accept(j, ','));
    return accept(j, '}') && have_dtype && have_shape && have_offsets;
}

/* "__metadata__": {"key": "value", ...}: checked for form, then ignored. */
static int parse_metadata(Json *j) {
    char text[4096];
    if (!accept(j, '{')) return 0;
    if (accept(j, '}')) return 1;
    do {
        if (!json_string(j, text, sizeof text) || !accept(j, ':') || !json_string(j, text, sizeof text)) return 0;
    } while (accept(j, ','));
    return accept(j, '}');
}

static int dtype_size(const char *dtype) {
    static const struct {
        const char *name;
        int size;
    } DTYPES[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
                  {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},     {"U32", 4},     {"F32", 4},
                  {"F64", 8},  {"I64", 8}, {"U64", 8}};
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(dtype, DTYPES[i].name) == 0) return DTYPES[i].size;
    return 0;
}

static int by_offset(const void *a, const void *b) {
    const Entry *x = *(const Entry *const *)a, *y = *(const Entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static void shape_text(char *out, size_t size, const uint64_t *shape, int rank) {
    size_t n = (size_t)snprintf(out, size, "[");
    for (int i = 0; i < rank && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%llu", i ? ", " : "", (unsigned long long)shape[i]);
    if (n < size) snprintf(out + n, size - n, "]");
}

/* ================================================================ reading */
/* Parse the header into entries; NULL, or what is wrong with the file. */
static const char *parse_header(const uint8_t *raw, size_t size, Entry *entries, int *count, uint64_t *data_start,
                                char *why, size_t why_size) {
    if (size < 8) return snprintf(why, why_size, "%zu bytes, too short", size), why;
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; i--) header_length = header_length << 8 | raw[i];
    if (header_length < 2 || header_length > MAX_HEADER || header_length > size - 8)
        return snprintf(why, why_size, "header length %llu does not fit the file", (unsigned long long)header_length),
               why;
    Json j = {(const char *)raw + 8, (const char *)raw + 8 + header_length};
    int n = 0, seen_metadata = 0;
    char key[MAX_NAME];
    if (!accept(&j, '{')) return "the header is not a JSON object";
    if (!accept(&j, '}')) {
        do {
            if (!json_string(&j, key, sizeof key) || !accept(&j, ':')) return "malformed JSON header";
            if (strcmp(key, "__metadata__") == 0 && !seen_metadata) {
                seen_metadata = 1;
                if (!parse_metadata(&j)) return "malformed __metadata__";
                continue;
            }
            for (int i = 0; i < n; i++)
                if (strcmp(entries[i].name, key) == 0)
                    return snprintf(why, why_size, "tensor %s appears twice", key), why;
            if (n == MAX_TENSORS) return snprintf(why, why_size, "more than %d tensors", MAX_TENSORS), why;
            Entry *e = &entries[n++];
            memcpy(e->name, key, sizeof key);
            if (!parse_entry(&j, e)) return snprintf(why, why_size, "malformed entry for tensor %s", key), why;
        } while (accept(&j, ','));
        if (!accept(&j, '}')) return "malformed JSON header";
    }
    skip_space(&j);
    if (j.p != j.end) return "trailing bytes after the JSON header";

    uint64_t data_size = size - 8 - header_length;
    const Entry *sorted[MAX_TENSORS];
    for (int i = 0; i < n; i++) {
        Entry *e = &entries[i];
        uint64_t bytes = (uint64_t)dtype_size(e->dtype);
        if (!bytes) return snprintf(why, why_size, "tensor %s has unknown dtype %s", e->name, e->dtype), why;
        for (int d = 0; d < e->rank; d++) bytes = e->shape[d] && bytes > UINT64_MAX / e->shape[d] ? UINT64_MAX
                                                                                                : bytes * e->shape[d];
        if (e->begin > e->end || e->end > data_size || e->end - e->begin != bytes)
            return snprintf(why, why_size, "tensor %s: data_offsets [%llu, %llu] do not match its shape or the file",
                            e->name, (unsigned long long)e->begin, (unsigned long long)e->end),
                   why;
        sorted[i] = e;
    }
    qsort(sorted, (size_t)n, sizeof sorted[0], by_offset);
    uint64_t position = 0;
    for (int i = 0; i < n; i++) {
        if (sorted[i]->begin != position) return "tensor data has gaps or overlaps";
        position = sorted[i]->end;
    }
    if (position != data_size)
        return snprintf(why, why_size, "%llu bytes after the last tensor", (unsigned long long)(data_size - position)),
               why;
    *count = n;
    *data_start = 8 + header_length;
    return NULL;
}

/* What the contract finds wrong with well-formed entries (NULL: nothing); copies the data when all is well. */
static const char *check_contract(const uint8_t *data, const Entry *entries, int n, const TensorSpec *specs,
                                  int count, float *const *out, char *why, size_t why_size) {
    const Entry *found[MAX_TENSORS] = {0};
    for (int s = 0; s < count; s++) {
        for (int i = 0; i < n; i++)
            if (strcmp(entries[i].name, specs[s].name) == 0) found[s] = &entries[i];
        if (!found[s]) return snprintf(why, why_size, "weights file lacks tensor %s", specs[s].name), why;
    }
    const char *extra = NULL;  /* the first unexpected name in sorted order: the same message every time */
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (int s = 0; s < count; s++) known |= strcmp(entries[i].name, specs[s].name) == 0;
        if (!known && (!extra || strcmp(entries[i].name, extra) < 0)) extra = entries[i].name;
    }
    if (extra) return snprintf(why, why_size, "weights file has unexpected tensor %s", extra), why;
    for (int s = 0; s < count; s++) {
        const Entry *e = found[s];
        if (strcmp(e->dtype, "F32") != 0)
            return snprintf(why, why_size, "tensor %s is %s, expected F32 (float32)", e->name, e->dtype), why;
        uint64_t want[2] = {(uint64_t)specs[s].rows, (uint64_t)specs[s].cols};
        int want_rank = specs[s].cols ? 2 : 1;
        if (e->rank != want_rank || e->shape[0] != want[0] || (want_rank == 2 && e->shape[1] != want[1])) {
            char got_text[128], want_text[64];
            shape_text(got_text, sizeof got_text, e->shape, e->rank);
            shape_text(want_text, sizeof want_text, want, want_rank);
            return snprintf(why, why_size, "tensor %s has shape %s, expected %s", e->name, got_text, want_text), why;
        }
    }
    for (int s = 0; s < count; s++) {
        const uint8_t *src = data + found[s]->begin;
        for (int64_t i = 0; i < tensor_size(&specs[s]); i++) {  /* little-endian on every host */
            uint32_t bits = (uint32_t)src[4 * i] | (uint32_t)src[4 * i + 1] << 8 | (uint32_t)src[4 * i + 2] << 16 |
                            (uint32_t)src[4 * i + 3] << 24;
            memcpy(&out[s][i], &bits, sizeof bits);
        }
    }
    return NULL;
}

void safetensors_read(const char *path, const TensorSpec *specs, int count, float *const *out) {
    struct stat info;
    if (stat(path, &info) != 0 || !S_ISREG(info.st_mode)) fail(EXIT_BAD_INPUT, "%s: weights file not found", path);
    size_t size;
    uint8_t *raw = read_whole_file(path, &size);
    Entry *entries = calloc(MAX_TENSORS, sizeof *entries);
    if (!entries) fail(EXIT_INTERNAL, "out of memory");
    int n = 0;
    uint64_t data_start = 0;
    char why[512];
    const char *problem = parse_header(raw, size, entries, &n, &data_start, why, sizeof why);
    int malformed = problem != NULL;
    if (!malformed) problem = check_contract(raw + data_start, entries, n, specs, count, out, why, sizeof why);
    free(entries);
    free(raw);
    if (malformed) fail(EXIT_BAD_INPUT, "%s: not a safetensors file (%s)", path, problem);
    if (problem) fail(EXIT_BAD_INPUT, "%s: %s", path, problem);
}

/* ================================================================ writing */
void safetensors_write(const char *path, const TensorSpec *specs, int count, float *const *data) {
    char header[4096];
    size_t n = 0;
    uint64_t offset = 0;
    n += (size_t)snprintf(header + n, sizeof header - n, "{");
    for (int s = 0; s < count && n < sizeof header; s++) {
        uint64_t bytes = (uint64_t)tensor_size(&specs[s]) * sizeof(float);
        char shape[64];
        if (specs[s].cols)
            snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)specs[s].rows, (long long)specs[s].cols);
        else
            snprintf(shape, sizeof shape, "[%lld]", (long long)specs[s].rows);
        n += (size_t)snprintf(header + n, sizeof header - n, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":%s,"
                              "\"data_offsets\":[%llu,%llu]}", s ? "," : "", specs[s].name, shape,
                              (unsigned long long)offset, (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    if (n + 8 >= sizeof header) fail(EXIT_INTERNAL, "%s: too many tensors for the header", path);
    n += (size_t)snprintf(header + n, sizeof header - n, "}");
    while (n % 8) header[n++] = ' ';  /* the data starts 8-byte aligned, as the reference library writes it */

    FILE *file = fopen(path, "wb");
    if (!file) fail(EXIT_BAD_INPUT, "%s: cannot write weights (%s)", path, strerror(errno));
    uint8_t prefix[8], le[4096];
    for (int i = 0; i < 8; i++) prefix[i] = (uint8_t)((uint64_t)n >> (8 * i));
    int ok = fwrite(prefix, 1, 8, file) == 8 && fwrite(header, 1, n, file) == n;
    for (int s = 0; ok && s < count; s++) {
        int64_t size = tensor_size(&specs[s]);
        for (int64_t start = 0; ok && start < size; start += sizeof le / 4) {
            int64_t chunk = size - start < (int64_t)(sizeof le / 4) ? size - start : (int64_t)(sizeof le / 4);
            for (int64_t i = 0; i < chunk; i++) {  /* little-endian on every host */
                uint32_t bits;
                memcpy(&bits, &data[s][start + i], sizeof bits);
                for (int k = 0; k < 4; k++) le[4 * i + k] = (uint8_t)(bits >> (8 * k));
            }
            ok = fwrite(le, 4, (size_t)chunk, file) == (size_t)chunk;
        }
    }
    int saved_errno = errno;
    if (fclose(file) != 0 && ok) {
        ok = 0;
        saved_errno = errno;
    }
    if (!ok) fail(EXIT_BAD_INPUT, "%s: cannot write weights (%s)", path, strerror(saved_errno));
}
