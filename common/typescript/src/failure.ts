// Why a run stops early, and the contract's exit statuses (SPEC.md §7).

/** Exit statuses: 1 is a bug (ours or the framework's), 2 a user's mistake, 3 a diverged run. */
export const ExitInternal = 1;
export const ExitBadInput = 2;
export const ExitDiverged = 3;

/** A run that stops early: `main` turns it into one `error: …` line on stderr and its exit status. */
export class Failure extends Error {
  constructor(readonly status: number, message: string) {
    super(oneLine(message));
    this.name = 'Failure';
  }
}

/** A user's mistake (a flag, a data file, a weights file): exit status 2. */
export function badInput(message: string): Failure {
  return new Failure(ExitBadInput, message);
}

/** Stops the run with exit status 3 when an epoch's training loss is not finite (SPEC.md §3). */
export function checkFinite(epoch: number, trainLoss: number): void {
  if (!Number.isFinite(trainLoss)) {
    const shown = Number.isNaN(trainLoss) ? 'NaN' : trainLoss > 0 ? '+Inf' : '-Inf';
    throw new Failure(ExitDiverged,
      `training diverged in epoch ${epoch}: the training loss is ${shown}; try a smaller --lr`);
  }
}

/** The first line of a message, so that an error stays on one line. */
export function oneLine(message: string): string {
  return message.split('\n', 1)[0]!.trimEnd();
}

/** The error line and exit status for anything a run throws: a Failure's own, else an internal error (1). */
export function describe(error: unknown): { line: string; status: number } {
  if (error instanceof Failure) {
    return { line: `error: ${error.message}`, status: error.status };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { line: `error: internal error: ${oneLine(message) || String(error)}`, status: ExitInternal };
}
