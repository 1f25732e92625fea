import { AppError } from '../common/errors.js';
import { isDatabaseUnavailableError, translateDatabaseError } from './database-errors.js';

const withCode = (code: string, message = 'driver failure'): Error =>
  Object.assign(new Error(message), { code });

describe('isDatabaseUnavailableError', () => {
  it.each([
    ['a refused connection', withCode('ECONNREFUSED')],
    ['a reset socket', withCode('ECONNRESET')],
    ['a PostgreSQL connection failure', withCode('08006')],
    ['a PostgreSQL administrator shutdown', withCode('57P01')],
    ['a PostgreSQL at its connection limit', withCode('53300')],
    ['a busy SQLite file', withCode('SQLITE_BUSY')],
    ['a SQLite write error', withCode('SQLITE_IOERR_WRITE')],
    ['a lost pg connection', new Error('Connection terminated unexpectedly')],
    ['a pg-pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['every address refused', new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')])],
  ])('recognises %s', (_, error) => {
    expect(isDatabaseUnavailableError(error)).toBe(true);
  });

  it.each([
    ['a unique violation', withCode('23505')],
    ['a syntax error', withCode('42601')],
    ['a SQLite constraint', withCode('SQLITE_CONSTRAINT_FOREIGNKEY')],
    ['an error without code', new Error('something else')],
    ['a string', 'ECONNREFUSED'],
    ['null', null],
  ])('leaves %s alone', (_, error) => {
    expect(isDatabaseUnavailableError(error)).toBe(false);
  });
});

describe('translateDatabaseError', () => {
  it('turns an unreachable database into SERVICE_UNAVAILABLE keeping the cause', () => {
    const refused = withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432');

    const translated = translateDatabaseError(refused);

    expect(translated).toBeInstanceOf(AppError);
    expect(translated).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: 'Database unavailable' });
    expect((translated as AppError).cause).toBe(refused);
    expect((translated as AppError).toBody()).toEqual({
      code: 'SERVICE_UNAVAILABLE',
      message: 'Database unavailable',
    });
  });

  it('returns other errors unchanged', () => {
    const conflict = withCode('23505');
    const appError = AppError.notFound('Chat not found');

    expect(translateDatabaseError(conflict)).toBe(conflict);
    expect(translateDatabaseError(appError)).toBe(appError);
  });
});
