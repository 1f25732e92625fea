import type { AuthFailureCode } from '../../src/contracts/index.js';

/**
 * The REST body of a refused token: UNAUTHORIZED with the handshake's code in `details.code`.
 * `code` and `message` may be asymmetric matchers (`expect.any(String)`).
 */
export function unauthorizedBody(code: AuthFailureCode | object, message: unknown = expect.any(String)) {
  return { statusCode: 401, error: 'Unauthorized', code: 'UNAUTHORIZED', message, details: { code } };
}
