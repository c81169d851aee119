/* Threads for the GEMMs: each call is cut into column panels (or row blocks) and every
 * thread runs the assembly GEMM on its part; no arithmetic happens here. */
#ifndef MNIST_POOL_H
#define MNIST_POOL_H

#include "kernels.h"

/* Start `threads` - 1 workers; max_k bounds k for the SGD epilogue (the batch size).
 * Returns 0, or -1 when memory or threads are not available. */
int pool_start(const Kernels *kernels, int threads, int64_t max_k);

/* Run one GEMM on all threads (g->pack is ignored: every thread has its own). */
void pool_gemm(const GemmArgs *g);

/* Floating-point operations of all pool_gemm calls so far (2mnk each). */
double pool_flops(void);

void pool_stop(void);

#endif
