/* OpenBLAS, for the rows that link it: its name and version for `event=start`, and a workaround.
 *
 * Debian 12's OpenBLAS (0.3.21) does not know recent Xeons (family 6, model 207 here) and falls back to its
 * generic "Prescott" kernels, five times slower. When that happened on a CPU with AVX2 or AVX-512, the row
 * runs itself again with OPENBLAS_CORETYPE naming the right kernels: OpenBLAS reads it only as it is loaded.
 *
 * The two OpenBLAS functions are weak references, so the library (and its tests) link without OpenBLAS;
 * a row that links it gets the real ones. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "contract.h"

extern char *openblas_get_config(void) __attribute__((weak));
extern char *openblas_get_corename(void) __attribute__((weak));

void openblas_version_name(const char *config, char *out, size_t size) {
    const char *version = config ? strstr(config, "OpenBLAS ") : NULL;
    if (!version) {
        snprintf(out, size, "openblas/unknown");
        return;
    }
    version += strlen("OpenBLAS ");
    snprintf(out, size, "openblas/%.*s", (int)strcspn(version, " "), version);
}

const char *openblas_name(void) {
    static char name[64];
    openblas_version_name(openblas_get_config ? openblas_get_config() : NULL, name, sizeof name);
    return name;
}

const char *openblas_better_coretype(const char *corename, int avx512, int avx2_fma) {
    if (!corename || strcasecmp(corename, "prescott") != 0) return NULL;
    return avx512 ? "SkylakeX" : avx2_fma ? "Haswell" : NULL;
}

void openblas_use_best_kernels(char **argv) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (getenv("OPENBLAS_CORETYPE") || !openblas_get_corename) return;
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    int avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const char *better = openblas_better_coretype(openblas_get_corename(), avx512, avx2_fma);
    if (!better || setenv("OPENBLAS_CORETYPE", better, 1) != 0) return;
    fflush(stdout);
    fflush(stderr);
    execv("/proc/self/exe", argv);  /* returns only on failure: then carry on with the slow kernels */
#else
    (void)argv;
#endif
}
