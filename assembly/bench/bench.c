/* GEMM benchmark: the measured fp32 FMA peak of one core, then the training step's GEMM
 * shapes (and a square one) on each ISA path, best of many repetitions, in GFLOP/s and as
 * a fraction of that peak. Best-of-N filters out time slices lost to other processes.
 *
 *     make -C assembly bench      build/bench [threads] [repetitions] [isa] [shape substring]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"
#include "pool.h"

static double clock_seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now(void) { return clock_seconds(CLOCK_MONOTONIC); }
static double cpu_now(void) { return clock_seconds(CLOCK_THREAD_CPUTIME_ID); }

static float *floats(size_t n) {
    float *p = aligned_alloc(64, (n * 4 + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

typedef struct {
    const char *what;
    int64_t m, n, k, epilogue;
    int a_transposed, b_transposed;
} Shape;

static const Shape SHAPES[] = {
    {"fc1 fwd   x·W1ᵀ", 128, 512, 784, EPI_BIAS_RELU, 0, 0},
    {"fc2 fwd   h1·W2ᵀ", 128, 512, 512, EPI_BIAS_RELU, 0, 0},
    {"fc3 fwd   h2·W3ᵀ", 128, 10, 512, EPI_BIAS, 0, 0},
    {"fc3 dX    g·W3", 128, 512, 10, EPI_RELU_MASK, 0, 1},
    {"fc3 dW+SGD h2ᵀ·g", 512, 10, 128, EPI_SGD, 1, 0},
    {"fc2 dX    dh2·W2", 128, 512, 512, EPI_RELU_MASK, 0, 1},
    {"fc2 dW+SGD h1ᵀ·dh2", 512, 512, 128, EPI_SGD, 1, 0},
    {"fc1 dW+SGD xᵀ·dh1", 784, 512, 128, EPI_SGD, 1, 0},
    {"eval fc1 (1000 rows)", 1000, 512, 784, EPI_BIAS_RELU, 0, 0},
    {"square 1024³", 1024, 1024, 1024, EPI_STORE, 0, 0},
};

/* Best wall time and best CPU time of this thread (for 1 thread: time not lost to
 * other processes) over the repetitions. */
static double best_seconds(const Kernels *kernels, const Shape *s, int threads, int repetitions, double *best_cpu) {
    float *a = floats((size_t)(s->m * s->k)), *b = floats((size_t)(s->k * s->n)), *c = floats((size_t)(s->m * s->n));
    float *bias = floats((size_t)s->n), *mask = floats((size_t)(s->m * s->n)), *vel = floats((size_t)(s->m * s->n));
    GemmArgs g = {.m = s->m, .n = s->n, .k = s->k, .a = a, .b = b, .c = c, .ldc = s->n, .epilogue = s->epilogue,
                  .bias = bias, .mask = mask, .vel = vel, .lr = 1e-9f, .momentum = 0.5f};
    g.rsa = s->a_transposed ? 1 : s->k, g.csa = s->a_transposed ? s->m : 1;
    g.rsb = s->b_transposed ? 1 : s->n, g.csb = s->b_transposed ? s->k : 1;
    pool_start(kernels, threads, s->k);
    double best = 1e30;
    *best_cpu = 1e30;
    for (int r = 0; r < repetitions; r++) {
        double t0 = now(), c0 = cpu_now();
        pool_gemm(&g);
        double t = now() - t0, c = cpu_now() - c0;
        if (t < best)
            best = t;
        if (c < *best_cpu)
            *best_cpu = c;
    }
    pool_stop();
    free(a), free(b), free(c), free(bias), free(mask), free(vel);
    return best;
}

/* GFLOP/s of one core running only FMAs (asm loop, 24 or 12 independent chains): best of
 * short runs in thread CPU time. Measured again next to every shape, since the clock moves. */
static double measure_peak(const Kernels *kernels) {
    double best = 1e30;
    for (int r = 0; r < 30; r++) {
        double t0 = cpu_now();
        kernels->fma_peak(50000);
        double t = cpu_now() - t0;
        if (t < best)
            best = t;
    }
    return 50000.0 * kernels->fma_peak_flops / best / 1e9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, repetitions = argc > 2 ? atoi(argv[2]) : 200;
    const char *only_isa = argc > 3 ? argv[3] : NULL, *only_shape = argc > 4 ? argv[4] : NULL;
    if (threads < 1 || repetitions < 1) {
        fprintf(stderr, "usage: bench [threads] [repetitions]\n");
        return 2;
    }
    const char *names[] = {"avx512", "avx2"};
    for (int i = 0; i < 2; i++) {
        if (only_isa && strcmp(only_isa, names[i]) != 0)
            continue;
        const Kernels *kernels = kernels_by_name(names[i]);
        if (!kernels) {
            printf("%s: not supported here\n\n", names[i]);
            continue;
        }
        double peak = measure_peak(kernels);
        printf("%s: measured FMA peak %.1f GFLOP/s per core (= %.2f GHz x %d FLOP/cycle); \"of pk\" uses the "
               "peak measured right after each shape\n", kernels->name, peak, peak / kernels->flops_per_cycle,
               kernels->flops_per_cycle);
        printf("  %-24s %5s %5s %5s %9s %8s %7s %10s %8s %7s\n", "GEMM", "m", "n", "k", "wall µs", "GFLOP/s",
               "of pk", "thread-CPU", "GFLOP/s", "of pk");
        for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
            const Shape *shape = &SHAPES[s];
            if (only_shape && !strstr(shape->what, only_shape))
                continue;
            int reps = shape->m * shape->n * shape->k > 100000000 ? repetitions / 5 + 1 : repetitions;
            double cpu, seconds = best_seconds(kernels, shape, threads, reps, &cpu);
            peak = (measure_peak(kernels) + measure_peak(kernels)) / 2; /* the clock right after */
            double flop = 2.0 * (double)shape->m * (double)shape->n * (double)shape->k;
            printf("  %-24s %5lld %5lld %5lld %9.1f %8.1f %6.1f%%", shape->what, (long long)shape->m,
                   (long long)shape->n, (long long)shape->k, seconds * 1e6, flop / seconds / 1e9,
                   100 * flop / seconds / 1e9 / (peak * threads));
            if (threads == 1) /* one thread's CPU time only means something when it did all the work */
                printf(" %10.1f %8.1f %6.1f%%", cpu * 1e6, flop / cpu / 1e9, 100 * flop / cpu / 1e9 / peak);
            printf("\n");
        }
        printf("\n");
    }
    return 0;
}
