// The progress lines on stderr (SPEC.md §6): what a person watching sees; the runner shows them live.
import { output } from './log.js';

/** The least time between two `train` progress lines, in milliseconds. */
export const ProgressIntervalMs = 250;

/** When the last progress line was printed (performance.now() milliseconds); the tests reset it. */
export const progressState = { printed: false, last: 0 };

function print(now: number, line: string): void {
  progressState.printed = true;
  progressState.last = now;
  output.stderr(line + '\n');
}

/** Printed as soon as the flags are parsed, before the framework loads (`main` does it). */
export function progressStart(row: string): void {
  print(performance.now(), `event=progress stage=start row=${row}`);
}

/** Printed before the data files are read (`loadData` does it). */
export function progressData(dataset: string): void {
  print(performance.now(), `event=progress stage=data dataset=${dataset}`);
}

/** Printed before the warm-up (rows that print a `warmup` line). */
export function progressWarmup(): void {
  print(performance.now(), 'event=progress stage=warmup');
}

/**
 * Called after every training batch (from 1). It prints a line only when ProgressIntervalMs has passed since
 * the previous progress line, and only then calls `loss` for the epoch's running mean loss: a batch pays one
 * clock read, and a loss that lives in the framework is read only for a line that prints.
 */
export function progressTrain(epoch: number, epochs: number, batch: number, batches: number, loss: () => number,
  now: number = performance.now()): void {
  if (progressState.printed && now - progressState.last < ProgressIntervalMs) {
    return;
  }
  print(now, `event=progress stage=train epoch=${epoch} epochs=${epochs} batch=${batch} batches=${batches} ` +
    `loss=${loss().toFixed(6)}`);
}
