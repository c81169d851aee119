/* Everything around the arithmetic: flags, errors, .gz IDX files, safetensors, the seeded
 * RNG, clocks. (SPEC.md §1, §4, §5, §7.) */
#ifndef MNIST_IO_H
#define MNIST_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

enum { EXIT_BAD_INPUT = 2, EXIT_DIVERGED = 3 };

/* Print "error: ..." as the last stderr line and exit with `status`. */
noreturn void fail(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* ---- flags (SPEC.md §4) ---- */
typedef struct {
    const char *dataset;
    const char *data_dir;
    long long epochs, batch_size, seed, limit_train, threads;
    double lr, momentum;
    int shuffle;
    const char *init; /* --init or --load */
    const char *save;
    const char *predict; /* an IDX image file to classify with the --load weights instead of training */
} Args;

void parse_args(int argc, char **argv, Args *args);
const char *format_number(double value); /* Python's repr of a float: 0.05, 1e-05 */

/* ---- IDX files in .gz (SPEC.md §1) ---- */
/* uint8 pixels [count * 784] of a checked IDX3 image file, count returned; gzip-compressed, or also
 * plain when plain_ok (--predict: told apart by gzip's magic bytes). */
uint8_t *read_idx_images(const char *path, int64_t *count, int plain_ok);
/* labels [count] of a checked IDX1 label file, each 0-9. */
uint8_t *read_idx_labels(const char *path, int64_t *count);

/* ---- safetensors (SPEC.md §5) ---- */
typedef struct {
    const char *name;
    int rank;
    int64_t shape[2];
} TensorSpec;

/* Read exactly these tensors (F32, these shapes) into out[i] (numel floats each). */
void read_safetensors(const char *path, const TensorSpec *specs, int count, float *const *out);
void write_safetensors(const char *path, const TensorSpec *specs, int count, const float *const *data);

/* ---- seeded RNG: xoshiro256** seeded through splitmix64 ---- */
typedef struct {
    uint64_t s[4];
} Rng;
void rng_seed(Rng *rng, uint64_t seed);
float rng_uniform(Rng *rng, float bound);             /* U(-bound, +bound) */
void rng_shuffle(Rng *rng, int32_t *items, int64_t n); /* Fisher-Yates */

double now_seconds(void);
void *alloc_floats(size_t count); /* 64-byte aligned, zeroed; exits on failure */

#endif
