/* MNIST in x86-64 assembly: the SPEC.md MLP trained by hand-written NASM kernels (`make -C assembly &&
 * assembly/build/mnist --epochs 1`). Every arithmetic operation of training and evaluation -- the matrix
 * products with their bias + ReLU, ReLU-derivative and SGD-momentum epilogues, softmax cross-entropy with its
 * gradient and argmax, the bias-gradient sums, the pixel scaling -- runs in the asm/ files, in an AVX-512 or
 * an AVX2+FMA build chosen at run time (kernels.c). This file only moves data and calls them. Flags, IDX
 * files, safetensors, log lines, errors and the RNG come from the C contract library, common/c/contract.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "contract.h"
#include "kernels.h"
#include "pool.h"

static const Kernels *K; /* the kernel set in use (AVX-512 or AVX2) */

/* ================================================================ data: load_mnist (common/c), scaled by K->u8_to_f32 */

/* ================================================================ model */
/* x[784] -> fc1 -> ReLU -> fc2 -> ReLU -> fc3 -> logits[10]. Weights are kept transposed, wt[in][out]
 * (= PyTorch's weight[out][in]ᵀ), so the forward pass and the weight gradient read them with unit
 * stride; the weights file's layout is converted on load and save. */
enum { W1, B1, W2, B2, W3, B3 };  /* the order of TENSORS: fc1.weight, fc1.bias, ... */
typedef Tensors Params;           /* p.t[W1] .. p.t[B3], weights transposed */

/* PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)), drawn in the
 * file's layout (weights [out][in]). */
static void init_params(Tensors *file, Rng *rng) {
    for (int t = 0; t < N_TENSORS; t++) {
        float bound = (float)(1.0 / sqrt((double)TENSORS[t - t % 2].cols));  /* fan_in: the weight's columns */
        for (int64_t i = 0, n = tensor_size(&TENSORS[t]); i < n; i++)
            file->t[t][i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
    }
}

/* From the file's layout to this row's (to_file: back): weights [rows][cols] -> [cols][rows], biases copied. */
static void convert(float *const from[N_TENSORS], float *const to[N_TENSORS], int to_file) {
    for (int t = 0; t < N_TENSORS; t++) {
        int64_t rows = TENSORS[t].rows, cols = TENSORS[t].cols ? TENSORS[t].cols : 1;
        if (to_file) rows = cols, cols = TENSORS[t].rows;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) to[t][j * rows + i] = from[t][i * cols + j];
    }
}

/* Activations and gradients of one batch (or one evaluation chunk). */
typedef struct {
    float *x; int32_t *y;          /* gathered batch */
    float *h1, *h2, *logits;       /* forward */
    float *grad, *dh2, *dh1, *db;  /* backward */
} Workspace;

static Workspace alloc_workspace(int64_t rows) {
    return (Workspace){alloc_floats((size_t)(rows * PIXELS)), alloc_bytes((size_t)rows * sizeof(int32_t)),
                       alloc_floats((size_t)(rows * 512)), alloc_floats((size_t)(rows * 512)),
                       alloc_floats((size_t)(rows * CLASSES)), alloc_floats((size_t)(rows * CLASSES)),
                       alloc_floats((size_t)(rows * 512)), alloc_floats((size_t)(rows * 512)), alloc_floats(512)};
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
    gemm(rows, 512, 784, x, 784, 1, p->t[W1], 512, 1, w->h1, 512, (GemmArgs){.epilogue = EPI_BIAS_RELU, .bias = p->t[B1]});
    gemm(rows, 512, 512, w->h1, 512, 1, p->t[W2], 512, 1, w->h2, 512, (GemmArgs){.epilogue = EPI_BIAS_RELU, .bias = p->t[B2]});
    gemm(rows, 10, 512, w->h2, 512, 1, p->t[W3], 10, 1, w->logits, 10, (GemmArgs){.epilogue = EPI_BIAS, .bias = p->t[B3]});
}

/* ================================================================ train step */
/* One SGD-with-momentum step in PyTorch's form (vel = mu*vel + g; p -= lr*vel) on the gathered batch
 * w->x, w->y; returns its summed loss. The weight gradients are never stored: the GEMM that computes dW
 * applies the update in its epilogue, after the GEMM for the layer below has read the old weights. */
static double train_step(Params *p, Params *vel, Workspace *w, int64_t rows, float lr, float momentum,
                         int64_t *hits) {
    forward(p, w->x, rows, w);
    double loss = K->softmax_xent(w->logits, w->y, rows, CLASSES, w->grad, hits, (float)rows);
    GemmArgs sgd = {.epilogue = EPI_SGD, .lr = lr, .momentum = momentum};

    /* fc3: dh2 = (grad · W3) * (h2 > 0) with the old W3, then W3 and b3 */
    gemm(rows, 512, 10, w->grad, 10, 1, p->t[W3], 1, 10, w->dh2, 512, (GemmArgs){.epilogue = EPI_RELU_MASK, .mask = w->h2});
    sgd.vel = vel->t[W3];
    gemm(512, 10, rows, w->h2, 1, 512, w->grad, 10, 1, p->t[W3], 10, sgd); /* W3ᵀ -= lr·v(h2ᵀ·grad) */
    K->colsum(w->grad, rows, 10, 10, w->db); /* db3 = the column sums of grad, then b3 */
    K->sgd(p->t[B3], vel->t[B3], w->db, 10, lr, momentum);

    /* fc2: dh1 = (dh2 · W2) * (h1 > 0) with the old W2, then W2 and b2 */
    gemm(rows, 512, 512, w->dh2, 512, 1, p->t[W2], 1, 512, w->dh1, 512, (GemmArgs){.epilogue = EPI_RELU_MASK, .mask = w->h1});
    sgd.vel = vel->t[W2];
    gemm(512, 512, rows, w->h1, 1, 512, w->dh2, 512, 1, p->t[W2], 512, sgd);
    K->colsum(w->dh2, rows, 512, 512, w->db);
    K->sgd(p->t[B2], vel->t[B2], w->db, 512, lr, momentum);

    /* fc1: W1 and b1 (no gradient for the input) */
    sgd.vel = vel->t[W1];
    gemm(784, 512, rows, w->x, 1, 784, w->dh1, 512, 1, p->t[W1], 512, sgd);
    K->colsum(w->dh1, rows, 512, 512, w->db);
    K->sgd(p->t[B1], vel->t[B1], w->db, 512, lr, momentum);
    return loss;
}

/* One pass over the training split in batches (shuffled unless --no-shuffle); the mean loss and accuracy
 * of the batches as they were trained. */
static void train_epoch(Params *p, Params *vel, Workspace *w, const Split *train, int64_t *order, const Args *args,
                        int64_t epoch, Rng *rng, Perf *perf, double *loss, double *accuracy) {
    epoch_order(rng, args->shuffle, order, train->n);
    double total = 0;
    int64_t correct = 0, hits, batches = (train->n + args->batch_size - 1) / args->batch_size;
    for (int64_t start = 0, batch = 1; start < train->n; start += args->batch_size, batch++) {
        int64_t rows = train->n - start < args->batch_size ? train->n - start : args->batch_size;
        for (int64_t r = 0; r < rows; r++) { /* gather the batch's rows */
            memcpy(w->x + r * PIXELS, train->x + order[start + r] * PIXELS, PIXELS * sizeof(float));
            w->y[r] = train->y[order[start + r]];
        }
        total += train_step(p, vel, w, rows, (float)args->lr, (float)args->momentum, &hits);
        correct += hits;
        perf_step(perf);
        progress_train(epoch, args->epochs, batch, batches, total, start + rows);
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

/* --predict: softmax probabilities of each image's ten classes, one log line per image; the forward pass
 * in the asm GEMMs, the ten exps per image of the softmax in C. */
static void predict(const Params *p, Workspace *w, const Split *images) {
    for (int64_t start = 0; start < images->n; start += EVAL_ROWS) {
        int64_t rows = images->n - start < EVAL_ROWS ? images->n - start : EVAL_ROWS;
        forward(p, images->x + start * PIXELS, rows, w);
        for (int64_t i = 0; i < rows; i++) {
            const float *z = w->logits + i * CLASSES;
            float probabilities[CLASSES], max = z[argmax(z, CLASSES)], sum = 0;
            for (int c = 0; c < CLASSES; c++) sum += probabilities[c] = expf(z[c] - max);
            for (int c = 0; c < CLASSES; c++) probabilities[c] /= sum;
            log_predict(start + i, probabilities);
        }
    }
}

/* ================================================================ main */
static const Row ROW = {
    .name = "assembly", .threads_flag = 1,
    .summary = "Train the SPEC.md MLP on MNIST with hand-written x86-64 assembly kernels (AVX-512 or AVX2+FMA).",
    .help_extra = "environment:\n  MNIST_ASM_ISA        avx512, avx2 or auto (default): which kernel set to run\n"};

int main(int argc, char **argv) {
    Args args = parse_args(argc, argv, &ROW);
    char why[256];
    if (!(K = kernels_select(why, sizeof why))) fail(EXIT_BAD_INPUT, "%s", why);
    log_start(ROW.name, "x86-64-asm/nasm-" NASM_VERSION, "none", "cpu");
    int64_t batch = args.batch_size < args.limit_train ? args.batch_size : args.limit_train;  /* <= train.n */
    if (pool_start(K, (int)args.threads, batch) != 0) fail(EXIT_INTERNAL, "cannot start %lld threads", (long long)args.threads);
    Tensors file = alloc_tensors();  /* the weights in the file's layout */
    Params params = alloc_tensors(), velocity = alloc_tensors();  /* velocity starts at 0 */
    if (args.predict) { /* classify the images of one IDX file with the --load weights; nothing else */
        load_weights(args.init, file.t);
        convert(file.t, params.t, 0);
        Split images = read_images(args.predict, K->u8_to_f32);
        Workspace work = alloc_workspace(EVAL_ROWS);
        predict(&params, &work, &images);
        pool_stop();
        return EXIT_OK;
    }
    log_config(&args);

    double started = now_seconds();
    Dataset data = load_mnist(&args, K->u8_to_f32);
    log_data(&data, now_seconds() - started);

    Rng rng = rng_seed(args.seed);
    if (args.init) load_weights(args.init, file.t);
    else init_params(&file, &rng);
    convert(file.t, params.t, 0);

    fprintf(stderr, "assembly: %s kernels (%dx%d GEMM tile), %lld thread(s)\n", K->name, K->mr, K->nr, (long long)args.threads);
    Workspace work = alloc_workspace(batch > EVAL_ROWS ? batch : EVAL_ROWS);
    int64_t *order = alloc_bytes((size_t)data.train.n * sizeof *order);
    Perf perf = perf_begin(K->name, args.threads, K->flops_per_cycle, K->fma_peak, K->fma_peak_flops, pool_flops);

    for (int64_t epoch = 1; epoch <= args.epochs; epoch++) {
        double train_loss, train_acc, val_loss, val_acc;
        perf_epoch_start(&perf);
        started = now_seconds();
        train_epoch(&params, &velocity, &work, &data.train, order, &args, epoch, &rng, &perf, &train_loss, &train_acc);
        double seconds = now_seconds() - started;
        check_finite(epoch, train_loss);
        evaluate(&params, &work, &data.val, &val_loss, &val_acc);
        log_epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds);
        perf_epoch_end(&perf, epoch, data.train.n / args.batch_size, seconds);  /* stderr: this row's timings */
    }

    double test_loss, test_acc;
    started = now_seconds();
    evaluate(&params, &work, &data.test, &test_loss, &test_acc);
    log_test(test_loss, test_acc, now_seconds() - started);
    if (args.save) {
        convert(params.t, file.t, 1);
        save_weights(args.save, file.t);
    }
    pool_stop();
    return EXIT_OK;
}
