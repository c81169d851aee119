/* A small persistent thread pool for the GEMMs. A GEMM is cut into chunks (a few NR-wide
 * column panels, or MR-tall row blocks when there are few panels); every thread, the
 * caller included, claims chunks until none are left and runs the assembly GEMM on each.
 * Claiming (rather than a fixed share per thread) keeps a busy machine from stalling the
 * step on a thread that the OS has not scheduled: whoever runs does the work.
 *
 * Deterministic: the chunks depend only on the GEMM's shape and the kernel set (never on
 * timing or the thread count), start on multiples of NR columns or MR rows, and each is a
 * whole GEMM over the full k (k is never split across threads, nothing is reduced across
 * threads), so every C entry gets the same sequence of floating-point operations whichever
 * thread claims its chunk: results are bit-identical run to run and for any --threads.
 * That needs every chunk to run exactly once, for its own GEMM. So the claim word `ticket`
 * holds the generation, the chunk count *and* the next chunk: a claim is one CAS on a word
 * that says "generation G still has unclaimed chunks", and a late thread (still looking at
 * a finished GEMM) cannot claim anything once the caller has moved on. (The count used to
 * be a separate plain field, rewritten for the next GEMM before that GEMM was published: a
 * late worker could check the old, exhausted ticket against the new, larger count, claim a
 * chunk that did not exist -- an SGD update applied twice, a k-blocked tile accumulated by
 * two threads -- and count it as done for the next GEMM, so the caller could return before
 * that GEMM had finished. Results then changed from run to run.)
 * No arithmetic happens here. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SPINS 4000      /* ~100 µs of pause before a worker sleeps */
#define MAX_CHUNKS 64    /* < 2^16: the chunk count and index share the claim word */

/* ticket = generation << 32 | chunks << 16 | next chunk */
#define TICKET_GENERATION(t) ((uint32_t)((t) >> 32))
#define TICKET_CHUNKS(t) ((uint32_t)((t) >> 16) & 0xFFFFu)
#define TICKET_NEXT(t) ((uint32_t)(t) & 0xFFFFu)
_Static_assert(MAX_CHUNKS < 0x10000, "the chunk count must fit in 16 bits of the ticket");

static struct {
    const Kernels *kernels;
    int threads;
    int64_t max_k;
    float **packs;
    pthread_t *workers;
    /* the current job: written by the caller before it publishes `ticket` (release), read
     * by a thread only after it has claimed a chunk of that generation (acquire) */
    GemmArgs job;
    int split_columns;        /* 1: chunks of column panels, 0: chunks of row blocks */
    int64_t unit, per_chunk;  /* columns (NR) or rows (MR) per unit, units per chunk */
    /* generation << 32 | chunks << 16 | next chunk; claimed with compare-and-swap */
    _Atomic uint64_t ticket;
    atomic_uint done;         /* chunks of the current generation finished */
    atomic_int quit;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int sleepers;
    double flops;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static inline void cpu_relax(void) { __asm__ __volatile__("pause" ::: "memory"); }

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static void run_chunk(uint32_t chunk, float *pack) {
    GemmArgs g = pool.job;
    g.pack = pack;
    int64_t lo = (int64_t)chunk * pool.per_chunk * pool.unit, hi = lo + pool.per_chunk * pool.unit;
    if (pool.split_columns) {
        hi = hi < g.n ? hi : g.n;
        g.n = hi - lo;
        g.b += lo * g.csb;
        g.c += lo;
        if (g.bias)
            g.bias += lo;
        if (g.mask)
            g.mask += lo;
        if (g.vel)
            g.vel += lo;
    } else {
        hi = hi < g.m ? hi : g.m;
        g.m = hi - lo;
        g.a += lo * g.rsa;
        g.c += lo * g.ldc;
        if (g.mask)
            g.mask += lo * g.ldc;
        if (g.vel)
            g.vel += lo * g.ldc;
    }
    pool.kernels->sgemm(&g);
}

/* Claim and run chunks of generation `generation` until there are none left. The CAS only
 * succeeds on a ticket of this generation with next < chunks, i.e. while the caller is
 * still inside pool_gemm for it (it leaves only when every chunk has been claimed and
 * finished), so the job fields read by run_chunk are this generation's. */
static void work(uint32_t generation, float *pack) {
    uint64_t ticket = atomic_load_explicit(&pool.ticket, memory_order_acquire);
    while (TICKET_GENERATION(ticket) == generation && TICKET_NEXT(ticket) < TICKET_CHUNKS(ticket)) {
        if (atomic_compare_exchange_weak_explicit(&pool.ticket, &ticket, ticket + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            run_chunk(TICKET_NEXT(ticket), pack);
            atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
            ticket = atomic_load_explicit(&pool.ticket, memory_order_acquire);
        }
    }
}

static void *worker(void *arg) {
    float *pack = pool.packs[(intptr_t)arg];
    uint32_t seen = TICKET_GENERATION(atomic_load(&pool.ticket));
    for (;;) {
        uint32_t generation;
        int spins = 0;
        while ((generation = TICKET_GENERATION(atomic_load_explicit(&pool.ticket, memory_order_acquire))) == seen) {
            if (atomic_load(&pool.quit))
                return NULL;
            if (++spins < SPINS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool.lock);
            pool.sleepers++;
            while (TICKET_GENERATION(atomic_load(&pool.ticket)) == seen && !atomic_load(&pool.quit))
                pthread_cond_wait(&pool.wake, &pool.lock);
            pool.sleepers--;
            pthread_mutex_unlock(&pool.lock);
            spins = 0;
        }
        seen = generation;
        work(generation, pack);
    }
}

int pool_start(const Kernels *kernels, int threads, int64_t max_k) {
    pool.kernels = kernels;
    pool.threads = threads;
    pool.max_k = max_k;
    atomic_store(&pool.quit, 0);
    pool.packs = calloc((size_t)threads, sizeof *pool.packs);
    pool.workers = calloc((size_t)threads, sizeof *pool.workers);
    if (!pool.packs || !pool.workers)
        return -1;
    size_t bytes = (gemm_pack_floats(kernels, max_k) * sizeof(float) + 63) / 64 * 64;
    for (int t = 0; t < threads; t++)
        if (!(pool.packs[t] = aligned_alloc(64, bytes)))
            return -1;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&pool.workers[t], NULL, worker, (void *)(intptr_t)t) != 0) {
            pool.threads = t; /* run with the ones that started */
            break;
        }
    return 0;
}

void pool_gemm(const GemmArgs *g) {
    if (g->epilogue == EPI_SGD && g->k > pool.max_k) {
        fprintf(stderr, "internal error: SGD GEMM with k=%lld > %lld\n", (long long)g->k, (long long)pool.max_k);
        abort();
    }
    pool.flops += 2.0 * (double)g->m * (double)g->n * (double)g->k;
    if (pool.threads == 1 || g->m <= 0 || g->n <= 0) {
        GemmArgs one = *g;
        one.pack = pool.packs[0];
        pool.kernels->sgemm(&one);
        return;
    }
    /* chunks: column panels when there are at least two per thread, else row blocks */
    int64_t panels = ceil_div(g->n, pool.kernels->nr), blocks = ceil_div(g->m, pool.kernels->mr);
    pool.split_columns = panels >= 2 * pool.threads || panels >= blocks;
    pool.unit = pool.split_columns ? pool.kernels->nr : pool.kernels->mr;
    int64_t units = pool.split_columns ? panels : blocks;
    pool.per_chunk = ceil_div(units, MAX_CHUNKS);
    uint32_t chunks = (uint32_t)ceil_div(units, pool.per_chunk);
    pool.job = *g;
    /* nobody else touches `done` now: every chunk of the last generation was finished */
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    uint32_t generation = TICKET_GENERATION(atomic_load(&pool.ticket)) + 1;
    pthread_mutex_lock(&pool.lock);
    atomic_store_explicit(&pool.ticket, (uint64_t)generation << 32 | (uint64_t)chunks << 16, memory_order_release);
    if (pool.sleepers)
        pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    work(generation, pool.packs[0]);
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < chunks)
        cpu_relax(); /* only chunks another thread has claimed are left */
}

double pool_flops(void) { return pool.flops; }

void pool_stop(void) {
    if (pool.threads > 1) {
        pthread_mutex_lock(&pool.lock);
        atomic_store(&pool.quit, 1);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
        for (int t = 1; t < pool.threads; t++)
            pthread_join(pool.workers[t], NULL);
    }
    for (int t = 0; t < pool.threads && pool.packs; t++)
        free(pool.packs[t]);
    free(pool.packs);
    free(pool.workers);
    pool.packs = NULL;
    pool.workers = NULL;
    pool.threads = 0;
}
