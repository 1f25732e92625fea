import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** The first executable named `name` on PATH. */
export function findExecutable(name: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((directory) => join(directory, name))
    .find(isExecutable);
}

/** A port that was free on 127.0.0.1 a moment ago (callers retry if it is taken meanwhile). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('Could not determine a free port'));
      });
    });
  });
}

/**
 * `describe` for suites that need software from the machine. When `unavailableReason` names
 * something missing, the suite is reported as skipped with the reason printed, and fails
 * instead when `CI` is set: CI must run every suite.
 */
export function describeWhenAvailable(
  title: string,
  needs: string,
  unavailableReason: string | undefined,
  body: () => void,
): void {
  if (unavailableReason === undefined) {
    describe(title, body);
  } else if (process.env.CI) {
    describe(title, () => {
      it(`needs ${needs}`, () => {
        throw new Error(unavailableReason);
      });
    });
  } else {
    console.warn(`\n*** SKIPPING "${title}": ${unavailableReason} ***\n`);
    describe.skip(title, body);
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
