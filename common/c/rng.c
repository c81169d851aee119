/* The rows' seeded RNG: xoshiro256** (Blackman and Vigna) seeded through splitmix64. */
#include "contract.h"

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

Rng rng_seed(uint64_t seed) {
    Rng rng;
    for (int i = 0; i < 4; i++) rng.s[i] = splitmix64(&seed);
    return rng;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(Rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(Rng *rng) { return (double)(rng_next(rng) >> 11) * 0x1.0p-53; }

uint64_t rng_below(Rng *rng, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;  /* the largest multiple of n that fits (or UINT64_MAX) */
    uint64_t x;
    do x = rng_next(rng);
    while (x >= limit);
    return x % n;
}

void rng_shuffle(Rng *rng, int64_t *items, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(rng, (uint64_t)i + 1);
        int64_t swap = items[i];
        items[i] = items[j];
        items[j] = swap;
    }
}

void epoch_order(Rng *rng, int shuffle, int64_t *order, int64_t n) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    if (shuffle) rng_shuffle(rng, order, n);
}
