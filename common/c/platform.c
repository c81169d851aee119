/* Platform plumbing: aligned memory with huge pages, the default thread count, CPU clock probes and the
 * `event=perf` line a row with its own kernels prints on stderr. None of it is part of the contract. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "contract.h"

/* Buffers of 1 MB and more (weights, velocities, activations, the data set) get 2 MB alignment and
 * transparent huge pages where the kernel offers them: GEMM epilogues that walk weight rows 2 KB apart
 * would otherwise cost a TLB miss every other row. */
void *alloc_bytes(size_t bytes) {
    size_t huge = (size_t)2 << 20;
    int big = bytes >= huge / 2;
    bytes = big ? (bytes + huge - 1) / huge * huge : bytes ? (bytes + 63) / 64 * 64 : 64;
    void *p = aligned_alloc(big ? huge : 64, bytes);
    if (!p) fail(EXIT_INTERNAL, "out of memory (%zu bytes)", bytes);
    if (big) madvise(p, bytes, MADV_HUGEPAGE);  /* a hint; fine if refused */
    memset(p, 0, bytes);
    return p;
}

float *alloc_floats(size_t count) { return alloc_bytes(count * sizeof(float)); }

int default_threads(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        return count < 1 ? 1 : count > 8 ? 8 : count;
    }
    return 1;
}

double cpu_nominal_ghz(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    double mhz = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "cpu MHz", 7) == 0 && strchr(line, ':') && sscanf(strchr(line, ':') + 1, "%lf", &mhz) == 1)
            break;
    if (f) fclose(f);
    return mhz / 1000.0;
}

static double thread_cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double cpu_measured_ghz(void (*fma_loop)(int64_t iterations), double flops_per_iteration, int flops_per_cycle) {
    enum { ITERATIONS = 100000 };
    double best = 1e30;
    for (int run = 0; run < 8; run++) {
        double started = thread_cpu_seconds();
        fma_loop(ITERATIONS);
        double seconds = thread_cpu_seconds() - started;
        if (seconds > 0 && seconds < best) best = seconds;
    }
    return ITERATIONS * flops_per_iteration / best / flops_per_cycle / 1e9;
}

/* ================================================================ event=perf */
Perf perf_begin(const char *isa, int64_t threads, int flops_per_cycle, void (*fma_loop)(int64_t iterations),
                double flops_per_iteration, double (*flops)(void)) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return (Perf){.isa = isa, .threads = threads, .flops_per_cycle = flops_per_cycle,
                  .cores = (double)(threads < cpus ? threads : cpus),
                  .ghz = cpu_measured_ghz(fma_loop, flops_per_iteration, flops_per_cycle),
                  .nominal_ghz = cpu_nominal_ghz(), .flops = flops};
}

void perf_epoch_start(Perf *perf) {
    perf->flops_at_start = perf->flops();
    perf->cpu_at_start = process_cpu_seconds();
    perf->steps = 0;
    perf->flops_at_step = perf->flops_at_start;
    perf->cpu_at_step = perf->cpu_at_start;
    perf->last_step = now_seconds();
}

void perf_step(Perf *perf) {
    double now = now_seconds();
    if (perf->steps == perf->capacity) {
        double *bigger = realloc(perf->step_seconds, (size_t)(perf->capacity * 2 + 64) * sizeof *bigger);
        if (!bigger) fail(EXIT_INTERNAL, "out of memory");
        perf->step_seconds = bigger;
        perf->capacity = perf->capacity * 2 + 64;
    }
    perf->step_seconds[perf->steps++] = now - perf->last_step;
    perf->last_step = now;
    perf->flops_at_step = perf->flops();
    perf->cpu_at_step = process_cpu_seconds();
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* GEMM throughput of the epoch, and the fastest and the median of its first full_steps steps (the
 * full-size batches: a loaded machine stretches some steps, not all). */
void perf_epoch_end(Perf *perf, int64_t epoch, int64_t full_steps, double seconds) {
    double flops = perf->flops_at_step - perf->flops_at_start, cpu = perf->cpu_at_step - perf->cpu_at_start;
    int64_t full = full_steps > 0 && full_steps <= perf->steps ? full_steps : perf->steps;
    qsort(perf->step_seconds, (size_t)full, sizeof *perf->step_seconds, by_value);
    double fastest = full ? perf->step_seconds[0] : 0, median = full ? perf->step_seconds[full / 2] : 0;
    fprintf(stderr,
            "event=perf epoch=%lld isa=%s threads=%lld gflop=%.2f gflops=%.1f peak_gflops=%.1f cores=%.0f "
            "ghz=%.3f nominal_ghz=%.3f flops_per_cycle=%d cpu_seconds=%.3f step_min_ms=%.3f step_median_ms=%.3f\n",
            (long long)epoch, perf->isa, (long long)perf->threads, flops / 1e9, flops / 1e9 / seconds,
            perf->cores * perf->ghz * perf->flops_per_cycle, perf->cores, perf->ghz, perf->nominal_ghz,
            perf->flops_per_cycle, cpu, fastest * 1e3, median * 1e3);
    fflush(stderr);
}

void perf_end(Perf *perf) {
    free(perf->step_seconds);
    perf->step_seconds = NULL;
}
