package contract

import "math/rand/v2"

// Seeded is the row's random source for initialisation and shuffling: PCG seeded with --seed.
func Seeded(seed uint32) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x6d6e697374)) // the second word is a fixed stream ("mnist")
}

// Uniform draws count numbers from U(-bound, +bound).
func Uniform(rng *rand.Rand, bound float64, count int) []float32 {
	values := make([]float32, count)
	for i := range values {
		values[i] = float32(bound * (2*rng.Float64() - 1))
	}
	return values
}

// EpochOrder is 0..n-1, shuffled (Fisher-Yates) when shuffle is set.
func EpochOrder(n int, shuffle bool, rng *rand.Rand) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if shuffle {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}
