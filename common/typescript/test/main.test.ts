import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkFinite, loadWeights } from '../src/index.js';
import { execute } from '../src/index.js';
import { capture } from './helpers.js';

test('main turns failures into one line and a status', async () => {
  const cases: Array<[string[], () => Promise<void>, number, string]> = [
    [[], async () => {}, 0, 'event=progress stage=start row=test'],
    [['--batch-size', '0'], async () => {}, 2, "error: --batch-size must be an integer >= 1, got '0'"],
    [[], async () => checkFinite(2, NaN), 3,
      'error: training diverged in epoch 2: the training loss is NaN; try a smaller --lr'],
    [[], async () => checkFinite(1, Infinity), 3,
      'error: training diverged in epoch 1: the training loss is +Inf; try a smaller --lr'],
    [[], async () => { throw new Error('matMul failed\n    at somewhere (file.js:1:1)'); }, 1,
      'error: internal error: matMul failed'],
    [[], async () => { throw 'a string'; }, 1, 'error: internal error: a string'],
    [[], async () => { loadWeights('/nowhere/w'); }, 2, 'error: /nowhere/w: weights file not found'],
  ];
  for (const [argv, run, status, last] of cases) {
    let got = -1;
    const { stderr } = await capture(async () => { got = await execute('test', 'about', argv, '/data', run); });
    const lines = stderr.trim().split('\n');
    assert.equal(got, status, `${argv}: ${stderr}`);
    assert.equal(lines[lines.length - 1], last);
  }
});

test('--help prints the usage on stdout and runs nothing', async () => {
  let ran = false;
  let status = -1;
  const { stdout, stderr } = await capture(async () => {
    status = await execute('test', 'about', ['--help'], '', async () => { ran = true; });
  });
  assert.deepEqual([status, ran, stderr], [0, false, '']);
  assert.match(stdout, /^usage: /);
});

test('every line reaches a slow reader before the process exits', async () => {
  // A row printing 10,000 --predict lines (about 1 MB) into a pipe whose reader starts late: the 64 KB pipe fills
  // and Node queues the rest, which process.exit would drop (the bench once got 714 of 10,000 predictions).
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const library = fileURLToPath(new URL('../src/index.js', import.meta.url));
  const script = `import { main, output } from ${JSON.stringify(library)};
    await main('test', 'about', async () => { for (let i = 0; i < 20000; i++) output.stdout('event=predict index=' + i + ' ' + 'p'.repeat(60) + '\\n'); });`;
  const result = spawnSync('sh', ['-c', `node --input-type=module -e "$SCRIPT" 2>/dev/null | (sleep 1; wc -l)`],
    { env: { ...process.env, SCRIPT: script }, encoding: 'utf8' });
  assert.equal(result.stdout.trim(), '20000', result.stderr);
});
