import { AppLogger, createRootLogger, pinoLevelOf } from './app-logger.js';

interface Line {
  level: string;
  msg?: string;
  context?: string;
  [field: string]: unknown;
}

function capture(level: Parameters<typeof createRootLogger>[0] = 'trace') {
  const lines: Line[] = [];
  const logger = new AppLogger(
    createRootLogger(
      level,
      { write: (line: string) => lines.push(JSON.parse(line) as Line) },
      { serverId: 's-1' },
    ),
  );
  return { logger, lines };
}

describe('pinoLevelOf', () => {
  it("maps Nest's levels to pino's, by the most verbose one given", () => {
    expect(pinoLevelOf(['log'])).toBe('info');
    expect(pinoLevelOf(['error', 'warn'])).toBe('warn');
    expect(pinoLevelOf(['verbose'])).toBe('trace');
    expect(pinoLevelOf(['fatal'])).toBe('fatal');
    expect(pinoLevelOf(false)).toBe('silent');
    expect(pinoLevelOf([])).toBe('silent');
  });
});

describe('AppLogger', () => {
  it("writes Nest's calls as JSON lines, the context as a field", () => {
    const { logger, lines } = capture();
    logger.log('hello', 'Greeter');
    logger.warn('careful');
    logger.debug('details', 'Greeter');
    logger.verbose('more details', 'Greeter');
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', msg: 'hello', context: 'Greeter', serverId: 's-1' }),
      expect.objectContaining({ level: 'warn', msg: 'careful' }),
      expect.objectContaining({ level: 'debug', msg: 'details', context: 'Greeter' }),
      expect.objectContaining({ level: 'trace', msg: 'more details', context: 'Greeter' }),
    ]);
    expect(lines[1]).not.toHaveProperty('context');
    expect(typeof lines[0]?.time).toBe('string');
  });

  it("takes error's stack and context as Nest passes them", () => {
    const { logger, lines } = capture();
    const error = new Error('boom');
    logger.error('failed', error.stack, 'Worker');
    logger.error('failed without a stack', undefined, 'Worker');
    logger.error(error, 'Worker');
    expect(lines[0]).toMatchObject({ level: 'error', msg: 'failed', context: 'Worker' });
    expect(lines[0]?.stack).toContain('Error: boom');
    expect(lines[1]).toMatchObject({ msg: 'failed without a stack', context: 'Worker' });
    expect(lines[1]).not.toHaveProperty('stack');
    expect(lines[2]).toMatchObject({
      msg: 'boom',
      context: 'Worker',
      err: expect.objectContaining({ message: 'boom' }),
    });
  });

  it('merges an object message into the line and censors credential fields', () => {
    const { logger, lines } = capture();
    logger.log(
      { event: 'x', token: 'opaque', headers: { authorization: 'Basic abc', cookie: 'a=b' } },
      'Ctx',
    );
    expect(lines[0]).toMatchObject({
      event: 'x',
      token: '[Redacted]',
      headers: { authorization: '[Redacted]', cookie: '[Redacted]' },
      context: 'Ctx',
    });
  });

  it('writes nothing below its level, and follows setLogLevels', () => {
    const { logger, lines } = capture('warn');
    logger.log('dropped');
    logger.warn('kept');
    logger.setLogLevels(['error']);
    logger.warn('dropped too');
    logger.error('kept too');
    expect(lines.map((line) => line.msg)).toEqual(['kept', 'kept too']);
  });
});
