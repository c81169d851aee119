/* The assembly kernels (the asm/ files) and the choice between their AVX-512 and AVX2 builds.
 * Every arithmetic operation of training and evaluation happens in these functions. */
#ifndef MNIST_KERNELS_H
#define MNIST_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* C = A·B (+ epilogue), A(i,p) = a[i*rsa + p*csa], B(p,j) = b[p*rsb + j*csb], C(i,j) = c[i*ldc + j].
 * Layout mirrored in asm/common.inc (G_* offsets). */
typedef struct {
    int64_t m, n, k;
    const float *a;
    int64_t rsa, csa;
    const float *b;
    int64_t rsb, csb;
    float *c;
    int64_t ldc;
    int64_t epilogue;   /* EPI_* below */
    const float *bias;  /* EPI_BIAS, EPI_BIAS_RELU: [n] */
    const float *mask;  /* EPI_RELU_MASK: like C (ldc); keeps entries where mask > 0 */
    float *vel;         /* EPI_SGD: velocity, like C (ldc); C is the weight */
    float lr, momentum; /* EPI_SGD */
    float *pack;        /* scratch, 64-byte aligned, gemm_pack_floats() floats */
} GemmArgs;

_Static_assert(offsetof(GemmArgs, n) == 8 && offsetof(GemmArgs, a) == 24 && offsetof(GemmArgs, csa) == 40 &&
               offsetof(GemmArgs, b) == 48 && offsetof(GemmArgs, csb) == 64 && offsetof(GemmArgs, c) == 72 &&
               offsetof(GemmArgs, ldc) == 80 && offsetof(GemmArgs, epilogue) == 88 &&
               offsetof(GemmArgs, bias) == 96 && offsetof(GemmArgs, mask) == 104 &&
               offsetof(GemmArgs, vel) == 112 && offsetof(GemmArgs, lr) == 120 &&
               offsetof(GemmArgs, momentum) == 124 && offsetof(GemmArgs, pack) == 128,
               "GemmArgs must match asm/common.inc");

enum { EPI_STORE, EPI_BIAS, EPI_BIAS_RELU, EPI_RELU_MASK, EPI_SGD };

#define GEMM_KC 256 /* asm/common.inc KC: the k block of every epilogue but SGD */

typedef struct {
    const char *name;    /* "avx512" or "avx2" */
    int mr, nr;          /* micro-kernel tile */
    int flops_per_cycle; /* fp32 peak per core assumed for this ISA (2 FMA units) */
    void (*sgemm)(const GemmArgs *g);
    double (*softmax_xent)(const float *logits, const int32_t *labels, int64_t rows, int64_t classes,
                           float *grad, int64_t *correct, float denom);
    void (*colsum)(const float *x, int64_t rows, int64_t cols, int64_t ld, float *out);
    void (*sgd)(float *p, float *vel, const float *g, int64_t n, float lr, float momentum);
    void (*u8_to_f32)(float *dst, const uint8_t *src, int64_t n);
    void (*pack)(float *dst, const float *src, int64_t rsb_bytes, int64_t csb_bytes, int64_t kc, int64_t nr);
    void (*fma_peak)(int64_t iterations);
    int fma_peak_flops; /* FLOP per fma_peak iteration */
} Kernels;

/* Floats of GemmArgs.pack needed for k (any epilogue) with this kernel set. */
size_t gemm_pack_floats(const Kernels *kernels, int64_t k);

/* The kernel set by name ("avx512", "avx2"), or NULL when this CPU/OS cannot run it. */
const Kernels *kernels_by_name(const char *name);

/* The kernel set to use: $MNIST_ASM_ISA (avx512, avx2, auto/unset = the best one).
 * NULL with a message in err when none can run or the variable is wrong. */
const Kernels *kernels_select(char *err, size_t err_size);

/* asm/cpu.asm: bit 0 = AVX2+FMA usable, bit 1 = AVX-512 F/DQ/BW/VL usable. */
uint32_t mnist_cpu_features(void);

#endif
