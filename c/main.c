/* MNIST in C: the forward pass, backpropagation and SGD with momentum by hand, matrix products by CBLAS.
 *
 * The same model, data and hyperparameters as every other row (SPEC.md). Build and run from the
 * repository root:
 *
 *     make -C c && c/build/mnist --epochs 1
 *
 * Plumbing lives next door: cli.c (flags), data.c (IDX .gz files), weights.c (safetensors),
 * report.c (errors and log lines).
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mnist.h"

/* ---------------------------------------------------------------- data
 * load_mnist (data.c) reads the IDX files and splits them (SPEC.md §1). */

/* ---------------------------------------------------------------- random numbers
 * xoshiro256** seeded through splitmix64: small, fast and good enough for init and shuffling. */
typedef struct {
    uint64_t s[4];
} Rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static Rng rng_seed(uint64_t seed) {
    Rng rng;
    for (int i = 0; i < 4; i++) rng.s[i] = splitmix64(&seed);
    return rng;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(Rng *r) {
    uint64_t result = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;
    r->s[2] ^= r->s[0];
    r->s[3] ^= r->s[1];
    r->s[1] ^= r->s[2];
    r->s[0] ^= r->s[3];
    r->s[2] ^= t;
    r->s[3] = rotl(r->s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform in [0, n), without modulo bias. */
static size_t rng_below(Rng *r, size_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_next(r);
    while (x >= limit);
    return (size_t)(x % n);
}

/* Fisher–Yates: a fresh random order of 0..n-1. */
static void shuffle(Rng *r, size_t *order, size_t n) {
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(r, i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* ---------------------------------------------------------------- model
 * x[784] → fc1 → ReLU → fc2 → ReLU → fc3 → logits[10]; weights in PyTorch's [out, in] layout. */
#define HIDDEN 512
#define CLASSES 10

enum { W1, B1, W2, B2, W3, B3 };  /* the order of TENSORS: fc1.weight, fc1.bias, ... */

typedef struct {
    float *t[N_TENSORS];
} Params;

static int alloc_params(Params *p) {
    int ok = 1;
    for (size_t i = 0; i < N_TENSORS; i++) ok &= (p->t[i] = calloc(tensor_size(&TENSORS[i]), sizeof(float))) != NULL;
    return ok;
}

static void free_params(Params *p) {
    for (size_t i = 0; i < N_TENSORS; i++) free(p->t[i]);
}

/* PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)). */
static void init_params(Params *p, Rng *rng) {
    float **t = p->t;
    for (size_t layer = 0; layer < 3; layer++) {
        double bound = 1.0 / sqrt((double)TENSORS[2 * layer].cols);
        for (size_t k = 0; k < 2; k++) {
            size_t n = tensor_size(&TENSORS[2 * layer + k]);
            for (size_t i = 0; i < n; i++) t[2 * layer + k][i] = (float)(-bound + 2 * bound * rng_uniform(rng));
        }
    }
}

/* Activations of one batch of up to `capacity` examples, and their gradients. */
typedef struct {
    float *x, *h1, *h2, *logits;      /* forward */
    float *g_logits, *g_h2, *g_h1;    /* backward */
    int *labels;
} Work;

static int alloc_work(Work *w, size_t capacity) {
    memset(w, 0, sizeof *w);
    w->x = malloc(capacity * PIXELS * sizeof(float));
    w->h1 = malloc(capacity * HIDDEN * sizeof(float));
    w->h2 = malloc(capacity * HIDDEN * sizeof(float));
    w->logits = malloc(capacity * CLASSES * sizeof(float));
    w->g_logits = malloc(capacity * CLASSES * sizeof(float));
    w->g_h2 = malloc(capacity * HIDDEN * sizeof(float));
    w->g_h1 = malloc(capacity * HIDDEN * sizeof(float));
    w->labels = malloc(capacity * sizeof(int));
    return w->x && w->h1 && w->h2 && w->logits && w->g_logits && w->g_h2 && w->g_h1 && w->labels;
}

static void free_work(Work *w) {
    free(w->x), free(w->h1), free(w->h2), free(w->logits);
    free(w->g_logits), free(w->g_h2), free(w->g_h1), free(w->labels);
}

/* out[n, m] = in[n, k] · weightᵀ + bias, then ReLU if asked. */
static void linear(const float *in, const float *weight, const float *bias, float *out, int n, int k, int m,
                   int relu) {
    for (int i = 0; i < n; i++) memcpy(out + (size_t)i * m, bias, (size_t)m * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, in, k, weight, k, 1.0f, out, m);
    if (relu)
        for (size_t i = 0; i < (size_t)n * m; i++) out[i] = out[i] > 0 ? out[i] : 0;
}

/* Logits for the n examples in w->x; keeps the hidden activations for backward(). */
static void forward(const Params *p, Work *w, int n) {
    linear(w->x, p->t[W1], p->t[B1], w->h1, n, PIXELS, HIDDEN, 1);
    linear(w->h1, p->t[W2], p->t[B2], w->h2, n, HIDDEN, HIDDEN, 1);
    linear(w->h2, p->t[W3], p->t[B3], w->logits, n, HIDDEN, CLASSES, 0);
}

/* Summed loss and correct predictions of the batch; the gradient of the batch-mean loss goes to g_logits. */
static double softmax_cross_entropy(Work *w, int n, long *correct) {
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *z = w->logits + (size_t)i * CLASSES;
        float *g = w->g_logits + (size_t)i * CLASSES;
        int best = 0;
        for (int c = 1; c < CLASSES; c++)
            if (z[c] > z[best]) best = c;
        float sum = 0;
        for (int c = 0; c < CLASSES; c++) sum += (g[c] = expf(z[c] - z[best]));  /* exp cannot overflow */
        int y = w->labels[i];
        total += (double)(logf(sum) - (z[y] - z[best]));
        *correct += best == y;
        for (int c = 0; c < CLASSES; c++) g[c] = (g[c] / sum - (c == y)) / (float)n;
    }
    return total;
}

/* dweight[m, k] = gradᵀ[m, n] · in[n, k]; dbias = the column sums of grad. */
static void linear_backward(const float *grad, const float *in, float *dweight, float *dbias, int n, int k, int m) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, k, n, 1.0f, grad, m, in, k, 0.0f, dweight, k);
    for (int j = 0; j < m; j++) dbias[j] = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) dbias[j] += grad[(size_t)i * m + j];
}

/* grad_in[n, k] = grad[n, m] · weight[m, k], zeroed where the ReLU's output was 0. */
static void relu_backward(const float *grad, const float *weight, const float *activation, float *grad_in, int n,
                          int k, int m) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k, m, 1.0f, grad, m, weight, k, 0.0f, grad_in, k);
    for (size_t i = 0; i < (size_t)n * k; i++)
        if (activation[i] <= 0) grad_in[i] = 0;
}

/* Backpropagation through fc3 → ReLU → fc2 → ReLU → fc1 into grads. */
static void backward(const Params *p, Work *w, Params *grads, int n) {
    linear_backward(w->g_logits, w->h2, grads->t[W3], grads->t[B3], n, HIDDEN, CLASSES);
    relu_backward(w->g_logits, p->t[W3], w->h2, w->g_h2, n, HIDDEN, CLASSES);
    linear_backward(w->g_h2, w->h1, grads->t[W2], grads->t[B2], n, HIDDEN, HIDDEN);
    relu_backward(w->g_h2, p->t[W2], w->h1, w->g_h1, n, HIDDEN, HIDDEN);
    linear_backward(w->g_h1, w->x, grads->t[W1], grads->t[B1], n, PIXELS, HIDDEN);
}

/* ---------------------------------------------------------------- train step
 * One SGD-with-momentum step (PyTorch's form: v = mu*v + g; p -= lr*v) on the n examples in w. */
static double train_step(Params *p, Params *velocity, Params *grads, Work *w, int n, float lr, float momentum,
                         long *correct) {
    forward(p, w, n);
    double loss = softmax_cross_entropy(w, n, correct);
    backward(p, w, grads, n);
    float **param = p->t, **v = velocity->t, **g = grads->t;
    for (size_t t = 0; t < N_TENSORS; t++) {
        size_t size = tensor_size(&TENSORS[t]);
        for (size_t i = 0; i < size; i++) {
            v[t][i] = momentum * v[t][i] + g[t][i];
            param[t][i] -= lr * v[t][i];
        }
    }
    return loss;
}

/* One epoch over the split, in a fresh random order unless shuffling is off; mean loss and accuracy. */
static void train_epoch(Params *p, Params *velocity, Params *grads, Work *w, const Split *train, size_t *order,
                        const Args *args, Rng *rng, double *mean_loss, double *accuracy) {
    if (args->shuffle)
        shuffle(rng, order, train->n);
    else
        for (size_t i = 0; i < train->n; i++) order[i] = i;
    double total = 0;
    long correct = 0;
    size_t batch_size = (size_t)args->batch_size;
    for (size_t start = 0; start < train->n; start += batch_size) {
        int n = (int)(train->n - start < batch_size ? train->n - start : batch_size);
        for (int i = 0; i < n; i++) {
            memcpy(w->x + (size_t)i * PIXELS, train->x + order[start + i] * PIXELS, PIXELS * sizeof(float));
            w->labels[i] = train->y[order[start + i]];
        }
        total += train_step(p, velocity, grads, w, n, (float)args->lr, (float)args->momentum, &correct);
    }
    *mean_loss = total / (double)train->n;
    *accuracy = (double)correct / (double)train->n;
}

/* ---------------------------------------------------------------- evaluate
 * Mean loss and accuracy over a whole split, in batches of up to `capacity` examples. */
static void evaluate(const Params *p, Work *w, size_t capacity, const Split *split, double *mean_loss,
                     double *accuracy) {
    double total = 0;
    long correct = 0;
    for (size_t start = 0; start < split->n; start += capacity) {
        int n = (int)(split->n - start < capacity ? split->n - start : capacity);
        memcpy(w->x, split->x + start * PIXELS, (size_t)n * PIXELS * sizeof(float));
        for (int i = 0; i < n; i++) w->labels[i] = split->y[start + i];
        forward(p, w, n);
        total += softmax_cross_entropy(w, n, &correct);
    }
    *mean_loss = total / (double)split->n;
    *accuracy = (double)correct / (double)split->n;
}

/* Softmax probabilities of the n images' ten classes (--predict) into probabilities[n, 10]. */
static void predict(const Params *p, Work *w, size_t capacity, const float *x, size_t n, float *probabilities) {
    for (size_t start = 0; start < n; start += capacity) {
        int rows = (int)(n - start < capacity ? n - start : capacity);
        memcpy(w->x, x + start * PIXELS, (size_t)rows * PIXELS * sizeof(float));
        forward(p, w, rows);
        for (int i = 0; i < rows; i++) {
            const float *z = w->logits + (size_t)i * CLASSES;
            float *out = probabilities + (start + (size_t)i) * CLASSES, max = z[0], sum = 0;
            for (int c = 1; c < CLASSES; c++) max = z[c] > max ? z[c] : max;
            for (int c = 0; c < CLASSES; c++) sum += (out[c] = expf(z[c] - max));
            for (int c = 0; c < CLASSES; c++) out[c] /= sum;
        }
    }
}

/* ---------------------------------------------------------------- main
 * "openblas/0.3.21" from the library's own description of itself. */
static void blas_name(char *out, size_t size) {
    const char *config = openblas_get_config();
    const char *version = config ? strstr(config, "OpenBLAS ") : NULL;
    if (!version) {
        snprintf(out, size, "openblas/unknown");
        return;
    }
    version += strlen("OpenBLAS ");
    size_t n = strcspn(version, " ");
    snprintf(out, size, "openblas/%.*s", (int)n, version);
}

/* Debian 12's OpenBLAS (0.3.21) does not know recent Xeons (family 6, model 207 here) and falls back to
 * its generic "Prescott" kernels, five times slower. When that happened on a CPU with AVX2 or AVX-512,
 * run again with OPENBLAS_CORETYPE naming the right kernels: OpenBLAS reads it only as it is loaded. */
static void pick_blas_kernels(char **argv) {
#if defined(__x86_64__) && defined(__GNUC__)
    const char *core = openblas_get_corename();
    if (getenv("OPENBLAS_CORETYPE") || !core || strcasecmp(core, "prescott") != 0) return;
    __builtin_cpu_init();
    const char *better = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        better = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        better = "Haswell";
    if (!better || setenv("OPENBLAS_CORETYPE", better, 1) != 0) return;
    fflush(stdout);
    execv("/proc/self/exe", argv);  /* returns only on failure: then carry on with the slow kernels */
#else
    (void)argv;
#endif
}

/* --predict: classify every image of one IDX file with the --load weights; no dataset is read, nothing trained. */
static int run_predict(const Args *args, Params *p, Work *w) {
    if (!alloc_params(p) || !alloc_work(w, 1000)) return fail(EXIT_BAD_INPUT, "out of memory");
    int status = load_weights(args->init, p->t);
    float *images = NULL, *probabilities = NULL;
    size_t n = 0;
    if (status == EXIT_OK) status = read_images(args->predict, &images, &n);
    if (status == EXIT_OK && !(probabilities = malloc((n ? n : 1) * CLASSES * sizeof(float))))
        status = fail(EXIT_BAD_INPUT, "%s: out of memory for %zu images", args->predict, n);
    if (status == EXIT_OK) {
        predict(p, w, 1000, images, n, probabilities);
        for (size_t i = 0; i < n; i++) log_predict(i, probabilities + i * CLASSES);
    }
    free(images), free(probabilities);
    return status;
}

static int run(const Args *args, Dataset *data, Params *p, Params *velocity, Params *grads, Work *w) {
    char framework[64];
    blas_name(framework, sizeof framework);
    log_start("c", framework);
    if (args->predict) return run_predict(args, p, w);
    log_config(args);

    double started = now_seconds();
    int status = load_mnist(args->data_dir, args->dataset, (size_t)args->limit_train, data);
    if (status != EXIT_OK) return status;
    log_data(data, now_seconds() - started);

    Rng rng = rng_seed(args->seed);
    if (!alloc_params(p) || !alloc_params(velocity) || !alloc_params(grads))
        return fail(EXIT_BAD_INPUT, "out of memory");
    if (args->init) {
        status = load_weights(args->init, p->t);
        if (status != EXIT_OK) return status;
    } else {
        init_params(p, &rng);
    }

    /* A batch never holds more than the training set; evaluation goes 1000 at a time. */
    size_t batch = (size_t)args->batch_size < data->train.n ? (size_t)args->batch_size : data->train.n;
    size_t capacity = batch > 1000 ? batch : 1000;
    size_t *order = malloc(data->train.n * sizeof *order);
    if (!order || !alloc_work(w, capacity)) {
        free(order);
        return fail(EXIT_BAD_INPUT, "out of memory for batches of %zu examples", capacity);
    }

    double loss, acc, val_loss, val_acc;
    for (long long epoch = 1; epoch <= args->epochs; epoch++) {
        started = now_seconds();
        train_epoch(p, velocity, grads, w, &data->train, order, args, &rng, &loss, &acc);
        double seconds = now_seconds() - started;
        if (!isfinite(loss)) {
            free(order);
            return fail(EXIT_DIVERGED, "training diverged in epoch %lld: the training loss is %s; try a smaller --lr",
                        epoch, isnan(loss) ? "nan" : "inf");
        }
        evaluate(p, w, 1000, &data->val, &val_loss, &val_acc);
        log_epoch(epoch, loss, acc, val_loss, val_acc, seconds);
    }
    free(order);

    started = now_seconds();
    evaluate(p, w, 1000, &data->test, &loss, &acc);
    log_test(loss, acc, now_seconds() - started);
    if (args->save) return save_weights(args->save, p->t);
    return EXIT_OK;
}

int main(int argc, char **argv) {
    Args args;
    int status = parse_args(argc, argv, &args);
    if (status == EXIT_OK && args.help) {
        print_usage(argc > 0 ? argv[0] : "mnist");
        return EXIT_OK;
    }
    if (status == EXIT_OK) pick_blas_kernels(argv);
    Dataset data = {0};
    Params p = {0}, velocity = {0}, grads = {0};
    Work w = {0};
    if (status == EXIT_OK) status = run(&args, &data, &p, &velocity, &grads, &w);
    free_work(&w);
    free_params(&p), free_params(&velocity), free_params(&grads);
    free_dataset(&data);
    if (status != EXIT_OK) {
        fflush(stdout);
        fprintf(stderr, "error: %s\n", error_message());
    }
    return status;
}
