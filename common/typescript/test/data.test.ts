import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { Pixels, loadSplits, parseImages, parseLabels, readImages } from '../src/data.js';
import { Failure } from '../src/failure.js';
import { gz, idxImages, idxLabels, tempDir } from './helpers.js';

const failsWith = (f: () => unknown, message: string): void =>
  assert.throws(f, (error: unknown) => error instanceof Failure && error.status === 2 && error.message === message);

test('IDX files are checked and scaled', () => {
  const pixels = parseImages(idxImages(2), 'f', 2);
  assert.equal(pixels.length, 2 * 784);
  assert.equal(pixels[784], Math.fround(1 / 255));
  failsWith(() => parseImages(idxImages(2), 'f', 3), 'f: holds 2 images, expected 3');
  failsWith(() => parseImages(idxImages(1, 14), 'f', -1), 'f: images are 14x14, expected 28x28');
  failsWith(() => parseImages(idxImages(1).subarray(0, 16 + 783), 'f', -1),
    'f: header says 1 images, but holds 783 pixel bytes (expected 784)');
  failsWith(() => parseImages(Buffer.concat([idxLabels(8), Buffer.alloc(8)]), 'f', -1),
    'f: not an IDX image file (magic 0x00000801, expected 0x00000803)');
  failsWith(() => parseImages(Buffer.alloc(5), 'f', -1), 'f: too short for an IDX image header (5 bytes)');
  const bad = idxLabels(3);
  bad[9] = 10;
  failsWith(() => parseLabels(bad, 'l', 3), 'l: label 10 is out of range 0-9');
  failsWith(() => parseLabels(idxLabels(3), 'l', 4), 'l: holds 3 labels, expected 4');
  failsWith(() => parseLabels(idxImages(1), 'l', 1),
    'l: not an IDX label file (magic 0x00000803, expected 0x00000801)');
  assert.deepEqual([...parseLabels(idxLabels(3), 'l', 3)], [0, 1, 2]);
});

test('--predict reads gzip or plain and names a bad file', () => {
  const dir = tempDir();
  const plain = join(dir, 'plain.idx');
  const zipped = join(dir, 'zipped.idx');
  writeFileSync(plain, idxImages(3));
  writeFileSync(zipped, gz(idxImages(3)));
  const a = readImages(plain);
  assert.equal(a.length, 3 * Pixels);
  assert.deepEqual(readImages(zipped), a);
  const compressed = gz(idxImages(3));
  writeFileSync(zipped, compressed.subarray(0, compressed.length / 2));
  failsWith(() => readImages(zipped), `${zipped}: not a valid gzip file (truncated)`);
  failsWith(() => readImages(join(dir, 'absent')), `${join(dir, 'absent')}: file not found`);
});

test('the dataset is split by position', () => {
  const dir = tempDir();
  const mnist = join(dir, 'mnist');
  mkdirSync(mnist);
  writeFileSync(join(mnist, 'train-images-idx3-ubyte.gz'), gz(idxImages(60000)));
  writeFileSync(join(mnist, 'train-labels-idx1-ubyte.gz'), gz(idxLabels(60000)));
  writeFileSync(join(mnist, 't10k-images-idx3-ubyte.gz'), gz(idxImages(10000)));
  writeFileSync(join(mnist, 't10k-labels-idx1-ubyte.gz'), gz(idxLabels(10000)));
  const s = loadSplits(dir, 'mnist', 2000);
  assert.deepEqual([s.train.count, s.val.count, s.test.count], [2000, 10000, 10000]);
  assert.deepEqual([s.train.images.length, s.train.labels.length], [2000 * Pixels, 2000]);
  assert.equal(s.val.images[0], Math.fround((50000 % 256) / 255));
  assert.equal(s.val.labels[0], 50000 % 10);
  assert.equal(loadSplits(dir, 'mnist', 50000).train.count, 50000);
  writeFileSync(join(mnist, 't10k-labels-idx1-ubyte.gz'), 'not gzip');
  assert.throws(() => loadSplits(dir, 'mnist', 10), (error: unknown) =>
    error instanceof Failure && /t10k-labels-idx1-ubyte\.gz: not a valid gzip file/.test(error.message));
  failsWith(() => loadSplits(dir, 'fashion-mnist', 10), `data directory ${join(dir, 'fashion-mnist')} not found: ` +
    'run `invoke data`, or point --data-dir / MNIST_DATA_DIR at the folder that holds fashion-mnist/');
});
