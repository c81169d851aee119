import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { Failure } from '../src/failure.js';
import { Shapes, type Tensor, loadWeights, saveWeights } from '../src/weights.js';
import { tempDir } from './helpers.js';

const contractTensors = (): Tensor[] => Shapes.map(({ name, shape }, t) => {
  const values = new Float32Array(shape.reduce((a, b) => a * b));
  values.forEach((_, i) => { values[i] = Math.fround((t + 1) * 0.001 * (i % 997) - 0.3); });
  return { name, shape: [...shape], values };
});

test('save and load round-trip, and the file is strict safetensors', () => {
  const dir = tempDir();
  const path = join(dir, 'w.safetensors');
  const tensors = contractTensors();
  saveWeights(path, tensors);
  assert.deepEqual(loadWeights(path), tensors);
  assert.equal(loadWeights(null), null);
  const raw = readFileSync(path);
  const length = Number(raw.readBigUInt64LE(0));
  assert.equal(length % 8, 0, 'the data starts 8-byte aligned');
  const header = JSON.parse(raw.subarray(8, 8 + length).toString());
  assert.deepEqual(header['fc1.weight'], { dtype: 'F32', shape: [512, 784], data_offsets: [0, 512 * 784 * 4] });
  assert.equal(raw.readFloatLE(8 + length + 4), tensors[0]!.values[1]); // little-endian float32, row by row

  const write = (name: string, content: Buffer): string => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };
  const withHeader = (json: string, payload: number): Buffer => {
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([size, Buffer.from(json), Buffer.alloc(payload)]);
  };
  const text = raw.toString('latin1');
  const edited = (from: string, to: string): Buffer => Buffer.from(text.replace(from, to), 'latin1');
  const cases: Array<[string, string]> = [
    [write('renamed', edited('fc3.bias', 'fc9.bias')), 'weights file lacks tensor fc3.bias'],
    [write('reshaped', edited('[512,512]', '[256,1024]')),
      'tensor fc2.weight has shape [256, 1024], expected [512, 512]'],
    [write('ints', edited('"F32"', '"I32"')), 'tensor fc1.weight is I32, expected F32 (float32)'],
    [write('garbage', Buffer.alloc(64, 0xff)), 'not a safetensors file (header length 18446744073709551615)'],
    [write('short', Buffer.alloc(3)), 'not a safetensors file (3 bytes)'],
    [write('notjson', withHeader('[1, 2]', 0)), 'not a safetensors file (its header is not a JSON object)'],
    [write('lying', withHeader(
      '{"fc1.weight":{"dtype":"F32","shape":[512,784],"data_offsets":[0,1099511627776]}}', 16)),
    "not a safetensors file (tensor fc1.weight's data_offsets lie outside the file or disagree with its shape)"],
    [join(dir, 'absent'), 'weights file not found'],
  ];
  // One tensor more: an empty fc4.bias (no bytes of data).
  const extraTensor = ',"fc4.bias":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}';
  const extra = withHeader(text.slice(8, 8 + length).trimEnd().replace(/}$/, extraTensor), 0);
  cases.push([write('extra', Buffer.concat([extra, raw.subarray(8 + length)])),
    'weights file has unexpected tensor fc4.bias']);
  for (const [file, message] of cases) {
    assert.throws(() => loadWeights(file),
      (error: unknown) => error instanceof Failure && error.status === 2 && error.message === `${file}: ${message}`,
      message);
  }
});

test('saving the wrong tensors is an internal error', () => {
  const tensors = contractTensors();
  tensors[2] = { ...tensors[2]!, shape: [512, 511] };
  assert.throws(() => saveWeights(join(tempDir(), 'w'), tensors),
    (error: unknown) => error instanceof Failure && error.status === 1);
});
