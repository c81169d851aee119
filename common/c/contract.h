/* The contract's plumbing for C rows (SPEC.md at the repository root): flags, IDX data, the
 * safetensors weights file, log and progress lines, errors and exit statuses, the seeded RNG, and
 * platform workarounds. Rows link build/libmnist_contract.a and hold only the learning code.
 *
 *   cli.c          flags (§4) through getopt_long, --help
 *   idx.c          the IDX files, gzip (zlib) or plain, checked and split (§1)
 *   safetensors.c  the weights file, read strictly and written (§5)
 *   log.c          errors and exit statuses (§7), log lines (§6), progress lines, clocks
 *   rng.c          xoshiro256** seeded through splitmix64
 *   platform.c     aligned memory, the CPU clock probe and the `event=perf` line
 *   openblas.c     OpenBLAS's name and its core-type re-exec (only rows that link OpenBLAS use it)
 */
#ifndef MNIST_CONTRACT_H
#define MNIST_CONTRACT_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

/* C++ rows (libtorch/) include this header too: C linkage, and C++'s spelling of noreturn. */
#ifdef __cplusplus
#include <stdio.h>
#define MNIST_NORETURN [[noreturn]]
extern "C" {
#else
#include <stdnoreturn.h>
#define MNIST_NORETURN noreturn
#endif

/* ================================================================ errors (SPEC.md §7) */
enum { EXIT_OK = 0, EXIT_INTERNAL = 1, EXIT_BAD_INPUT = 2, EXIT_DIVERGED = 3 };

/* Print `error: <message>` as one line, the last on stderr (stdout flushed first), and exit with status. */
MNIST_NORETURN void fail(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Ends the run with exit status 3 when an epoch's training loss is NaN or infinite (SPEC.md §3). */
void check_finite(int64_t epoch, double train_loss);

/* For the unit tests: while fail_jump is set, fail() keeps its status and message here and longjmps
 * there instead of printing and exiting. */
extern jmp_buf *fail_jump;
extern int fail_status;
extern char fail_message[1024];

/* ================================================================ flags (SPEC.md §4) */
#define TRAIN_EXAMPLES 50000

/* What a row tells the library about itself. */
typedef struct {
    const char *name;        /* "c": event=start row=..., progress stage=start */
    const char *summary;     /* one sentence under the usage line of --help */
    int threads_flag;        /* 1: accept --threads N (1..1024; default: the CPUs this process may use, at most 8) */
    const char *help_extra;  /* more --help text after the options (environment variables), or NULL */
} Row;

typedef struct {
    const char *dataset;   /* "mnist" or "fashion-mnist" */
    const char *data_dir;  /* --data-dir, else $MNIST_DATA_DIR, else "data" */
    int64_t epochs;        /* >= 0 */
    int64_t batch_size;    /* >= 1 */
    double lr;             /* > 0 */
    double momentum;       /* in [0, 1) */
    uint32_t seed;
    int64_t limit_train;   /* 1..50000 */
    int shuffle;           /* 0 with --no-shuffle */
    const char *init;      /* --init or --load; NULL: random weights */
    const char *save;      /* NULL: do not save */
    const char *predict;   /* an IDX image file to classify with the --load weights; NULL: train */
    int64_t threads;       /* --threads (rows with Row.threads_flag), else 0 */
} Args;

/* The checked flags. --help prints the usage to stdout and exits 0; a bad flag fails with status 2.
 * On success prints the `stage=start` progress line. */
Args parse_args(int argc, char **argv, const Row *row);

/* ================================================================ RNG */
/* xoshiro256** seeded through splitmix64: small, fast and good enough for init and shuffling. */
typedef struct {
    uint64_t s[4];
} Rng;

Rng rng_seed(uint64_t seed);
uint64_t rng_next(Rng *rng);
double rng_uniform(Rng *rng);                        /* [0, 1), 53 random bits */
uint64_t rng_below(Rng *rng, uint64_t n);            /* [0, n), without modulo bias */
void rng_shuffle(Rng *rng, int64_t *items, int64_t n);  /* Fisher-Yates, in place */

/* ================================================================ data (SPEC.md §1) */
enum { PIXELS = 784, CLASSES = 10 };

typedef struct {
    float *x;    /* [n, 784], pixels / 255 */
    int32_t *y;  /* [n], labels 0..9 */
    int64_t n;
} Split;

typedef struct {
    Split train, val, test;  /* train and val share one allocation (the training file) */
} Dataset;

/* How pixels become floats: dst[i] = src[i] / 255 (NULL: the library does it in C). */
typedef void PixelScaler(float *dst, const uint8_t *src, int64_t n);

/* Prints the `stage=data` progress line, reads and checks the four .gz files of args->dataset under
 * args->data_dir and splits them: train = the first limit_train of examples 0..49,999, val =
 * 50,000..59,999, test = t10k. Fails with status 2 on any bad file. */
Dataset load_mnist(const Args *args, PixelScaler *scale);
void free_dataset(Dataset *data);

/* An IDX image file for --predict, gzip or plain (told apart by gzip's first two bytes), as a split without
 * labels (y is NULL). */
Split read_images(const char *path, PixelScaler *scale);

/* The order of an epoch's examples: 0..n-1, shuffled (rng_shuffle) when shuffle is set. */
void epoch_order(Rng *rng, int shuffle, int64_t *order, int64_t n);

/* The pieces load_mnist is made of, for other shapes of data and for the tests. */
uint8_t *read_whole_file(const char *path, size_t *length);             /* fails: missing, unreadable */
uint8_t *gunzip(const char *path, const uint8_t *bytes, size_t length, size_t *out_length);
/* The pixels of an IDX image file (header checked, count == expected unless expected < 0). */
uint8_t *read_idx_images(const char *path, int64_t expected, int plain_ok, int64_t *count);
/* The labels of an IDX label file (header checked, each 0..9, count == expected). */
uint8_t *read_idx_labels(const char *path, int64_t expected);

/* ================================================================ weights (SPEC.md §5) */
enum { N_TENSORS = 6 };

typedef struct {
    const char *name;
    int64_t rows, cols;  /* cols == 0: a vector of rows values */
} TensorSpec;

/* fc1.weight [512, 784], fc1.bias [512], fc2.weight [512, 512], fc2.bias, fc3.weight [10, 512], fc3.bias:
 * PyTorch's state-dict names and [out, in] layout. */
extern const TensorSpec TENSORS[N_TENSORS];

int64_t tensor_size(const TensorSpec *spec);  /* number of floats */

/* Six buffers of the contract's sizes, in the order of TENSORS (zeroed by alloc_tensors). */
typedef struct {
    float *t[N_TENSORS];
} Tensors;

Tensors alloc_tensors(void);
void free_tensors(Tensors *tensors);

/* Read the six contract tensors into tensors[t] (tensor_size floats each); fails with status 2 on a
 * missing file, a file that is not safetensors, a missing or extra tensor, a wrong dtype or shape. */
void load_weights(const char *path, float *const tensors[N_TENSORS]);
void save_weights(const char *path, float *const tensors[N_TENSORS]);

/* The same for any list of F32 tensors. */
void safetensors_read(const char *path, const TensorSpec *specs, int count, float *const *out);
void safetensors_write(const char *path, const TensorSpec *specs, int count, float *const *data);

/* ================================================================ log lines (SPEC.md §6, stdout) */
void log_start(const char *row, const char *language, const char *framework, const char *device);
void log_config(const Args *args);
void log_data(const Dataset *data, double seconds);
void log_warmup(double seconds);
void log_epoch(int64_t epoch, double train_loss, double train_acc, double val_loss, double val_acc,
               double seconds);
void log_test(double test_loss, double test_acc, double seconds);
/* One image's class (the most probable digit, the lowest on a tie) and its ten probabilities. */
void log_predict(int64_t index, const float probabilities[CLASSES]);

/* The index of the largest of z[0..n-1], the lowest on a tie. */
int argmax(const float *z, int n);

/* "c11/gcc-12.2.0": the C dialect and the compiler that built the library (and the row with it). */
const char *c_language(void);
/* "c++17/gcc-12.2.0" for a C++ row: its own dialect and compiler, which this header sees when the row
 * includes it (a static buffer). */
#ifdef __cplusplus
static inline const char *cxx_language(void) {
    static char text[64];
#if defined(__clang__)
    snprintf(text, sizeof text, "c++%ld/clang-%d.%d.%d", __cplusplus / 100 % 100, __clang_major__,
             __clang_minor__, __clang_patchlevel__);
#else
    snprintf(text, sizeof text, "c++%ld/gcc-%d.%d.%d", __cplusplus / 100 % 100, __GNUC__, __GNUC_MINOR__,
             __GNUC_PATCHLEVEL__);
#endif
    return text;
}
#endif

/* A double as Python's repr() writes it (0.05, 1e-05, 1000000.0); a static buffer. */
const char *format_number(double value);

/* ================================================================ progress (SPEC.md §6, stderr) */
void progress_start(const char *row);       /* parse_args prints it */
void progress_data(const char *dataset);    /* load_mnist prints it */
void progress_warmup(void);
/* After training batch `batch` (from 1) of `batches`: prints a `stage=train` line with the running mean
 * loss (loss_sum / examples) only when 0.25 s have passed since the previous progress line. */
void progress_train(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss_sum,
                    int64_t examples);
/* The same at a given time (seconds on now_seconds's clock); for the tests. */
void progress_train_at(double now, int64_t epoch, int64_t epochs, int64_t batch, int64_t batches,
                       double loss_sum, int64_t examples);

/* ================================================================ clocks, memory, platform */
double now_seconds(void);          /* monotonic wall clock */
double process_cpu_seconds(void);  /* CPU time of all threads of the process */

/* Zeroed memory, 64-byte aligned; buffers of 1 MB or more 2 MB aligned with transparent huge pages
 * advised. Release with free(). Fails (status 1) when memory runs out. */
void *alloc_bytes(size_t bytes);
float *alloc_floats(size_t count);

/* The threads a row may use by default: the CPUs this process may run on, at most 8. */
int default_threads(void);

/* CPU clock probes: the GHz /proc/cpuinfo states (0 when unknown), and the GHz a loop of FMAs runs
 * at (turbo included): fma_loop(iterations) does flops_per_iteration FLOP each, flops_per_cycle per
 * cycle at peak; best of a few short runs, in this thread's CPU time. */
double cpu_nominal_ghz(void);
double cpu_measured_ghz(void (*fma_loop)(int64_t iterations), double flops_per_iteration, int flops_per_cycle);

/* `event=perf` lines on stderr after each epoch (a row's own timings, not part of the contract). */
typedef struct {
    const char *isa;
    int64_t threads;
    int flops_per_cycle;
    double cores, ghz, nominal_ghz;
    double (*flops)(void);  /* floating-point operations done so far */
    double flops_at_start, cpu_at_start, last_step, flops_at_step, cpu_at_step;
    double *step_seconds;  /* of this epoch's steps */
    int64_t steps, capacity;
} Perf;

/* isa names the kernels; fma_loop as for cpu_measured_ghz (run here); flops: the row's FLOP counter. */
Perf perf_begin(const char *isa, int64_t threads, int flops_per_cycle, void (*fma_loop)(int64_t iterations),
                double flops_per_iteration, double (*flops)(void));
void perf_epoch_start(Perf *perf);
void perf_step(Perf *perf);  /* after each training step: its time, and the epoch's FLOP and CPU time so far */
void perf_epoch_end(Perf *perf, int64_t epoch, int64_t full_steps, double seconds);
void perf_end(Perf *perf);

/* OpenBLAS (rows that link it): "openblas/0.3.21", and the re-exec with OPENBLAS_CORETYPE naming the
 * CPU's kernels when this OpenBLAS did not recognise the CPU and fell back to its slow generic ones. */
const char *openblas_name(void);
void openblas_use_best_kernels(char **argv);
/* The pure parts of both, for the tests. */
void openblas_version_name(const char *config, char *out, size_t size);
const char *openblas_better_coretype(const char *corename, int avx512, int avx2_fma);

#ifdef __cplusplus
}
#endif

#endif
