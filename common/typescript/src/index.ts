// mnist-contract: the plumbing of SPEC.md for TypeScript rows, written once. A row's one file holds its learning
// code and calls `main(row, about, async (args) => { ... })`.
import { type Args, parseArgs } from './cli.js';
import { describe } from './failure.js';
import { output } from './log.js';
import { progressStart } from './progress.js';

export { type Args, type Parsed, TrainExamples, parseArgs } from './cli.js';
export { Classes, Pixels, type Split, type Splits, loadData, loadSplits, readImages } from './data.js';
export { ExitBadInput, ExitDiverged, ExitInternal, Failure, badInput, checkFinite, oneLine } from './failure.js';
export { logConfig, logData, logEpoch, logPredict, logStart, logTest, logWarmup, output, pyNumber } from './log.js';
export { progressData, progressStart, progressTrain, progressWarmup } from './progress.js';
export { Rng, epochOrder, seeded, uniform } from './rng.js';
export { Shapes, type Tensor, loadWeights, saveWeights } from './weights.js';
export { type Inputs, readInputs } from './inputs.js';

/**
 * Runs a row: parses the flags (--help prints the usage with `about` under it), prints the start progress line,
 * awaits `run`, and ends the process with the contract's status. A Failure becomes its one `error:` line; any
 * other error, thrown or rejected anywhere, an `error: internal error: …` line with status 1, never a stack.
 */
export async function main(row: string, about: string, run: (args: Args) => Promise<void>): Promise<never> {
  process.on('uncaughtException', (error) => finish(describe(error)));
  process.on('unhandledRejection', (error) => finish(describe(error)));
  const status = await execute(row, about, process.argv.slice(2), process.env['MNIST_DATA_DIR'] ?? '', run);
  await flushed();
  process.exit(status);
}

/**
 * Resolves once everything written to stdout and stderr has left the process. Node writes to a pipe at once
 * while the pipe has room; when the reader is slower (10,000 --predict lines, 1 MB, into a 64 KB pipe) libuv
 * queues the rest, and process.exit would drop the queue. A write's callback runs after the writes before it.
 */
export function flushed(): Promise<void> {
  const drained = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => { stream.write('', () => resolve()); });
  return Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => undefined);
}

/** main without the process: the exit status for argv (what the tests call). */
export async function execute(row: string, about: string, argv: readonly string[], envDataDir: string,
  run: (args: Args) => Promise<void>): Promise<number> {
  try {
    const parsed = parseArgs(argv, about, envDataDir);
    if (parsed.help !== undefined) {
      output.stdout(parsed.help);
      return 0;
    }
    progressStart(row);
    await run(parsed.args);
    return 0;
  } catch (error) {
    const { line, status } = describe(error);
    output.stderr(line + '\n');
    return status;
  }
}

function finish({ line, status }: { line: string; status: number }): void {
  output.stderr(line + '\n');
  void flushed().then(() => process.exit(status));
}
