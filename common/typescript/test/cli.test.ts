import assert from 'node:assert/strict';
import { test } from 'node:test';

import { type Args, parseArgs } from '../src/cli.js';
import { Failure } from '../src/failure.js';

const parse = (...argv: string[]): Args => {
  const parsed = parseArgs(argv, 'about', '/env/data');
  assert.ok(parsed.args, `unexpected help for ${argv}`);
  return parsed.args;
};

test("the defaults are the contract's", () => {
  assert.deepEqual(parse(), {
    dataset: 'mnist', dataDir: '/env/data', epochs: 5, batchSize: 128, lr: 0.05, momentum: 0.9, seed: 0,
    limitTrain: 50000, shuffle: true, init: null, save: null, predict: null,
  });
  const args = parse('--dataset', 'fashion-mnist', '--epochs', '0', '--seed', '4294967295', '--no-shuffle',
    '--load', 'w', '--predict', 'x', '--data-dir', 'd', '--epochs=2', '--lr', '5e-2', '--momentum', '0');
  assert.deepEqual([args.dataset, args.epochs, args.seed, args.shuffle, args.init, args.predict, args.dataDir,
    args.lr, args.momentum], ['fashion-mnist', 2, 4294967295, false, 'w', 'x', 'd', 0.05, 0]);
  assert.equal(parseArgs([], 'about', '').args?.dataDir, 'data');
});

test('a mistake is one line naming the flag, status 2', () => {
  const cases: Record<string, string> = {
    '--batch-size -5': "--batch-size must be an integer >= 1, got '-5'",
    '--batch-size 0': "--batch-size must be an integer >= 1, got '0'",
    '--epochs 1.5': "--epochs must be an integer >= 0, got '1.5'",
    '--lr abc': "--lr must be a number > 0, got 'abc'",
    '--lr -0.1': "--lr must be a number > 0, got '-0.1'",
    '--lr nan': "--lr must be a number > 0, got 'nan'",
    '--lr Infinity': "--lr must be a number > 0, got 'Infinity'",
    '--lr 0x10': "--lr must be a number > 0, got '0x10'",
    '--lr 1_0': "--lr must be a number > 0, got '1_0'",
    '--momentum 1': "--momentum must be a number in [0, 1), got '1'",
    '--seed 4294967296': "--seed must be an integer in 0..4294967295, got '4294967296'",
    '--seed -1': "--seed must be an integer in 0..4294967295, got '-1'",
    '--limit-train 50001': "--limit-train must be an integer in 1..50000, got '50001'",
    '--dataset cifar10': "--dataset must be one of mnist, fashion-mnist, got 'cifar10'",
    '--bogus': 'unrecognized arguments: --bogus (see --help)',
    '--epochs': 'argument --epochs: expected one argument (see --help)',
    '--init a --load b': 'argument --load: not allowed with argument --init',
    '--predict x': '--predict needs the weights to classify with: add --load FILE',
    '--save /nowhere/w': '--save: directory /nowhere does not exist',
    '--epochs 1 stray': 'unrecognized arguments: stray (see --help)',
  };
  for (const [argv, message] of Object.entries(cases)) {
    assert.throws(() => parseArgs(argv.split(' '), 'about'),
      (error: unknown) => error instanceof Failure && error.status === 2 && error.message === message, argv);
  }
});

test("--help is the usage with the row's sentence", () => {
  const { help } = parseArgs(['--epochs', '3', '--help'], 'Train the SPEC.md MLP in a test.');
  assert.ok(help?.includes('Train the SPEC.md MLP in a test.'));
  for (const flag of ['--dataset', '--data-dir', '--epochs', '--batch-size', '--lr', '--momentum', '--seed',
    '--limit-train', '--no-shuffle', '--init', '--load', '--save', '--predict', '--help']) {
    assert.ok(help?.includes(flag), flag);
  }
});
