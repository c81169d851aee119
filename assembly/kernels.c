/* Run-time choice of the kernel set: CPUID + XGETBV (asm/cpu.asm), $MNIST_ASM_ISA. */
#include "kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECLARE(isa)                                                                                  \
    void mnist_sgemm_##isa(const GemmArgs *g);                                                        \
    double mnist_softmax_xent_##isa(const float *, const int32_t *, int64_t, int64_t, float *,        \
                                    int64_t *, float);                                                \
    void mnist_colsum_##isa(const float *, int64_t, int64_t, int64_t, float *);                       \
    void mnist_sgd_##isa(float *, float *, const float *, int64_t, float, float);                      \
    void mnist_u8_to_f32_##isa(float *, const uint8_t *, int64_t);                                    \
    void mnist_pack_##isa(float *, const float *, int64_t, int64_t, int64_t, int64_t);                \
    void mnist_fma_peak_##isa(int64_t);
DECLARE(avx512)
DECLARE(avx2)

static const Kernels AVX512 = {"avx512", 12, 32, 64, mnist_sgemm_avx512, mnist_softmax_xent_avx512,
                               mnist_colsum_avx512, mnist_sgd_avx512, mnist_u8_to_f32_avx512,
                               mnist_pack_avx512, mnist_fma_peak_avx512, 24 * 16 * 2};
static const Kernels AVX2 = {"avx2", 6, 16, 32, mnist_sgemm_avx2, mnist_softmax_xent_avx2,
                             mnist_colsum_avx2, mnist_sgd_avx2, mnist_u8_to_f32_avx2,
                             mnist_pack_avx2, mnist_fma_peak_avx2, 12 * 8 * 2};

size_t gemm_pack_floats(const Kernels *kernels, int64_t k) {
    int64_t kc = k > GEMM_KC ? k : GEMM_KC;
    return (size_t)(kc + 8) * (size_t)kernels->nr;
}

const Kernels *kernels_by_name(const char *name) {
    uint32_t features = mnist_cpu_features();
    if (strcmp(name, "avx512") == 0)
        return (features & 2) ? &AVX512 : NULL;
    if (strcmp(name, "avx2") == 0)
        return (features & 1) ? &AVX2 : NULL;
    return NULL;
}

const Kernels *kernels_select(char *err, size_t err_size) {
    uint32_t features = mnist_cpu_features();
    if (!(features & 1)) {
        snprintf(err, err_size, "this row needs an x86-64 CPU with AVX2 and FMA (and an OS that enables "
                                "AVX state); this CPU does not report them");
        return NULL;
    }
    const char *wanted = getenv("MNIST_ASM_ISA");
    if (wanted == NULL || *wanted == '\0' || strcmp(wanted, "auto") == 0)
        return (features & 2) ? &AVX512 : &AVX2;
    if (strcmp(wanted, "avx512") != 0 && strcmp(wanted, "avx2") != 0) {
        snprintf(err, err_size, "MNIST_ASM_ISA must be avx512, avx2 or auto, got '%s'", wanted);
        return NULL;
    }
    const Kernels *kernels = kernels_by_name(wanted);
    if (kernels == NULL)
        snprintf(err, err_size, "MNIST_ASM_ISA=%s, but this CPU (or OS) does not support AVX-512 F/DQ/BW/VL",
                 wanted);
    return kernels;
}
