// The weights file (SPEC.md §5): safetensors, the six contract tensors in float32 little-endian; a strict reader
// (every offset checked against the file) and the writer.
import { writeFileSync } from 'node:fs';

import { Failure, ExitInternal, badInput } from './failure.js';
import { readFile } from './data.js';

/** One named tensor of the weights file: its shape and its values, row by row. */
export interface Tensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** The contract's tensors in the file's order: PyTorch's names and [out, in] layout. */
export const Shapes: ReadonlyArray<{ name: string; shape: number[] }> = [
  { name: 'fc1.weight', shape: [512, 784] }, { name: 'fc1.bias', shape: [512] },
  { name: 'fc2.weight', shape: [512, 512] }, { name: 'fc2.bias', shape: [512] },
  { name: 'fc3.weight', shape: [10, 512] }, { name: 'fc3.bias', shape: [10] },
];

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const DtypeBytes: Record<string, number> = {
  F64: 8, I64: 8, U64: 8, F32: 4, I32: 4, U32: 4, F16: 2, BF16: 2, I16: 2, U16: 2,
};

interface Entry {
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * The six tensors of a safetensors file, in the order of Shapes; null for no path (no --init or --load). A
 * missing file, a file that is not safetensors, a missing or extra tensor, a wrong dtype or shape is the user's
 * mistake (status 2).
 */
export function loadWeights(path: string | null): Tensor[] | null {
  if (path === null || path === '') {
    return null;
  }
  let raw: Buffer;
  try {
    raw = readFile(path);
  } catch (error) {
    throw error instanceof Failure && error.message.endsWith(': file not found')
      ? badInput(`${path}: weights file not found`) : error;
  }
  const { entries, data } = parseHeader(raw, path);
  for (const want of Shapes) {
    if (!entries.has(want.name)) {
      throw badInput(`${path}: weights file lacks tensor ${want.name}`);
    }
  }
  for (const name of [...entries.keys()].sort()) {
    if (!Shapes.some((want) => want.name === name)) {
      throw badInput(`${path}: weights file has unexpected tensor ${name}`);
    }
  }
  return Shapes.map((want) => {
    const entry = entries.get(want.name)!;
    if (entry.dtype !== 'F32') {
      throw badInput(`${path}: tensor ${want.name} is ${entry.dtype}, expected F32 (float32)`);
    }
    if (entry.shape.length !== want.shape.length || entry.shape.some((d, i) => d !== want.shape[i])) {
      throw badInput(`${path}: tensor ${want.name} has shape [${entry.shape.join(', ')}], ` +
        `expected [${want.shape.join(', ')}]`);
    }
    const view = new DataView(data.buffer, data.byteOffset + entry.begin, entry.end - entry.begin);
    const values = new Float32Array(product(want.shape));
    for (let i = 0; i < values.length; i++) {
      values[i] = view.getFloat32(4 * i, true);
    }
    return { name: want.name, shape: [...want.shape], values };
  });
}

/** The header's tensors, every one's offsets checked against the file and its shape; and the data after it. */
function parseHeader(raw: Buffer, path: string): { entries: Map<string, Entry>; data: Buffer } {
  const notSafetensors = (why: string): Failure => badInput(`${path}: not a safetensors file (${why})`);
  if (raw.length < 8) {
    throw notSafetensors(`${raw.length} bytes`);
  }
  const length = raw.readBigUInt64LE(0);
  if (length < 2n || length > BigInt(raw.length - 8)) {
    throw notSafetensors(`header length ${length}`);
  }
  let header: unknown;
  try {
    header = JSON.parse(raw.subarray(8, 8 + Number(length)).toString('utf8'));
  } catch {
    header = null;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw notSafetensors('its header is not a JSON object');
  }
  const data = raw.subarray(8 + Number(length));
  const entries = new Map<string, Entry>();
  for (const [name, described] of Object.entries(header)) {
    if (name === '__metadata__') {
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (described ?? {}) as Record<string, unknown>;
    const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
    if (typeof dtype !== 'string' || dtype === '' || !Array.isArray(shape) || !shape.every(isCount) ||
        !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw notSafetensors(`tensor ${name} is not described properly`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin || end > data.length || end - begin !== product(shape) * (DtypeBytes[dtype] ?? 1)) {
      throw notSafetensors(`tensor ${name}'s data_offsets lie outside the file or disagree with its shape`);
    }
    entries.set(name, { dtype, shape, begin, end });
  }
  return { entries, data };
}

/** Writes the six tensors (the names and shapes of Shapes, in that order) as a safetensors file. */
export function saveWeights(path: string, tensors: readonly Tensor[]): void {
  const described: string[] = [];
  let offset = 0;
  Shapes.forEach((want, i) => {
    const t = tensors[i];
    if (t === undefined || t.name !== want.name || t.shape.join() !== want.shape.join() ||
        t.values.length !== product(want.shape)) {
      throw new Failure(ExitInternal, `weights to save: tensor ${i} is ${t?.name} [${t?.shape}] with ` +
        `${t?.values.length} values, expected ${want.name} [${want.shape}]`);
    }
    described.push(`"${t.name}":{"dtype":"F32","shape":[${t.shape}],"data_offsets":[${offset},` +
      `${offset + 4 * t.values.length}]}`);
    offset += 4 * t.values.length;
  });
  let header = `{${described.join(',')}}`;
  header += ' '.repeat((8 - (header.length % 8)) % 8); // the data starts 8-byte aligned
  const file = Buffer.alloc(8 + header.length + offset);
  file.writeBigUInt64LE(BigInt(header.length), 0);
  file.write(header, 8, 'latin1');
  const view = new DataView(file.buffer, file.byteOffset + 8 + header.length, offset);
  let at = 0;
  for (const t of tensors.slice(0, Shapes.length)) {
    for (const v of t.values) {
      view.setFloat32(at, v, true);
      at += 4;
    }
  }
  try {
    writeFileSync(path, file);
  } catch (error) {
    throw badInput(`${path}: cannot write weights (${(error as Error).message})`);
  }
}
