// The contract's data (SPEC.md §1): the four IDX .gz files, decompressed, checked, scaled to [0, 1] and split;
// and --predict's image file, gzip-compressed or plain (SPEC.md §4).
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import type { Args } from './cli.js';
import { badInput } from './failure.js';
import { progressData } from './progress.js';

/** Pixels of an image, and classes. */
export const Pixels = 28 * 28;
export const Classes = 10;
const TrainCount = 60_000;
const TestCount = 10_000;
const ValCount = 10_000;
const ImageMagic = 0x803;
const LabelMagic = 0x801;

/** n images (n × 784, row by row, pixels / 255) and their labels 0..9. */
export interface Split {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

/** The three splits of a dataset, and the seconds reading and decoding its files took. */
export interface Splits {
  train: Split;
  val: Split;
  test: Split;
  seconds: number;
}

/**
 * Prints the data progress line, then reads and splits args.dataset under args.dataDir: train = the first
 * limitTrain of examples 0..49,999, val = 50,000..59,999, test = t10k.
 */
export function loadData(args: Args): Splits {
  progressData(args.dataset);
  const started = performance.now();
  const splits = loadSplits(args.dataDir, args.dataset, args.limitTrain);
  return { ...splits, seconds: (performance.now() - started) / 1000 };
}

/** The four .gz files of dataset under dataDir, checked and split. */
export function loadSplits(dataDir: string, dataset: string, limitTrain: number): Splits {
  const directory = join(dataDir, dataset);
  if (!isDirectory(directory)) {
    throw badInput(`data directory ${directory} not found: run \`invoke data\`, or point --data-dir / ` +
      `MNIST_DATA_DIR at the folder that holds ${dataset}/`);
  }
  const train = readSplit(directory, 'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', TrainCount);
  const test = readSplit(directory, 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', TestCount);
  const first = TrainCount - ValCount;
  const used = Math.min(limitTrain, first);
  return {
    train: slice(train, 0, used),
    val: slice(train, first, TrainCount),
    test,
    seconds: 0,
  };
}

/** An IDX image file for --predict, gzip or plain (told apart by gzip's first two bytes), any number of images. */
export function readImages(path: string): Float32Array {
  let raw = readFile(path);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    raw = gunzip(raw, path);
  }
  return parseImages(raw, path, -1);
}

function slice(split: Split, begin: number, end: number): Split {
  return {
    images: split.images.subarray(begin * Pixels, end * Pixels),
    labels: split.labels.subarray(begin, end),
    count: end - begin,
  };
}

function readSplit(directory: string, imagesFile: string, labelsFile: string, expected: number): Split {
  const imagesPath = join(directory, imagesFile);
  const images = parseImages(gunzip(readFile(imagesPath), imagesPath), imagesPath, expected);
  const labelsPath = join(directory, labelsFile);
  const labels = parseLabels(gunzip(readFile(labelsPath), labelsPath), labelsPath, expected);
  return { images, labels, count: expected };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A file's bytes; a missing or unreadable file is the user's mistake. */
export function readFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw badInput(`${path}: file not found`);
    }
    throw badInput(`${path}: cannot read (${code === 'EISDIR' ? 'a directory' : (error as Error).message})`);
  }
}

function gunzip(compressed: Buffer, path: string): Buffer {
  try {
    return gunzipSync(compressed);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw badInput(`${path}: not a valid gzip file (${code === 'Z_BUF_ERROR' ? 'truncated' : message})`);
  }
}

const hex = (value: number): string => '0x' + value.toString(16).padStart(8, '0');

/** The pixels of an IDX image file, checked against its header and scaled; `expected` images, unless negative. */
export function parseImages(raw: Uint8Array, name: string, expected: number): Float32Array {
  if (raw.length < 16) {
    throw badInput(`${name}: too short for an IDX image header (${raw.length} bytes)`);
  }
  const header = new DataView(raw.buffer, raw.byteOffset, 16); // big-endian, as IDX is
  const [magic, count, rows, cols] = [0, 4, 8, 12].map((offset) => header.getUint32(offset)) as
    [number, number, number, number];
  if (magic !== ImageMagic) {
    throw badInput(`${name}: not an IDX image file (magic ${hex(magic)}, expected ${hex(ImageMagic)})`);
  }
  if (rows !== 28 || cols !== 28) {
    throw badInput(`${name}: images are ${rows}x${cols}, expected 28x28`);
  }
  if (raw.length - 16 !== count * Pixels) {
    throw badInput(`${name}: header says ${count} images, but holds ${raw.length - 16} pixel bytes ` +
      `(expected ${count * Pixels})`);
  }
  if (expected >= 0 && count !== expected) {
    throw badInput(`${name}: holds ${count} images, expected ${expected}`);
  }
  const pixels = new Float32Array(count * Pixels);
  for (let i = 0; i < pixels.length; i++) {
    pixels[i] = raw[16 + i]! / 255; // the double quotient rounded to float32 is float32's own quotient
  }
  return pixels;
}

/** The labels of an IDX label file, checked: `expected` of them, each 0..9. */
export function parseLabels(raw: Uint8Array, name: string, expected: number): Uint8Array {
  if (raw.length < 8) {
    throw badInput(`${name}: too short for an IDX label header (${raw.length} bytes)`);
  }
  const header = new DataView(raw.buffer, raw.byteOffset, 8);
  const magic = header.getUint32(0);
  const count = header.getUint32(4);
  if (magic !== LabelMagic) {
    throw badInput(`${name}: not an IDX label file (magic ${hex(magic)}, expected ${hex(LabelMagic)})`);
  }
  if (raw.length - 8 !== count) {
    throw badInput(`${name}: header says ${count} labels, but holds ${raw.length - 8} bytes`);
  }
  if (count !== expected) {
    throw badInput(`${name}: holds ${count} labels, expected ${expected}`);
  }
  const labels = raw.subarray(8);
  const wrong = labels.findIndex((label) => label > 9);
  if (wrong >= 0) {
    throw badInput(`${name}: label ${labels[wrong]} is out of range 0-9`);
  }
  return Uint8Array.from(labels);
}
