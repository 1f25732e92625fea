import { Logger } from '@nestjs/common';

const WINDOW_MS = 10_000;
const LINES_PER_WINDOW = 5;

/**
 * Logs at a bounded rate: a few lines per window, then one line saying how many more were left
 * out, so that a client able to trigger a failure or a refusal on demand cannot flood the log
 * (or the disk behind it).
 */
export class FailureLog {
  private readonly logger: Logger;
  private windowStartedAt = 0;
  private loggedInWindow = 0;
  private suppressed = 0;

  constructor(context: string) {
    this.logger = new Logger(context);
  }

  error(what: string, error: unknown): void {
    if (this.admit()) this.logger.error(`${what}: ${describeError(error)}`);
  }

  /** An expected refusal worth keeping in the log (its detail), under the same bound. */
  warn(message: string): void {
    if (this.admit()) this.logger.warn(message);
  }

  private admit(): boolean {
    const now = Date.now();
    if (now - this.windowStartedAt >= WINDOW_MS) {
      if (this.suppressed > 0) {
        this.logger.error(
          `${this.suppressed} more lines of this kind in the last ${WINDOW_MS / 1000} s were not logged`,
        );
      }
      this.windowStartedAt = now;
      this.loggedInWindow = 0;
      this.suppressed = 0;
    }
    if (this.loggedInWindow >= LINES_PER_WINDOW) {
      this.suppressed += 1;
      return false;
    }
    this.loggedInWindow += 1;
    return true;
  }
}

/** An error's stack (or message) for a log line; anything else thrown, as text. */
export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** An error's message for a short log line or reply; anything else thrown, as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const callbackFailures = new FailureLog('Callback');

/**
 * Wraps a callback that Socket.IO, Engine.IO or a timer calls, where a throw (or a rejected
 * promise) would otherwise reach the process as an uncaught exception and end it for every
 * client. The failure is logged at a bounded rate and `onFailure` may answer the client.
 */
export function guarded<Args extends unknown[]>(
  what: string,
  callback: (...args: Args) => unknown,
  onFailure?: (error: unknown, ...args: Args) => void,
): (...args: Args) => void {
  const fail = (error: unknown, args: Args) => {
    callbackFailures.error(what, error);
    if (!onFailure) return;
    try {
      onFailure(error, ...args);
    } catch (secondary) {
      callbackFailures.error(`${what} (while answering the failure)`, secondary);
    }
  };
  return (...args: Args) => {
    try {
      const result = callback(...args);
      if (result instanceof Promise) result.catch((error: unknown) => fail(error, args));
    } catch (error) {
      fail(error, args);
    }
  };
}
