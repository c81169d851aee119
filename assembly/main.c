/* MNIST in x86-64 assembly: the SPEC.md MLP trained by hand-written NASM kernels.
 *
 * Every arithmetic operation of training and evaluation -- the matrix products with their
 * bias + ReLU, ReLU-derivative and SGD-momentum epilogues, softmax cross-entropy with its
 * gradient and argmax, the bias-gradient sums, the pixel scaling -- runs in the asm/ files, in an
 * AVX-512 or an AVX2+FMA build chosen at run time (kernels.c). This file only moves data
 * and calls them: data -> model -> train step -> evaluate -> main.
 *
 *     make -C assembly && assembly/build/mnist --epochs 1
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "kernels.h"
#include "pool.h"

#ifndef NASM_VERSION
#define NASM_VERSION "unknown"
#endif

static const Kernels *K; /* the kernel set in use (AVX-512 or AVX2) */

/* ================================================================ data */
/* SPEC.md §1: four IDX .gz files; train = examples 0-49,999 (or the first --limit-train),
 * validate = 50,000-59,999, test = t10k. Pixels become float32 / 255 (in asm). */

enum { PIXELS = 784, CLASSES = 10, TRAIN_FILE = 60000, TEST_FILE = 10000, TRAIN_SPLIT = 50000 };

typedef struct {
    const float *x; /* [n, 784] */
    const int32_t *y; /* [n] */
    int64_t n;
} Split;

typedef struct {
    Split train, val, test;
} Splits;

static void read_split(const char *directory, const char *images_name, const char *labels_name, int64_t expected,
                       float **x, int32_t **y) {
    char images_path[4096], labels_path[4096];
    snprintf(images_path, sizeof images_path, "%s/%s", directory, images_name);
    snprintf(labels_path, sizeof labels_path, "%s/%s", directory, labels_name);
    int64_t images, labels;
    uint8_t *pixels = read_idx_images(images_path, &images, 0);
    uint8_t *digits = read_idx_labels(labels_path, &labels);
    if (images != expected || labels != expected)
        fail(EXIT_BAD_INPUT, "%s: holds %lld images and %s %lld labels, expected %lld of each", images_path,
             (long long)images, labels_name, (long long)labels, (long long)expected);
    *x = alloc_floats((size_t)(expected * PIXELS));
    K->u8_to_f32(*x, pixels, expected * PIXELS);
    *y = malloc((size_t)expected * sizeof **y);
    if (!*y)
        fail(1, "out of memory");
    for (int64_t i = 0; i < expected; i++)
        (*y)[i] = digits[i];
    free(pixels);
    free(digits);
}

static Splits load_mnist(const char *data_dir, const char *dataset, int64_t limit_train) {
    char directory[4096];
    snprintf(directory, sizeof directory, "%s/%s", data_dir, dataset);
    struct stat st;
    if (stat(directory, &st) != 0 || !S_ISDIR(st.st_mode))
        fail(EXIT_BAD_INPUT, "data directory %s not found: run `invoke data`, or point --data-dir / "
             "MNIST_DATA_DIR at the folder that holds %s/", directory, dataset);
    float *train_x, *test_x;
    int32_t *train_y, *test_y;
    read_split(directory, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", TRAIN_FILE, &train_x, &train_y);
    read_split(directory, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", TEST_FILE, &test_x, &test_y);
    return (Splits){
        .train = {train_x, train_y, limit_train},
        .val = {train_x + (size_t)TRAIN_SPLIT * PIXELS, train_y + TRAIN_SPLIT, TRAIN_FILE - TRAIN_SPLIT},
        .test = {test_x, test_y, TEST_FILE},
    };
}

/* ================================================================ model */
/* x[784] -> fc1 -> ReLU -> fc2 -> ReLU -> fc3 -> logits[10]. Weights are kept transposed,
 * wt[in][out] (= PyTorch's weight[out][in]ᵀ), so the forward pass and the weight gradient
 * read them with unit stride; the weights file is converted on load and save. */

enum { LAYERS = 3 };
static const int64_t FAN_IN[LAYERS] = {784, 512, 512}, FAN_OUT[LAYERS] = {512, 512, 10};
static const TensorSpec SPECS[2 * LAYERS] = {
    {"fc1.weight", 2, {512, 784}}, {"fc1.bias", 1, {512}}, {"fc2.weight", 2, {512, 512}},
    {"fc2.bias", 1, {512}},        {"fc3.weight", 2, {10, 512}}, {"fc3.bias", 1, {10}},
};

typedef struct {
    float *wt[LAYERS]; /* [in][out] */
    float *b[LAYERS];  /* [out] */
} Params;

static Params alloc_params(void) {
    Params p;
    for (int l = 0; l < LAYERS; l++) {
        p.wt[l] = alloc_floats((size_t)(FAN_IN[l] * FAN_OUT[l]));
        p.b[l] = alloc_floats((size_t)FAN_OUT[l]);
    }
    return p;
}

/* PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)). */
static void init_params(Params *p, Rng *rng) {
    for (int l = 0; l < LAYERS; l++) {
        float bound = (float)(1.0 / sqrt((double)FAN_IN[l]));
        for (int64_t o = 0; o < FAN_OUT[l]; o++)
            for (int64_t i = 0; i < FAN_IN[l]; i++)
                p->wt[l][i * FAN_OUT[l] + o] = rng_uniform(rng, bound);
        for (int64_t o = 0; o < FAN_OUT[l]; o++)
            p->b[l][o] = rng_uniform(rng, bound);
    }
}

static void load_params(Params *p, const char *path) {
    float *tensors[2 * LAYERS];
    for (int l = 0; l < LAYERS; l++) {
        tensors[2 * l] = alloc_floats((size_t)(FAN_IN[l] * FAN_OUT[l]));
        tensors[2 * l + 1] = p->b[l];
    }
    read_safetensors(path, SPECS, 2 * LAYERS, tensors);
    for (int l = 0; l < LAYERS; l++) {
        for (int64_t o = 0; o < FAN_OUT[l]; o++)
            for (int64_t i = 0; i < FAN_IN[l]; i++)
                p->wt[l][i * FAN_OUT[l] + o] = tensors[2 * l][o * FAN_IN[l] + i];
        free(tensors[2 * l]);
    }
}

static void save_params(const Params *p, const char *path) {
    const float *tensors[2 * LAYERS];
    for (int l = 0; l < LAYERS; l++) {
        float *w = alloc_floats((size_t)(FAN_IN[l] * FAN_OUT[l]));
        for (int64_t o = 0; o < FAN_OUT[l]; o++)
            for (int64_t i = 0; i < FAN_IN[l]; i++)
                w[o * FAN_IN[l] + i] = p->wt[l][i * FAN_OUT[l] + o];
        tensors[2 * l] = w;
        tensors[2 * l + 1] = p->b[l];
    }
    write_safetensors(path, SPECS, 2 * LAYERS, tensors);
    for (int l = 0; l < LAYERS; l++)
        free((void *)tensors[2 * l]);
}

/* Activations and gradients of one batch (or one evaluation chunk). */
typedef struct {
    float *x; int32_t *y;            /* gathered batch */
    float *h1, *h2, *logits;         /* forward */
    float *grad, *dh2, *dh1, *db;    /* backward */
} Workspace;

static Workspace alloc_workspace(int64_t rows) {
    Workspace w;
    w.x = alloc_floats((size_t)(rows * PIXELS));
    w.y = (int32_t *)alloc_floats((size_t)rows);
    w.h1 = alloc_floats((size_t)(rows * 512));
    w.h2 = alloc_floats((size_t)(rows * 512));
    w.logits = alloc_floats((size_t)(rows * CLASSES));
    w.grad = alloc_floats((size_t)(rows * CLASSES));
    w.dh2 = alloc_floats((size_t)(rows * 512));
    w.dh1 = alloc_floats((size_t)(rows * 512));
    w.db = alloc_floats(512);
    return w;
}

/* C[m, n] = A·B + epilogue, A(i, p) = a[i*rsa + p*csa], B(p, j) = b[p*rsb + j*csb] (asm GEMM). */
static void gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t rsa, int64_t csa, const float *b,
                 int64_t rsb, int64_t csb, float *c, int64_t ldc, GemmArgs epilogue) {
    epilogue.m = m, epilogue.n = n, epilogue.k = k;
    epilogue.a = a, epilogue.rsa = rsa, epilogue.csa = csa;
    epilogue.b = b, epilogue.rsb = rsb, epilogue.csb = csb;
    epilogue.c = c, epilogue.ldc = ldc;
    pool_gemm(&epilogue);
}

/* logits = fc3(relu(fc2(relu(fc1(x))))), keeping h1 and h2 for backpropagation. */
static void forward(const Params *p, const float *x, int64_t rows, Workspace *w) {
    gemm(rows, 512, 784, x, 784, 1, p->wt[0], 512, 1, w->h1, 512, (GemmArgs){.epilogue = EPI_BIAS_RELU, .bias = p->b[0]});
    gemm(rows, 512, 512, w->h1, 512, 1, p->wt[1], 512, 1, w->h2, 512, (GemmArgs){.epilogue = EPI_BIAS_RELU, .bias = p->b[1]});
    gemm(rows, 10, 512, w->h2, 512, 1, p->wt[2], 10, 1, w->logits, 10, (GemmArgs){.epilogue = EPI_BIAS, .bias = p->b[2]});
}

/* ================================================================ train step */
/* One SGD-with-momentum step in PyTorch's form (vel = mu*vel + g; p -= lr*vel). The weight
 * gradients are never stored: the GEMM that computes dW applies the update in its
 * epilogue, after the GEMM for the layer below has read the old weights. */

typedef struct {
    double loss; /* summed over the batch */
    int64_t correct;
} StepResult;

static void update_bias(float *b, float *vel, const float *grad_out, int64_t rows, int64_t n, float *db,
                        float lr, float momentum) {
    K->colsum(grad_out, rows, n, n, db);
    K->sgd(b, vel, db, n, lr, momentum);
}

static StepResult train_step(Params *p, Params *vel, Workspace *w, const float *x, const int32_t *y, int64_t rows,
                             float lr, float momentum) {
    StepResult result;
    forward(p, x, rows, w);
    result.loss = K->softmax_xent(w->logits, y, rows, CLASSES, w->grad, &result.correct, (float)rows);
    GemmArgs sgd = {.epilogue = EPI_SGD, .lr = lr, .momentum = momentum};

    /* fc3: dh2 = (grad · W3) * (h2 > 0) with the old W3, then W3 and b3 */
    gemm(rows, 512, 10, w->grad, 10, 1, p->wt[2], 1, 10, w->dh2, 512, (GemmArgs){.epilogue = EPI_RELU_MASK, .mask = w->h2});
    sgd.vel = vel->wt[2];
    gemm(512, 10, rows, w->h2, 1, 512, w->grad, 10, 1, p->wt[2], 10, sgd); /* W3ᵀ -= lr·v(h2ᵀ·grad) */
    update_bias(p->b[2], vel->b[2], w->grad, rows, 10, w->db, lr, momentum);

    /* fc2: dh1 = (dh2 · W2) * (h1 > 0) with the old W2, then W2 and b2 */
    gemm(rows, 512, 512, w->dh2, 512, 1, p->wt[1], 1, 512, w->dh1, 512, (GemmArgs){.epilogue = EPI_RELU_MASK, .mask = w->h1});
    sgd.vel = vel->wt[1];
    gemm(512, 512, rows, w->h1, 1, 512, w->dh2, 512, 1, p->wt[1], 512, sgd);
    update_bias(p->b[1], vel->b[1], w->dh2, rows, 512, w->db, lr, momentum);

    /* fc1: W1 and b1 (no gradient for the input) */
    sgd.vel = vel->wt[0];
    gemm(784, 512, rows, x, 1, 784, w->dh1, 512, 1, p->wt[0], 512, sgd);
    update_bias(p->b[0], vel->b[0], w->dh1, rows, 512, w->db, lr, momentum);
    return result;
}

/* One pass over the training split in batches (shuffled unless --no-shuffle); returns the
 * mean loss and accuracy of the batches as they were trained. */
static void train_epoch(Params *p, Params *vel, Workspace *w, const Split *train, int32_t *order, const Args *args,
                        Rng *rng, double *loss, double *accuracy, double *step_seconds) {
    for (int64_t i = 0; i < train->n; i++)
        order[i] = (int32_t)i;
    if (args->shuffle)
        rng_shuffle(rng, order, train->n);
    double total = 0;
    int64_t correct = 0;
    for (int64_t start = 0, step = 0; start < train->n; start += args->batch_size, step++) {
        double started = now_seconds();
        int64_t rows = train->n - start < args->batch_size ? train->n - start : args->batch_size;
        const float *x = train->x + start * PIXELS;
        const int32_t *y = train->y + start;
        if (args->shuffle) { /* gather the batch's rows */
            for (int64_t r = 0; r < rows; r++) {
                memcpy(w->x + r * PIXELS, train->x + (size_t)order[start + r] * PIXELS, PIXELS * sizeof(float));
                w->y[r] = train->y[order[start + r]];
            }
            x = w->x, y = w->y;
        }
        StepResult result = train_step(p, vel, w, x, y, rows, (float)args->lr, (float)args->momentum);
        total += result.loss;
        correct += result.correct;
        step_seconds[step] = now_seconds() - started;
    }
    *loss = total / (double)train->n;
    *accuracy = (double)correct / (double)train->n;
}

/* ================================================================ evaluate */

enum { EVAL_ROWS = 1000 };

static void evaluate(const Params *p, Workspace *w, const Split *split, double *loss, double *accuracy) {
    double total = 0;
    int64_t correct = 0;
    for (int64_t start = 0; start < split->n; start += EVAL_ROWS) {
        int64_t rows = split->n - start < EVAL_ROWS ? split->n - start : EVAL_ROWS, hits;
        forward(p, split->x + start * PIXELS, rows, w);
        total += K->softmax_xent(w->logits, split->y + start, rows, CLASSES, NULL, &hits, 1.0f);
        correct += hits;
    }
    *loss = total / (double)split->n;
    *accuracy = (double)correct / (double)split->n;
}

/* Softmax probabilities of the n images' ten classes (--predict) into probabilities[n, 10]:
 * the forward pass in the asm GEMMs, the ten exps per image of the softmax in C. */
static void predict(const Params *p, Workspace *w, const float *x, int64_t n, float *probabilities) {
    for (int64_t start = 0; start < n; start += EVAL_ROWS) {
        int64_t rows = n - start < EVAL_ROWS ? n - start : EVAL_ROWS;
        forward(p, x + start * PIXELS, rows, w);
        for (int64_t i = 0; i < rows; i++) {
            const float *z = w->logits + i * CLASSES;
            float *out = probabilities + (start + i) * CLASSES, max = z[0], sum = 0;
            for (int c = 1; c < CLASSES; c++)
                max = z[c] > max ? z[c] : max;
            for (int c = 0; c < CLASSES; c++)
                sum += out[c] = expf(z[c] - max);
            for (int c = 0; c < CLASSES; c++)
                out[c] /= sum;
        }
    }
}

/* ================================================================ main */

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The fp32 peak of one core: the GHz /proc/cpuinfo states (nominal), and the GHz the
 * asm FMA-throughput loop measures (turbo included), times the ISA's FLOP per cycle
 * (2 FMA units x lanes x 2). Best of a few short runs, in this thread's CPU time. */
static double nominal_ghz(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    double mhz = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "cpu MHz", 7) == 0 && sscanf(strchr(line, ':') + 1, "%lf", &mhz) == 1)
            break;
    if (f)
        fclose(f);
    return mhz / 1000.0;
}

static double thread_seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double measured_ghz(void) {
    double best = 1e30;
    for (int run = 0; run < 8; run++) {
        double started = thread_seconds(CLOCK_THREAD_CPUTIME_ID);
        K->fma_peak(100000);
        double seconds = thread_seconds(CLOCK_THREAD_CPUTIME_ID) - started;
        if (seconds > 0 && seconds < best)
            best = seconds;
    }
    return 100000.0 * K->fma_peak_flops / best / K->flops_per_cycle / 1e9;
}

int main(int argc, char **argv) {
    Args args;
    parse_args(argc, argv, &args);
    char why[256];
    if (!(K = kernels_select(why, sizeof why)))
        fail(EXIT_BAD_INPUT, "%s", why);
    printf("event=start row=assembly language=x86-64-asm/nasm-%s framework=none device=cpu\n", NASM_VERSION);
    fflush(stdout);
    if (args.predict) { /* classify the images of one IDX file with the --load weights; no dataset, no training */
        Params params = alloc_params();
        load_params(&params, args.init);
        int64_t n;
        uint8_t *pixels = read_idx_images(args.predict, &n, 1);
        float *x = alloc_floats((size_t)(n * PIXELS)), *probabilities = alloc_floats((size_t)(n * CLASSES));
        K->u8_to_f32(x, pixels, n * PIXELS);
        if (pool_start(K, (int)args.threads, 1) != 0)
            fail(1, "cannot start %lld threads", args.threads);
        Workspace work = alloc_workspace(n < EVAL_ROWS ? (n > 0 ? n : 1) : EVAL_ROWS);
        predict(&params, &work, x, n, probabilities);
        for (int64_t i = 0; i < n; i++) {
            const float *q = probabilities + i * CLASSES;
            int best = 0; /* the most probable digit, the lowest on a tie */
            for (int c = 1; c < CLASSES; c++)
                best = q[c] > q[best] ? c : best;
            printf("event=predict index=%lld class=%d", (long long)i, best);
            for (int c = 0; c < CLASSES; c++)
                printf(" p%d=%.6f", c, q[c]);
            printf("\n");
            fflush(stdout);
        }
        pool_stop();
        return 0;
    }
    printf("event=config dataset=%s epochs=%lld batch_size=%lld lr=%s", args.dataset, args.epochs, args.batch_size,
           format_number(args.lr));
    printf(" momentum=%s seed=%lld limit_train=%lld shuffle=%d init=%d\n", format_number(args.momentum), args.seed,
           args.limit_train, args.shuffle, args.init != NULL);
    fflush(stdout);

    double started = now_seconds();
    Splits splits = load_mnist(args.data_dir, args.dataset, args.limit_train);
    printf("event=data train=%lld val=%lld test=%lld seconds=%.3f\n", (long long)splits.train.n,
           (long long)splits.val.n, (long long)splits.test.n, now_seconds() - started);
    fflush(stdout);

    Rng rng;
    rng_seed(&rng, (uint64_t)args.seed);
    Params params = alloc_params(), velocity = alloc_params(); /* velocity starts at 0 */
    if (args.init)
        load_params(&params, args.init);
    else
        init_params(&params, &rng);

    int64_t batch = args.batch_size < splits.train.n ? args.batch_size : splits.train.n;
    if (pool_start(K, (int)args.threads, batch) != 0)
        fail(1, "cannot start %lld threads", args.threads);
    fprintf(stderr, "assembly: %s kernels (%dx%d GEMM tile), %lld thread(s)\n", K->name, K->mr, K->nr, args.threads);
    Workspace work = alloc_workspace(batch > EVAL_ROWS ? batch : EVAL_ROWS);
    int32_t *order = malloc((size_t)splits.train.n * sizeof *order);
    int64_t steps = (splits.train.n + args.batch_size - 1) / args.batch_size;
    double *step_seconds = malloc((size_t)steps * sizeof *step_seconds);
    if (!order || !step_seconds)
        fail(1, "out of memory");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double cores = (double)(args.threads < cpus ? args.threads : cpus), nominal = nominal_ghz(), ghz = measured_ghz();

    for (int epoch = 1; epoch <= args.epochs; epoch++) {
        double train_loss, train_acc, val_loss, val_acc, flops = pool_flops();
        double cpu = thread_seconds(CLOCK_PROCESS_CPUTIME_ID);
        started = now_seconds();
        train_epoch(&params, &velocity, &work, &splits.train, order, &args, &rng, &train_loss, &train_acc, step_seconds);
        double seconds = now_seconds() - started;
        cpu = thread_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu;
        flops = pool_flops() - flops;
        if (!isfinite(train_loss))
            fail(EXIT_DIVERGED, "training diverged in epoch %d: the training loss is %s; try a smaller --lr", epoch,
                 isnan(train_loss) ? "nan" : train_loss > 0 ? "inf" : "-inf");
        evaluate(&params, &work, &splits.val, &val_loss, &val_acc);
        printf("event=epoch epoch=%d train_loss=%.6f train_acc=%.6f val_loss=%.6f val_acc=%.6f seconds=%.3f\n", epoch,
               train_loss, train_acc, val_loss, val_acc, seconds);
        fflush(stdout);
        /* not part of the contract, and timings only, so on stderr: stdout stays the same run
         * to run apart from `seconds`. GEMM throughput of the epoch, and the fastest and
         * median step (a loaded machine stretches some steps, not all) */
        int64_t full = splits.train.n / args.batch_size ? splits.train.n / args.batch_size : steps;
        qsort(step_seconds, (size_t)full, sizeof *step_seconds, by_value); /* full-size batches */
        fprintf(stderr, "event=perf epoch=%d isa=%s threads=%lld gflop=%.2f gflops=%.1f peak_gflops=%.1f cores=%.0f "
               "ghz=%.3f nominal_ghz=%.3f flops_per_cycle=%d cpu_seconds=%.3f step_min_ms=%.3f "
               "step_median_ms=%.3f\n", epoch, K->name, args.threads, flops / 1e9, flops / 1e9 / seconds,
               cores * ghz * K->flops_per_cycle, cores, ghz, nominal, K->flops_per_cycle, cpu,
               step_seconds[0] * 1e3, step_seconds[full / 2] * 1e3);
        fflush(stderr);
    }

    double test_loss, test_acc;
    started = now_seconds();
    evaluate(&params, &work, &splits.test, &test_loss, &test_acc);
    printf("event=test test_loss=%.6f test_acc=%.6f seconds=%.3f\n", test_loss, test_acc, now_seconds() - started);
    fflush(stdout);
    if (args.save)
        save_params(&params, args.save);
    pool_stop();
    return 0;
}
