// The log lines on stdout (SPEC.md §6): logfmt, `event=` first, each written as it is printed.
import type { Args } from './cli.js';
import type { Splits } from './data.js';

/**
 * Where the log lines (stdout) and the progress and error lines (stderr) go; the tests replace them.
 * Node writes each line at once while the pipe has room (and queues it when the reader is behind: `main` waits
 * for the queue to drain before the process exits).
 */
export const output = {
  stdout: (text: string): void => { process.stdout.write(text); },
  stderr: (text: string): void => { process.stderr.write(text); },
};

function emit(line: string): void {
  output.stdout(line + '\n');
}

const fixed = (value: number, digits: number): string => value.toFixed(digits);

/** The first line: the row, the runtime (node/VERSION: what runs the compiled TypeScript), framework, device. */
export function logStart(row: string, framework: string, device: string): void {
  emit(`event=start row=${row} language=node/${process.versions.node} framework=${framework} device=${device}`);
}

/** The flags as the row runs them. */
export function logConfig(a: Args): void {
  emit(`event=config dataset=${a.dataset} epochs=${a.epochs} batch_size=${a.batchSize} lr=${pyNumber(a.lr)} ` +
    `momentum=${pyNumber(a.momentum)} seed=${a.seed} limit_train=${a.limitTrain} shuffle=${a.shuffle ? 1 : 0} ` +
    `init=${a.init ? 1 : 0}`);
}

/** The splits' sizes and the seconds reading them took. */
export function logData(s: Splits): void {
  emit(`event=data train=${s.train.count} val=${s.val.count} test=${s.test.count} seconds=${fixed(s.seconds, 3)}`);
}

/** Compilation or initialisation done before epoch 1, not counted in any epoch. */
export function logWarmup(seconds: number): void {
  emit(`event=warmup seconds=${fixed(seconds, 3)}`);
}

/** One epoch's results; seconds cover its training steps only. */
export function logEpoch(epoch: number, trainLoss: number, trainAcc: number, valLoss: number, valAcc: number,
  seconds: number): void {
  emit(`event=epoch epoch=${epoch} train_loss=${fixed(trainLoss, 6)} train_acc=${fixed(trainAcc, 6)} ` +
    `val_loss=${fixed(valLoss, 6)} val_acc=${fixed(valAcc, 6)} seconds=${fixed(seconds, 3)}`);
}

/** The test split's results. */
export function logTest(testLoss: number, testAcc: number, seconds: number): void {
  emit(`event=test test_loss=${fixed(testLoss, 6)} test_acc=${fixed(testAcc, 6)} seconds=${fixed(seconds, 3)}`);
}

/** One image's class (the most probable digit, the lowest on a tie) and its ten probabilities. */
export function logPredict(index: number, probabilities: ArrayLike<number>): void {
  let best = 0;
  for (let digit = 1; digit < probabilities.length; digit++) {
    if (probabilities[digit]! > probabilities[best]!) {
      best = digit;
    }
  }
  const fields = Array.from(probabilities, (p, digit) => ` p${digit}=${fixed(p, 6)}`).join('');
  emit(`event=predict index=${index} class=${best}${fields}`);
}

/** A flag's number as Python's repr() writes it, as every row's config line does: 0.05, 1e-05, 1000000.0. */
export function pyNumber(value: number): string {
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  if (value !== 0 && (exponent < -4 || exponent >= 16)) {
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const text = value.toString();
  return text.includes('.') ? text : text + '.0';
}
