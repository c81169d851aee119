// What a row reads before it loads its framework (SPEC.md §4), so that a bad file is answered at once.
import type { Args } from './cli.js';
import { type Splits, loadData, readImages } from './data.js';
import { type Tensor, loadWeights } from './weights.js';

/** The run's files, read and checked: the --init/--load weights, and either --predict's images or the dataset. */
export interface Inputs {
  /** The six tensors of --init or --load; null: random weights. */
  init: Tensor[] | null;
  /** With --predict: its images, 784 values each; the dataset is not read. */
  images: Float32Array | null;
  /** Without --predict: the three splits (the data progress line printed before reading them). */
  splits: Splits | null;
}

/** Reads and checks every file the flags name; a bad one throws its Failure (status 2). */
export function readInputs(args: Args): Inputs {
  const init = loadWeights(args.init);
  if (args.predict !== null) {
    return { init, images: readImages(args.predict), splits: null };
  }
  return { init, images: null, splits: loadData(args) };
}
