// The row's random source (SPEC.md §2, §3): the Go contract library's, number for number. Go's math/rand/v2 PCG
// (a 128-bit LCG with the DXSM output function) seeded with (--seed, "mnist"), its Float64 and its Shuffle, so
// that a TypeScript row and a Go row with one seed draw the same numbers.

const Mask64 = (1n << 64n) - 1n;
const Mask128 = (1n << 128n) - 1n;
const Multiplier = (2549297995355413924n << 64n) | 4865540595714422341n;
const Increment = (6364136223846793005n << 64n) | 1442695040888963407n;
const CheapMultiplier = 0xda942042e4dd58b5n;
const Stream = 0x6d6e697374n; // "mnist", the second seed word, as common/go/rng.go sets it

/** Go's rand.NewPCG(seed, 0x6d6e697374) with the rand.Rand methods the rows use. */
export class Rng {
  private state: bigint;

  constructor(seed: number) {
    this.state = (BigInt(seed) << 64n) | Stream;
  }

  /** The next 64 random bits (Go's PCG.Uint64). */
  uint64(): bigint {
    this.state = (this.state * Multiplier + Increment) & Mask128;
    const lo = this.state & Mask64;
    let hi = this.state >> 64n;
    hi ^= hi >> 32n;
    hi = (hi * CheapMultiplier) & Mask64;
    hi ^= hi >> 48n;
    return (hi * (lo | 1n)) & Mask64;
  }

  /** A number in [0, 1) with 53 random bits (Go's Rand.Float64). */
  float64(): number {
    return Number(this.uint64() & ((1n << 53n) - 1n)) / 2 ** 53;
  }

  /** An integer in [0, n), exactly uniform (Go's Rand.uint64n: Lemire's multiply and reject). */
  below(n: number): number {
    const bound = BigInt(n);
    if ((bound & (bound - 1n)) === 0n) {
      return Number(this.uint64() & (bound - 1n));
    }
    let product = this.uint64() * bound;
    if ((product & Mask64) < bound) {
      const threshold = ((1n << 64n) - bound) % bound;
      while ((product & Mask64) < threshold) {
        product = this.uint64() * bound;
      }
    }
    return Number(product >> 64n);
  }
}

/** The row's random source for initialisation and shuffling, seeded with --seed. */
export function seeded(seed: number): Rng {
  return new Rng(seed);
}

/** count numbers from U(−bound, +bound), as float32. */
export function uniform(rng: Rng, bound: number, count: number): Float32Array {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    values[i] = bound * (2 * rng.float64() - 1);
  }
  return values;
}

/** 0..n−1, shuffled (Fisher–Yates, Go's Rand.Shuffle) when shuffle is set. */
export function epochOrder(n: number, shuffle: boolean, rng: Rng): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; shuffle && i > 0; i--) {
    const j = rng.below(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
