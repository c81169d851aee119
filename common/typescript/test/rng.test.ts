import assert from 'node:assert/strict';
import { test } from 'node:test';

import { epochOrder, seeded, uniform } from '../src/rng.js';

// The numbers Go's math/rand/v2 draws from rand.NewPCG(seed, 0x6d6e697374), as common/go/rng.go seeds it
// (printed by a Go program with Go 1.26).
test("the RNG draws Go's numbers", () => {
  const rng = seeded(0);
  assert.deepEqual([rng.uint64(), rng.uint64(), rng.uint64()],
    [11595406050745437520n, 9202905332215700133n, 7822465389102888347n]);
  assert.equal(seeded(4294967295).float64(), 0.7573478617021039);
  assert.deepEqual([...epochOrder(10, true, seeded(7))], [8, 7, 9, 6, 5, 2, 4, 3, 1, 0]);
  const order = epochOrder(50000, true, seeded(42));
  assert.deepEqual([...order.subarray(0, 8)], [49935, 46154, 35920, 33364, 27039, 3652, 25670, 19625]);
  assert.deepEqual([...order.subarray(49992)], [34716, 32069, 17924, 19284, 22195, 49426, 34045, 8413]);
  // fc1.weight's first values for --seed 0: Go's float32(1/sqrt(784) * (2*Float64() - 1)), bit for bit.
  const bits = new Uint32Array(uniform(seeded(0), 1 / Math.sqrt(784), 4).buffer);
  assert.deepEqual([...bits], [3157333788, 1015366290, 3138731519, 3161941269]);
});

test('an epoch order is a permutation, in file order without shuffling', () => {
  const a = epochOrder(1000, true, seeded(4294967295));
  assert.deepEqual(a, epochOrder(1000, true, seeded(4294967295)));
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.notDeepEqual(a, epochOrder(1000, true, seeded(4294967294)));
  assert.deepEqual([...epochOrder(5, false, seeded(0))], [0, 1, 2, 3, 4]);
  for (const v of uniform(seeded(0), 0.5, 1000)) {
    assert.ok(v >= -0.5 && v < 0.5, `${v} outside U(-0.5, 0.5)`);
  }
});
