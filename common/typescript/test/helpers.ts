// Crafted files and captured output for the tests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { output } from '../src/log.js';

/** A fresh temporary directory. */
export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'mnist-contract-'));

/** An IDX image file of count side×side images, image i's pixels all i (mod 256). */
export function idxImages(count: number, side = 28): Buffer {
  const raw = Buffer.alloc(16 + count * side * side);
  [0x803, count, side, side].forEach((value, i) => raw.writeUInt32BE(value, 4 * i));
  for (let i = 0; i < count; i++) {
    raw.fill(i % 256, 16 + i * side * side, 16 + (i + 1) * side * side);
  }
  return raw;
}

/** An IDX label file of count labels, label i being i mod 10. */
export function idxLabels(count: number): Buffer {
  const raw = Buffer.alloc(8 + count);
  raw.writeUInt32BE(0x801, 0);
  raw.writeUInt32BE(count, 4);
  for (let i = 0; i < count; i++) {
    raw[8 + i] = i % 10;
  }
  return raw;
}

export const gz = (raw: Buffer): Buffer => gzipSync(raw, { level: 1 });

/** What f writes to stdout and stderr through the library. */
export async function capture(f: () => void | Promise<void>): Promise<{ stdout: string; stderr: string }> {
  const saved = { ...output };
  const captured = { stdout: '', stderr: '' };
  output.stdout = (text) => { captured.stdout += text; };
  output.stderr = (text) => { captured.stderr += text; };
  try {
    await f();
  } finally {
    Object.assign(output, saved);
  }
  return captured;
}
