// The contract's flags (SPEC.md §4), parsed by commander and checked here, so that every mistake reads as in the
// other languages: `--batch-size must be an integer >= 1, got '-5'`, `unrecognized arguments: --bogus`.
import { statSync } from 'node:fs';
import { basename, dirname } from 'node:path';

import { Command, CommanderError } from 'commander';

import { badInput } from './failure.js';

/** The size of the train split (SPEC.md §1), and so the largest --limit-train. */
export const TrainExamples = 50_000;

/** The flags after checking: --load merged into init (which --predict then uses), the data root resolved. */
export interface Args {
  dataset: 'mnist' | 'fashion-mnist';
  dataDir: string;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  seed: number;
  /** The number of training examples used. */
  limitTrain: number;
  shuffle: boolean;
  /** --init or --load; null: random weights. */
  init: string | null;
  /** null: do not save. */
  save: string | null;
  /** An IDX image file to classify with the --load weights; null: train. */
  predict: string | null;
}

/** What parseArgs found: the checked flags, or the usage text when --help was asked for. */
export type Parsed = { args: Args; help?: undefined } | { args?: undefined; help: string };

const usage = (program: string, about: string): string =>
  `usage: ${program} [--help] [--dataset {mnist,fashion-mnist}] [--data-dir DIR] [--epochs N]
       [--batch-size N] [--lr LR] [--momentum M] [--seed N] [--limit-train N] [--no-shuffle]
       [--init FILE | --load FILE] [--save FILE] [--predict IDX_FILE]

${about}

options:
  -h, --help           show this help message and exit
  --dataset {mnist,fashion-mnist}  which dataset to train on (default: mnist)
  --data-dir DIR       data root holding <dataset>/ (default: $MNIST_DATA_DIR, else data/)
  --epochs N           passes over the training set; 0 only evaluates (default: 5)
  --batch-size N       examples per SGD step (default: 128)
  --lr LR              learning rate (default: 0.05)
  --momentum M         SGD momentum in [0, 1) (default: 0.9)
  --seed N             seeds initialisation and shuffling, 0..4294967295 (default: 0)
  --limit-train N      train on the first N training examples only, 1..50000 (default: all 50000)
  --no-shuffle         keep the training examples in file order every epoch
  --init FILE          start from these safetensors weights instead of random ones
  --load FILE          same as --init; with --epochs 0 only evaluates
  --save FILE          write the trained weights to this safetensors file
  --predict IDX_FILE   classify the images of this IDX file (.gz or plain) with the --load weights
                       instead of training
`;

// The flags that take a value; commander hands each over as text, checked below.
const VALUE_FLAGS = ['dataset', 'data-dir', 'epochs', 'batch-size', 'lr', 'momentum', 'seed', 'limit-train', 'init',
  'load', 'save', 'predict'] as const;

function commandLine(): Command {
  const command = new Command()
    .helpOption(false) // the usage above is the help, the same text as the other languages'
    .option('-h, --help')
    .option('--no-shuffle')
    .allowExcessArguments(true) // checked in parseArgs, to name them
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  for (const name of VALUE_FLAGS) {
    command.option(`--${name} <value>`);
  }
  return command;
}

/** commander's mistake as the other languages word it. */
function mistake(error: CommanderError): string {
  const option = /'(-[^' ]*)/.exec(error.message)?.[1] ?? '';
  switch (error.code) {
    case 'commander.unknownOption':
      return `unrecognized arguments: ${option} (see --help)`;
    case 'commander.optionMissingArgument':
      return `argument ${option}: expected one argument (see --help)`;
    default:
      return `${error.message.replace(/^error: /, '')} (see --help)`;
  }
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/; // 0.05, 5e-2, .5; not nan, inf, 0x10 or 1_000

function integer(flag: string, text: string, low: number, high: number, wanted: string): number {
  const value = INTEGER.test(text) ? Number(text) : NaN;
  if (!(value >= low && value <= high)) {
    throw badInput(`${flag} must be ${wanted}, got '${text}'`);
  }
  return value;
}

function decimal(flag: string, text: string, ok: (value: number) => boolean, wanted: string): number {
  const value = DECIMAL.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isFinite(value) || !ok(value)) {
    throw badInput(`${flag} must be ${wanted}, got '${text}'`);
  }
  return value;
}

/**
 * Checks argv (without node and the program) and returns the flags, or the usage text for --help (with `about`,
 * the row's one sentence, under it). A mistake throws a Failure with status 2 naming the flag.
 */
export function parseArgs(argv: readonly string[], about: string, envDataDir = ''): Parsed {
  const command = commandLine();
  try {
    command.parse(argv as string[], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      throw badInput(mistake(error));
    }
    throw error;
  }
  const options = command.opts<Record<string, string | boolean | undefined>>();
  if (options['help']) {
    return { help: usage(basename(process.argv[1] ?? 'main.js'), about) };
  }
  if (command.args.length > 0) {
    throw badInput(`unrecognized arguments: ${command.args.join(' ')} (see --help)`);
  }
  const given = (name: string): string | undefined => {
    const value = options[name.replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase())];
    return typeof value === 'string' ? value : undefined;
  };
  const value = (name: string, fallback: string): string => given(name) ?? fallback;

  const dataset = value('dataset', 'mnist');
  if (dataset !== 'mnist' && dataset !== 'fashion-mnist') {
    throw badInput(`--dataset must be one of mnist, fashion-mnist, got '${dataset}'`);
  }
  const args: Args = {
    dataset,
    dataDir: value('data-dir', envDataDir) || 'data',
    epochs: integer('--epochs', value('epochs', '5'), 0, 2 ** 31 - 1, 'an integer >= 0'),
    batchSize: integer('--batch-size', value('batch-size', '128'), 1, 2 ** 31 - 1, 'an integer >= 1'),
    lr: decimal('--lr', value('lr', '0.05'), (v) => v > 0, 'a number > 0'),
    momentum: decimal('--momentum', value('momentum', '0.9'), (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    limitTrain: integer('--limit-train', value('limit-train', String(TrainExamples)), 1, TrainExamples,
      'an integer in 1..50000'),
    seed: integer('--seed', value('seed', '0'), 0, 2 ** 32 - 1, 'an integer in 0..4294967295'),
    shuffle: options['shuffle'] !== false,
    init: given('init') || given('load') || null,
    save: given('save') || null,
    predict: given('predict') || null,
  };
  if (given('init') !== undefined && given('load') !== undefined) {
    throw badInput('argument --load: not allowed with argument --init');
  }
  if (args.predict !== null && given('load') === undefined) {
    throw badInput('--predict needs the weights to classify with: add --load FILE');
  }
  if (args.save !== null && !isDirectory(dirname(args.save))) {
    throw badInput(`--save: directory ${dirname(args.save)} does not exist`);
  }
  return { args };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
