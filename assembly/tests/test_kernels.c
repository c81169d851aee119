/* Unit tests of every assembly kernel, on both ISA paths, against straightforward C
 * references (double precision) on random sizes with ragged edges. Also checks that the
 * AVX-512 and AVX2 paths agree bit for bit and that threading does not change results.
 *
 *     make -C assembly test        (exit status 1 on any failure)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "pool.h"

static int failures, checks;
static uint64_t state = 0x1234567887654321ull;

static uint64_t next(void) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
}
static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)((next() >> 40) * 0x1.0p-24); }
static int64_t below(int64_t n) { return (int64_t)(next() % (uint64_t)n); }

static float *floats(size_t n) {
    float *p = aligned_alloc(64, (n * 4 + 64) / 64 * 64);
    for (size_t i = 0; i < n; i++)
        p[i] = uniform(-1, 1);
    return p;
}

#define CHECK(cond, ...)                                                                                              \
    do {                                                                                                              \
        checks++;                                                                                                     \
        if (!(cond)) {                                                                                                \
            if (failures++ < 20) {                                                                                    \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                           \
                printf(__VA_ARGS__);                                                                                  \
                printf("\n");                                                                                         \
            }                                                                                                         \
        }                                                                                                             \
    } while (0)

/* ---------------------------------------------------------------- GEMM */

typedef struct {
    int64_t m, n, k, epilogue;
    int a_layout, b_layout; /* 0 row-major, 1 transposed, 2 both strides non-unit */
} Case;

typedef struct {
    float *a, *b, *c, *bias, *mask, *vel, *c0, *vel0;
    int64_t rsa, csa, rsb, csb, ldc, a_size, b_size, c_size;
} Operands;

static Operands make_operands(Case t) {
    Operands o;
    int64_t pad = below(3);
    if (t.a_layout == 0)
        o.rsa = t.k + pad, o.csa = 1;
    else if (t.a_layout == 1)
        o.rsa = 1, o.csa = t.m + pad;
    else
        o.rsa = 2, o.csa = 2 * t.m + 1;
    if (t.b_layout == 0)
        o.rsb = t.n + pad, o.csb = 1;
    else if (t.b_layout == 1)
        o.rsb = 1, o.csb = t.k + pad;
    else
        o.rsb = 3 * t.n + 2, o.csb = 3;
    o.ldc = t.n + below(4);
    o.a_size = (t.m - 1) * o.rsa + (t.k - 1) * o.csa + 1;
    o.b_size = (t.k - 1) * o.rsb + (t.n - 1) * o.csb + 1;
    if (t.k == 0)
        o.a_size = o.b_size = 1;
    o.c_size = t.m * o.ldc;
    o.a = floats((size_t)o.a_size);
    o.b = floats((size_t)o.b_size);
    o.c0 = floats((size_t)o.c_size);
    o.c = floats((size_t)o.c_size);
    o.vel0 = floats((size_t)o.c_size);
    o.vel = floats((size_t)o.c_size);
    o.bias = floats((size_t)t.n);
    o.mask = floats((size_t)o.c_size);
    for (int64_t i = 0; i < o.c_size; i++)
        if (below(4) == 0)
            o.mask[i] = 0; /* ReLU outputs are often exactly 0 */
    return o;
}

static void reset(Operands *o) {
    memcpy(o->c, o->c0, (size_t)o->c_size * 4);
    memcpy(o->vel, o->vel0, (size_t)o->c_size * 4);
}

static GemmArgs args_for(Case t, Operands *o, float *pack) {
    return (GemmArgs){.m = t.m, .n = t.n, .k = t.k, .a = o->a, .rsa = o->rsa, .csa = o->csa, .b = o->b,
                      .rsb = o->rsb, .csb = o->csb, .c = o->c, .ldc = o->ldc, .epilogue = t.epilogue,
                      .bias = o->bias, .mask = o->mask, .vel = o->vel, .lr = 0.05f, .momentum = 0.9f,
                      .pack = pack};
}

/* Compare o->c (and o->vel) with a double-precision reference; entries outside the m x n
 * block must be untouched. */
static void check_gemm(const char *isa, Case t, const Operands *o) {
    const float lr = 0.05f, mom = 0.9f;
    for (int64_t i = 0; i < t.m; i++)
        for (int64_t j = 0; j < o->ldc; j++) {
            int64_t at = i * o->ldc + j;
            if (j >= t.n) {
                CHECK(memcmp(&o->c[at], &o->c0[at], 4) == 0 && memcmp(&o->vel[at], &o->vel0[at], 4) == 0,
                      "%s gemm m=%lld n=%lld k=%lld: wrote outside C at (%lld, %lld)", isa, (long long)t.m,
                      (long long)t.n, (long long)t.k, (long long)i, (long long)j);
                continue;
            }
            double sum = 0, magnitude = 0;
            for (int64_t p = 0; p < t.k; p++) {
                double x = (double)o->a[i * o->rsa + p * o->csa] * o->b[p * o->rsb + j * o->csb];
                sum += x;
                magnitude += fabs(x);
            }
            double tol = 1.2e-7 * (double)(t.k + 2) * magnitude + 1e-6 * 0;
            double want = sum, got = o->c[at], want_vel = 0;
            switch (t.epilogue) {
            case EPI_BIAS: want += o->bias[j]; tol += 1.2e-7 * fabs(want); break;
            case EPI_BIAS_RELU: want = fmax(want + o->bias[j], 0); tol += 1.2e-7 * fabs(want); break;
            case EPI_RELU_MASK: want = o->mask[at] > 0 ? want : 0; break;
            case EPI_SGD:
                want_vel = mom * (double)o->vel0[at] + sum;
                want = o->c0[at] - lr * want_vel;
                CHECK(fabs(o->vel[at] - want_vel) <= tol + 2.4e-7 * fabs(want_vel) + 1e-30,
                      "%s gemm sgd m=%lld n=%lld k=%lld (%lld,%lld): vel %.9g, want %.9g", isa, (long long)t.m,
                      (long long)t.n, (long long)t.k, (long long)i, (long long)j, o->vel[at], want_vel);
                tol = lr * (tol + 2.4e-7 * fabs(want_vel)) + 1.2e-7 * fabs(want) + 1e-30;
                break;
            }
            CHECK(fabs(got - want) <= tol, "%s gemm epi=%lld m=%lld n=%lld k=%lld A%d B%d at (%lld, %lld): %.9g, want %.9g",
                  isa, (long long)t.epilogue, (long long)t.m, (long long)t.n, (long long)t.k, t.a_layout, t.b_layout,
                  (long long)i, (long long)j, got, want);
        }
}

static void free_operands(Operands *o) {
    free(o->a), free(o->b), free(o->c), free(o->c0), free(o->vel), free(o->vel0), free(o->bias), free(o->mask);
}

static Case random_case(int64_t max_mnk) {
    static const int64_t edges[] = {1, 2, 3, 5, 6, 7, 8, 11, 12, 13, 15, 16, 17, 24, 31, 32, 33, 47, 48, 49, 64, 65};
    Case t;
    int64_t *dims[3] = {&t.m, &t.n, &t.k};
    for (int d = 0; d < 3; d++)
        *dims[d] = below(2) ? edges[below(sizeof edges / sizeof edges[0])] : 1 + below(max_mnk);
    t.epilogue = below(5);
    t.a_layout = (int)below(3);
    t.b_layout = (int)below(3);
    return t;
}

static void test_gemm(const Kernels *kernels, const Kernels *other) {
    size_t pack_floats = gemm_pack_floats(kernels, 1000);
    float *pack = aligned_alloc(64, (pack_floats * 4 + 63) / 64 * 64);
    float *other_pack = other ? aligned_alloc(64, (gemm_pack_floats(other, 1000) * 4 + 63) / 64 * 64) : NULL;
    Case fixed[] = {
        /* the shapes of training (batch 128 and the last batch of 80) and evaluation */
        {128, 512, 784, EPI_BIAS_RELU, 0, 0}, {80, 512, 512, EPI_BIAS_RELU, 0, 0}, {128, 10, 512, EPI_BIAS, 0, 0},
        {128, 512, 10, EPI_RELU_MASK, 0, 1},  {512, 10, 128, EPI_SGD, 1, 0},        {80, 512, 512, EPI_RELU_MASK, 0, 1},
        {512, 512, 80, EPI_SGD, 1, 0},        {784, 512, 128, EPI_SGD, 1, 0},       {1000, 10, 512, EPI_BIAS, 0, 0},
        {7, 9, 0, EPI_BIAS, 0, 0},            {13, 33, 600, EPI_STORE, 2, 2},        {3, 70, 700, EPI_SGD, 0, 1},
    };
    int cases = (int)(sizeof fixed / sizeof fixed[0]) + 300;
    for (int c = 0; c < cases; c++) {
        Case t = c < (int)(sizeof fixed / sizeof fixed[0]) ? fixed[c] : random_case(c % 10 == 0 ? 700 : 80);
        Operands o = make_operands(t);
        reset(&o);
        GemmArgs g = args_for(t, &o, pack);
        kernels->sgemm(&g);
        check_gemm(kernels->name, t, &o);
        if (other) { /* the other ISA must give the same bits */
            float *mine = malloc((size_t)o.c_size * 8);
            memcpy(mine, o.c, (size_t)o.c_size * 4);
            memcpy(mine + o.c_size, o.vel, (size_t)o.c_size * 4);
            reset(&o);
            g = args_for(t, &o, other_pack);
            other->sgemm(&g);
            CHECK(memcmp(mine, o.c, (size_t)o.c_size * 4) == 0 && memcmp(mine + o.c_size, o.vel, (size_t)o.c_size * 4) == 0,
                  "%s and %s gemm differ (m=%lld n=%lld k=%lld epi=%lld)", kernels->name, other->name, (long long)t.m,
                  (long long)t.n, (long long)t.k, (long long)t.epilogue);
            free(mine);
        }
        free_operands(&o);
    }
    free(pack);
    free(other_pack);
}

/* Threads cut the GEMM into column panels or row blocks: the result must be identical. */
static void test_pool(const Kernels *kernels) {
    float *pack = aligned_alloc(64, (gemm_pack_floats(kernels, 1000) * 4 + 63) / 64 * 64);
    int threads[] = {2, 3, 5};
    for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++) {
        if (pool_start(kernels, threads[ti], 1000) != 0) {
            CHECK(0, "pool_start failed");
            return;
        }
        for (int c = 0; c < 40; c++) {
            Case t = random_case(c % 4 == 0 ? 600 : 100);
            Operands o = make_operands(t);
            reset(&o);
            GemmArgs g = args_for(t, &o, pack);
            kernels->sgemm(&g);
            float *single = malloc((size_t)o.c_size * 8);
            memcpy(single, o.c, (size_t)o.c_size * 4);
            memcpy(single + o.c_size, o.vel, (size_t)o.c_size * 4);
            reset(&o);
            g = args_for(t, &o, NULL);
            pool_gemm(&g);
            CHECK(memcmp(single, o.c, (size_t)o.c_size * 4) == 0 && memcmp(single + o.c_size, o.vel, (size_t)o.c_size * 4) == 0,
                  "%s: %d threads differ from 1 (m=%lld n=%lld k=%lld)", kernels->name, threads[ti], (long long)t.m,
                  (long long)t.n, (long long)t.k);
            free(single);
            free_operands(&o);
        }
        pool_stop();
    }
    free(pack);
}

/* Back-to-back GEMMs whose chunk counts rise and fall (row blocks of n = 10 products, SGD
 * updates with 16-43 chunks, k-blocked column panels), as in a training step: every chunk
 * must run exactly once, for its own GEMM. The SGD weights and velocities carry over from
 * call to call and every output is checksummed after each round, so a chunk run twice or
 * by two threads at once shows as a different checksum than one thread gives. */
#ifndef POOL_SEQUENCE_REPS
#define POOL_SEQUENCE_REPS 1000
#endif
static uint64_t checksum(uint64_t h, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], 4);
        h += (uint64_t)bits * (uint64_t)(2 * i + 1);
    }
    return h * 0x100000001b3ull;
}

static void test_pool_sequence(const Kernels *kernels) {
    uint64_t saved = state; /* leave the other tests' random cases as they were */
    Case seq[] = {
        {24, 10, 16, EPI_BIAS, 0, 0},    {512, 10, 24, EPI_SGD, 1, 0},    {36, 10, 16, EPI_RELU_MASK, 0, 0},
        {24, 256, 300, EPI_STORE, 0, 0}, {12, 10, 8, EPI_STORE, 0, 0},    {784, 40, 8, EPI_SGD, 1, 0},
        {48, 512, 10, EPI_RELU_MASK, 0, 1}, {8, 10, 512, EPI_BIAS, 0, 0}, {64, 512, 8, EPI_SGD, 1, 0},
    };
    enum { CASES = sizeof seq / sizeof seq[0] };
    Operands ops[CASES];
    for (int c = 0; c < CASES; c++)
        ops[c] = make_operands(seq[c]);
    float *pack = aligned_alloc(64, (gemm_pack_floats(kernels, 1000) * 4 + 63) / 64 * 64);
    uint64_t want = 0;
    int threads[] = {1, 2, 3};
    for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++) {
        if (threads[ti] > 1 && pool_start(kernels, threads[ti], 1000) != 0) {
            CHECK(0, "pool_start failed");
            break;
        }
        uint64_t got = 0;
        for (int c = 0; c < CASES; c++)
            reset(&ops[c]);
        for (int rep = 0; rep < POOL_SEQUENCE_REPS; rep++) {
            for (int c = 0; c < CASES; c++) {
                GemmArgs g = args_for(seq[c], &ops[c], pack);
                g.lr = 0.001f;
                if (threads[ti] == 1)
                    kernels->sgemm(&g);
                else
                    pool_gemm(&g);
            }
            for (int c = 0; c < CASES; c++) {
                got = checksum(got, ops[c].c, ops[c].c_size);
                if (seq[c].epilogue == EPI_SGD)
                    got = checksum(got, ops[c].vel, ops[c].c_size);
            }
        }
        if (threads[ti] > 1)
            pool_stop();
        if (threads[ti] == 1)
            want = got;
        CHECK(got == want, "%s: %d threads differ from 1 over %d rounds of %d back-to-back GEMMs", kernels->name,
              threads[ti], POOL_SEQUENCE_REPS, CASES);
    }
    for (int c = 0; c < CASES; c++)
        free_operands(&ops[c]);
    free(pack);
    state = saved;
}

/* ---------------------------------------------------------------- softmax cross-entropy */

static void test_softmax(const Kernels *kernels, const Kernels *other) {
    for (int c = 0; c < 200; c++) {
        int64_t rows = 1 + below(c < 100 ? 20 : 300), classes = 1 + below(16);
        int mode = c % 4; /* 0: small, 1: ties (integers), 2: wide spread (exp underflow), 3: huge */
        float *z = floats((size_t)(rows * classes)), *grad = floats((size_t)(rows * classes));
        int32_t *y = malloc((size_t)rows * 4);
        for (int64_t i = 0; i < rows * classes; i++)
            z[i] = mode == 0 ? z[i] * 5 : mode == 1 ? (float)below(3) : mode == 2 ? z[i] * 100 : z[i] * 1e4f;
        for (int64_t i = 0; i < rows; i++)
            y[i] = (int32_t)below(classes);
        float denom = (float)rows;
        int64_t correct = -1;
        double loss = kernels->softmax_xent(z, y, rows, classes, grad, &correct, denom);
        double want_loss = 0;
        int64_t want_correct = 0;
        for (int64_t i = 0; i < rows; i++) {
            const float *row = z + i * classes;
            int64_t best = 0;
            for (int64_t j = 1; j < classes; j++)
                if (row[j] > row[best])
                    best = j;
            want_correct += best == y[i];
            double sum = 0;
            for (int64_t j = 0; j < classes; j++)
                sum += exp((double)row[j] - row[best]);
            want_loss += log(sum) - ((double)row[y[i]] - row[best]);
            for (int64_t j = 0; j < classes; j++) {
                double want = (exp((double)row[j] - row[best]) / sum - (j == y[i])) / denom;
                float got = grad[i * classes + j];
                CHECK(fabs(got - want) <= 4e-7 * fabs(want) + 1e-7 / denom * 0 + 1e-12 + 2.4e-7 / denom,
                      "%s softmax grad row %lld class %lld of %lld: %.9g, want %.9g", kernels->name, (long long)i,
                      (long long)j, (long long)classes, got, want);
            }
        }
        CHECK(correct == want_correct, "%s softmax: %lld correct, want %lld", kernels->name, (long long)correct,
              (long long)want_correct);
        CHECK(fabs(loss - want_loss) <= 1e-6 * (fabs(want_loss) + rows), "%s softmax loss %.9g, want %.9g",
              kernels->name, loss, want_loss);
        int64_t again;
        double no_grad = kernels->softmax_xent(z, y, rows, classes, NULL, &again, denom);
        CHECK(no_grad == loss && again == correct, "%s softmax without gradient differs", kernels->name);
        if (other) {
            float *grad2 = floats((size_t)(rows * classes));
            int64_t correct2;
            double loss2 = other->softmax_xent(z, y, rows, classes, grad2, &correct2, denom);
            CHECK(loss2 == loss && correct2 == correct && memcmp(grad, grad2, (size_t)(rows * classes) * 4) == 0,
                  "%s and %s softmax differ", kernels->name, other->name);
            free(grad2);
        }
        free(z), free(grad), free(y);
    }
    /* exp accuracy through a 2-class softmax: logits (0, x), label 0 -> grad[1] = e^x / (1 + e^x) */
    double worst = 0;
    for (int i = 0; i <= 20000; i++) {
        float x = -87.0f * (float)i / 20000, z[2] = {0, x}, grad[2];
        int32_t y = 0;
        int64_t correct;
        kernels->softmax_xent(z, &y, 1, 2, grad, &correct, 1.0f);
        double e = exp((double)x), want = e / (1 + e);
        worst = fmax(worst, fabs(grad[1] - want) / want);
    }
    printf("  %s: exp via softmax, worst relative error %.2e over [-87, 0]\n", kernels->name, worst);
    CHECK(worst < 5e-7, "%s exp relative error %.3g", kernels->name, worst);
    /* NaN and inf logits make the loss non-finite (divergence detection) */
    float bad[3][3] = {{NAN, 0, 1}, {0, NAN, 1}, {INFINITY, 0, 1}};
    for (int i = 0; i < 3; i++) {
        int32_t y = 2;
        int64_t correct;
        double loss = kernels->softmax_xent(bad[i], &y, 1, 3, NULL, &correct, 1.0f);
        CHECK(!isfinite(loss), "%s softmax of a non-finite logit gave a finite loss %g", kernels->name, loss);
    }
}

/* ---------------------------------------------------------------- the small kernels */

static void test_colsum_sgd_scale(const Kernels *kernels, const Kernels *other) {
    for (int c = 0; c < 100; c++) {
        int64_t rows = 1 + below(300), cols = 1 + below(c % 3 ? 100 : 600), ld = cols + below(5);
        float *x = floats((size_t)(rows * ld)), *out = floats((size_t)cols + 16);
        float sentinel = out[cols];
        kernels->colsum(x, rows, cols, ld, out);
        for (int64_t j = 0; j < cols; j++) {
            double want = 0, magnitude = 0;
            for (int64_t i = 0; i < rows; i++)
                want += x[i * ld + j], magnitude += fabs(x[i * ld + j]);
            CHECK(fabs(out[j] - want) <= 1.2e-7 * (double)rows * magnitude, "%s colsum %lldx%lld col %lld: %.9g, want %.9g",
                  kernels->name, (long long)rows, (long long)cols, (long long)j, out[j], want);
        }
        CHECK(out[cols] == sentinel, "%s colsum wrote past the end", kernels->name);
        if (other) {
            float *out2 = floats((size_t)cols);
            other->colsum(x, rows, cols, ld, out2);
            CHECK(memcmp(out, out2, (size_t)cols * 4) == 0, "%s and %s colsum differ", kernels->name, other->name);
            free(out2);
        }
        free(x), free(out);
    }
    for (int c = 0; c < 100; c++) {
        int64_t n = 1 + below(c % 2 ? 40 : 2000);
        float *p = floats((size_t)n + 16), *v = floats((size_t)n + 16), *g = floats((size_t)n);
        float *p0 = malloc((size_t)(n + 16) * 4), *v0 = malloc((size_t)(n + 16) * 4);
        memcpy(p0, p, (size_t)(n + 16) * 4);
        memcpy(v0, v, (size_t)(n + 16) * 4);
        float lr = uniform(0.001f, 1), mom = uniform(0, 0.99f);
        kernels->sgd(p, v, g, n, lr, mom);
        int exact = 1;
        for (int64_t i = 0; i < n; i++) {
            float want_v = fmaf(mom, v0[i], g[i]), want_p = fmaf(-lr, want_v, p0[i]);
            exact &= v[i] == want_v && p[i] == want_p;
        }
        CHECK(exact, "%s sgd (n=%lld) differs from vel = fma(mom, vel, g); p = fma(-lr, vel, p)", kernels->name, (long long)n);
        CHECK(memcmp(p + n, p0 + n, 64) == 0 && memcmp(v + n, v0 + n, 64) == 0, "%s sgd wrote past the end", kernels->name);
        free(p), free(v), free(g), free(p0), free(v0);
    }
    uint8_t bytes[300];
    for (int i = 0; i < 300; i++)
        bytes[i] = (uint8_t)(i < 256 ? i : below(256));
    for (int64_t n = 0; n <= 300; n += 1 + below(9)) {
        float out[320];
        for (int i = 0; i < 320; i++)
            out[i] = -1;
        kernels->u8_to_f32(out, bytes, n);
        int exact = 1;
        for (int64_t i = 0; i < n; i++)
            exact &= out[i] == (float)bytes[i] / 255.0f;
        CHECK(exact && out[n] == -1, "%s u8_to_f32 (n=%lld) is not x / 255.0f", kernels->name, (long long)n);
    }
}

int main(void) {
    uint32_t features = mnist_cpu_features();
    printf("cpu features: avx2+fma=%d avx512=%d\n", features & 1, (features >> 1) & 1);
    const Kernels *avx512 = kernels_by_name("avx512"), *avx2 = kernels_by_name("avx2");
    if (!avx2) {
        printf("SKIP: this CPU cannot run the AVX2 kernels\n");
        return 0;
    }
    const Kernels *sets[] = {avx512, avx2};
    for (int s = 0; s < 2; s++) {
        const Kernels *kernels = sets[s];
        if (!kernels) {
            printf("SKIP avx512: not supported by this CPU\n");
            continue;
        }
        const Kernels *other = s == 0 ? avx2 : NULL; /* cross-check once */
        int before = failures;
        printf("%s:\n", kernels->name);
        test_gemm(kernels, other);
        test_pool(kernels);
        test_pool_sequence(kernels);
        test_softmax(kernels, other);
        test_colsum_sgd_scale(kernels, other);
        printf("  %s: %s\n", kernels->name, failures == before ? "ok" : "FAILED");
    }
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
