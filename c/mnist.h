/* Declarations shared by the C row's files (SPEC.md at the repository root is the contract).
 *
 *   main.c     the model, its training step and evaluation, and main()
 *   cli.c      the contract's flags (SPEC.md §4)
 *   data.c     the four IDX .gz files, checked, scaled and split (SPEC.md §1)
 *   weights.c  the safetensors weights file, read strictly and written (SPEC.md §5)
 *   report.c   error messages and exit statuses (§7), logfmt log lines (§6)
 */
#ifndef MNIST_H
#define MNIST_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ exit statuses (SPEC.md §7) */
enum { EXIT_OK = 0, EXIT_BAD_INPUT = 2, EXIT_DIVERGED = 3 };

/* Remember a one-line message for main() to print as `error: ...`; returns status. */
int fail(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* The message fail() stored last. */
const char *error_message(void);

/* ------------------------------------------------------------ flags (SPEC.md §4) */
#define TRAIN_EXAMPLES 50000

typedef struct {
    const char *dataset;    /* "mnist" or "fashion-mnist" */
    const char *data_dir;   /* the data root that holds <dataset>/ */
    long long epochs;       /* >= 0 */
    long long batch_size;   /* >= 1 */
    double lr;              /* > 0 */
    double momentum;        /* in [0, 1) */
    uint32_t seed;
    long long limit_train;  /* 1 .. 50000 */
    int shuffle;            /* 0 with --no-shuffle */
    const char *init;       /* --init or --load, NULL for random weights */
    const char *save;       /* NULL: do not save */
    const char *predict;    /* --predict: an IDX image file to classify with the --load weights; NULL: train */
    int help;               /* --help was given: usage is printed, nothing else runs */
} Args;

/* Parse argv into args; returns EXIT_OK or EXIT_BAD_INPUT (message via fail()). */
int parse_args(int argc, char **argv, Args *args);
void print_usage(const char *program);

/* ------------------------------------------------------------ data (SPEC.md §1) */
#define PIXELS 784

typedef struct {
    float *x;        /* [n, 784], values in [0, 1] */
    uint8_t *y;      /* [n], labels 0..9 */
    size_t n;
} Split;

typedef struct {
    Split train, val, test;
    float *train_images;  /* owns all 60000 training-file images (train and val point into it) */
    uint8_t *train_labels;
} Dataset;

int load_mnist(const char *data_dir, const char *dataset, size_t limit_train, Dataset *out);
void free_dataset(Dataset *data);
/* An IDX image file for --predict, gzip-compressed or plain (told apart by gzip's magic) → float32 [n, 784]. */
int read_images(const char *path, float **images, size_t *n);

/* ------------------------------------------------------------ weights (SPEC.md §5) */
#define N_TENSORS 6

typedef struct {
    const char *name;
    size_t rows, cols;   /* cols == 0 for a bias: shape [rows] */
} TensorSpec;

/* fc1.weight, fc1.bias, fc2.weight, fc2.bias, fc3.weight, fc3.bias. */
extern const TensorSpec TENSORS[N_TENSORS];

static inline size_t tensor_size(const TensorSpec *spec) {
    return spec->cols ? spec->rows * spec->cols : spec->rows;
}

/* Read a file into the six float buffers (already allocated at the contract's sizes). */
int load_weights(const char *path, float *tensors[N_TENSORS]);
int save_weights(const char *path, float *const tensors[N_TENSORS]);

/* ------------------------------------------------------------ log lines (SPEC.md §6) */
void log_start(const char *row, const char *framework);
void log_config(const Args *args);
void log_data(const Dataset *data, double seconds);
void log_epoch(long long epoch, double train_loss, double train_acc, double val_loss, double val_acc,
               double seconds);
void log_test(double test_loss, double test_acc, double seconds);
void log_predict(size_t index, const float probabilities[10]);

double now_seconds(void);

#endif
