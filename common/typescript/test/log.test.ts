import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Args } from '../src/cli.js';
import { logConfig, logEpoch, logPredict, logStart, pyNumber } from '../src/log.js';
import { progressState, progressTrain } from '../src/progress.js';
import { capture } from './helpers.js';

test("the log lines have the contract's fields and digits", async () => {
  const args: Args = { dataset: 'mnist', dataDir: 'data', epochs: 5, batchSize: 128, lr: 1e-5, momentum: 0.9,
    seed: 7, limitTrain: 2000, shuffle: false, init: 'w', save: null, predict: null };
  const { stdout } = await capture(() => {
    logConfig(args);
    logEpoch(2, 0.1234567, 0.5, 1, 0.25, 1.2345);
    logPredict(3, [0, 0.1, 0.4, 0.4, 0, 0, 0, 0, 0.1, 0]);
  });
  assert.equal(stdout,
    'event=config dataset=mnist epochs=5 batch_size=128 lr=1e-05 momentum=0.9 seed=7 limit_train=2000 ' +
    'shuffle=0 init=1\n' +
    'event=epoch epoch=2 train_loss=0.123457 train_acc=0.500000 val_loss=1.000000 val_acc=0.250000 seconds=1.234\n' +
    'event=predict index=3 class=2 p0=0.000000 p1=0.100000 p2=0.400000 p3=0.400000 p4=0.000000 p5=0.000000 ' +
    'p6=0.000000 p7=0.000000 p8=0.100000 p9=0.000000\n');
  const start = await capture(() => logStart('tfjs', 'tfjs/4.22.0', 'cpu'));
  assert.match(start.stdout,
    /^event=start row=tfjs language=node\/\d+\.\d+\.\d+ framework=tfjs\/4\.22\.0 device=cpu\n$/);
  const numbers: Array<[number, string]> = [[0.05, '0.05'], [1e-5, '1e-05'], [1e6, '1000000.0'], [1e20, '1e+20'],
    [0, '0.0'], [1.5e-7, '1.5e-07'], [0.0001, '0.0001'], [1234567890123456, '1234567890123456.0'], [1e16, '1e+16']];
  for (const [value, text] of numbers) {
    assert.equal(pyNumber(value), text);
  }
});

test('train progress is rate-limited and reads the loss only when printed', async () => {
  let reads = 0;
  const loss = (): number => 1.5 * ++reads;
  const { stderr } = await capture(() => {
    progressState.printed = false;
    progressTrain(1, 5, 1, 391, loss, 100_000);
    progressTrain(1, 5, 2, 391, loss, 100_100);
    progressTrain(1, 5, 3, 391, loss, 100_250);
  });
  assert.equal(stderr, 'event=progress stage=train epoch=1 epochs=5 batch=1 batches=391 loss=1.500000\n' +
    'event=progress stage=train epoch=1 epochs=5 batch=3 batches=391 loss=3.000000\n');
  assert.equal(reads, 2);
});
