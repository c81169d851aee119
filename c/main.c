/* MNIST in C: the forward pass, backpropagation and SGD with momentum by hand, matrix products by CBLAS.
 * The same model, data and hyperparameters as every other row (SPEC.md); build and run it from the repository
 * root with `make -C c && c/build/mnist --epochs 1`. Flags, IDX files, safetensors, log lines, errors and the
 * RNG come from the C contract library, common/c/contract.h. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"

/* ---------------------------------------------------------------- data: load_mnist (common/c) reads and splits it */

/* ---------------------------------------------------------------- model
 * x[784] → fc1 → ReLU → fc2 → ReLU → fc3 → logits[10]; weights in PyTorch's [out, in] layout. */
#define HIDDEN 512

enum { W1, B1, W2, B2, W3, B3 };  /* the order of TENSORS: fc1.weight, fc1.bias, ... */

typedef Tensors Params;  /* p.t[W1] .. p.t[B3]: alloc_tensors() allocates them zeroed, free_tensors() frees */

/* PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)). */
static void init_params(Params *p, Rng *rng) {
    for (int t = 0; t < N_TENSORS; t++) {
        double bound = 1.0 / sqrt((double)TENSORS[t - t % 2].cols);  /* fan_in: the layer's weight columns */
        for (int64_t i = 0, n = tensor_size(&TENSORS[t]); i < n; i++)
            p->t[t][i] = (float)(-bound + 2 * bound * rng_uniform(rng));
    }
}

/* Activations of one batch of up to `capacity` examples, and their gradients. */
typedef struct {
    float *x, *h1, *h2, *logits;    /* forward */
    float *g_logits, *g_h2, *g_h1;  /* backward */
    int32_t *labels;
} Work;

static Work alloc_work(size_t capacity) {
    Work w = {alloc_floats(capacity * PIXELS), alloc_floats(capacity * HIDDEN), alloc_floats(capacity * HIDDEN),
              alloc_floats(capacity * CLASSES), alloc_floats(capacity * CLASSES), alloc_floats(capacity * HIDDEN),
              alloc_floats(capacity * HIDDEN), alloc_bytes(capacity * sizeof(int32_t))};
    return w;
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

/* Logits for the n examples in x; keeps the hidden activations for backward(). */
static void forward(const Params *p, const float *x, Work *w, int n) {
    linear(x, p->t[W1], p->t[B1], w->h1, n, PIXELS, HIDDEN, 1);
    linear(w->h1, p->t[W2], p->t[B2], w->h2, n, HIDDEN, HIDDEN, 1);
    linear(w->h2, p->t[W3], p->t[B3], w->logits, n, HIDDEN, CLASSES, 0);
}

/* Summed loss and correct predictions of the batch; the gradient of the batch-mean loss goes to g_logits. */
static double softmax_cross_entropy(Work *w, const int32_t *labels, int n, int64_t *correct) {
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *z = w->logits + (size_t)i * CLASSES;
        float *g = w->g_logits + (size_t)i * CLASSES;
        int best = argmax(z, CLASSES);
        float sum = 0;
        for (int c = 0; c < CLASSES; c++) sum += (g[c] = expf(z[c] - z[best]));  /* exp cannot overflow */
        int y = labels[i];
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
                         int64_t *correct) {
    forward(p, w->x, w, n);
    double loss = softmax_cross_entropy(w, w->labels, n, correct);
    backward(p, w, grads, n);
    for (int t = 0; t < N_TENSORS; t++) {
        float *param = p->t[t], *v = velocity->t[t], *g = grads->t[t];
        for (int64_t i = 0, size = tensor_size(&TENSORS[t]); i < size; i++) {
            v[i] = momentum * v[i] + g[i];
            param[i] -= lr * v[i];
        }
    }
    return loss;
}

/* One epoch over the split, in a fresh random order unless shuffling is off; mean loss and accuracy. */
static void train_epoch(Params *p, Params *velocity, Params *grads, Work *w, const Split *train, int64_t *order,
                        const Args *args, int64_t epoch, Rng *rng, double *mean_loss, double *accuracy) {
    epoch_order(rng, args->shuffle, order, train->n);
    double total = 0;
    int64_t correct = 0, batches = (train->n + args->batch_size - 1) / args->batch_size;
    for (int64_t start = 0, batch = 1; start < train->n; start += args->batch_size, batch++) {
        int n = (int)(train->n - start < args->batch_size ? train->n - start : args->batch_size);
        for (int i = 0; i < n; i++) {  /* gather the batch */
            memcpy(w->x + (size_t)i * PIXELS, train->x + order[start + i] * PIXELS, PIXELS * sizeof(float));
            w->labels[i] = train->y[order[start + i]];
        }
        total += train_step(p, velocity, grads, w, n, (float)args->lr, (float)args->momentum, &correct);
        progress_train(epoch, args->epochs, batch, batches, total, start + n);
    }
    *mean_loss = total / (double)train->n;
    *accuracy = (double)correct / (double)train->n;
}

/* ---------------------------------------------------------------- evaluate
 * Mean loss and accuracy over a whole split, 1000 examples at a time. */
enum { EVAL_ROWS = 1000 };

static void evaluate(const Params *p, Work *w, const Split *split, double *mean_loss, double *accuracy) {
    double total = 0;
    int64_t correct = 0;
    for (int64_t start = 0; start < split->n; start += EVAL_ROWS) {
        int n = (int)(split->n - start < EVAL_ROWS ? split->n - start : EVAL_ROWS);
        forward(p, split->x + start * PIXELS, w, n);
        total += softmax_cross_entropy(w, split->y + start, n, &correct);
    }
    *mean_loss = total / (double)split->n;
    *accuracy = (double)correct / (double)split->n;
}

/* --predict: the softmax probabilities of each image's ten classes, one log line per image. */
static void predict(const Params *p, Work *w, const Split *images) {
    for (int64_t start = 0; start < images->n; start += EVAL_ROWS) {
        int rows = (int)(images->n - start < EVAL_ROWS ? images->n - start : EVAL_ROWS);
        forward(p, images->x + start * PIXELS, w, rows);
        for (int i = 0; i < rows; i++) {
            const float *z = w->logits + (size_t)i * CLASSES;
            float probabilities[CLASSES], max = z[argmax(z, CLASSES)], sum = 0;
            for (int c = 0; c < CLASSES; c++) sum += (probabilities[c] = expf(z[c] - max));
            for (int c = 0; c < CLASSES; c++) probabilities[c] /= sum;
            log_predict(start + i, probabilities);
        }
    }
}

/* ---------------------------------------------------------------- main */
static const Row ROW = {.name = "c",
                       .summary = "Train the SPEC.md MLP on MNIST in C: hand-written backprop, CBLAS matrix products."};

int main(int argc, char **argv) {
    openblas_use_best_kernels(argv);  /* may run this program again with faster OpenBLAS kernels */
    Args args = parse_args(argc, argv, &ROW);
    log_start(ROW.name, c_language(), openblas_name(), "cpu");
    Params p = alloc_tensors();
    if (args.predict) {  /* classify the images of one IDX file with the --load weights; nothing else */
        load_weights(args.init, p.t);
        Split images = read_images(args.predict, NULL);
        Work w = alloc_work(EVAL_ROWS);
        predict(&p, &w, &images);
        free(images.x), free_work(&w), free_tensors(&p);
        return EXIT_OK;
    }
    log_config(&args);

    double started = now_seconds();
    Dataset data = load_mnist(&args, NULL);
    log_data(&data, now_seconds() - started);

    Rng rng = rng_seed(args.seed);
    if (args.init) load_weights(args.init, p.t);
    else init_params(&p, &rng);
    Params velocity = alloc_tensors(), grads = alloc_tensors();  /* velocity starts at 0 */
    /* A batch never holds more than the training set; evaluation goes 1000 at a time. */
    int64_t batch = args.batch_size < data.train.n ? args.batch_size : data.train.n;
    Work w = alloc_work((size_t)(batch > EVAL_ROWS ? batch : EVAL_ROWS));
    int64_t *order = alloc_bytes((size_t)data.train.n * sizeof *order);

    for (int64_t epoch = 1; epoch <= args.epochs; epoch++) {
        double loss, acc, val_loss, val_acc;
        started = now_seconds();
        train_epoch(&p, &velocity, &grads, &w, &data.train, order, &args, epoch, &rng, &loss, &acc);
        double seconds = now_seconds() - started;
        check_finite(epoch, loss);
        evaluate(&p, &w, &data.val, &val_loss, &val_acc);
        log_epoch(epoch, loss, acc, val_loss, val_acc, seconds);
    }

    double test_loss, test_acc;
    started = now_seconds();
    evaluate(&p, &w, &data.test, &test_loss, &test_acc);
    log_test(test_loss, test_acc, now_seconds() - started);
    if (args.save) save_weights(args.save, p.t);
    free(order), free_work(&w), free_dataset(&data);
    free_tensors(&p), free_tensors(&velocity), free_tensors(&grads);
    return EXIT_OK;
}
