import { eventTypeProblem, PatternIndex, patternProblem } from './event-patterns.js';

describe('event patterns', () => {
  const MATCHES: [pattern: string, type: string, matches: boolean][] = [
    ['security.rate_limit.exceeded', 'security.rate_limit.exceeded', true],
    ['security.rate_limit.exceeded', 'security.rate_limit', false],
    ['security.rate_limit.exceeded', 'security.rate_limit.exceeded.more', false],
    ['security.*', 'security.origin.refused', true],
    ['security.*', 'security.x', true],
    ['security.*', 'security', false],
    ['security.*', 'securityx.y', false],
    ['security.*', 'authentication.login.success', false],
    ['authentication.login.*', 'authentication.login.success', true],
    ['authentication.login.*', 'authentication.logout', false],
    ['*', 'system.shutdown', true],
    ['*', 'a', true],
    ['a', 'a', true],
    ['a', 'a.b', false],
  ];

  it.each(MATCHES)('%s against %s: %s', (pattern, type, matches) => {
    const index = new PatternIndex<string>();
    index.add(pattern, 'subscriber');
    expect(index.match(type).has('subscriber')).toBe(matches);
  });

  it('answers each subscriber once, however many of its patterns match', () => {
    const index = new PatternIndex<string>();
    for (const pattern of ['*', 'session.*', 'session.revoked']) index.add(pattern, 'one');
    index.add('session.revoked', 'two');
    index.add('session.created', 'three');
    expect([...index.match('session.revoked')].sort()).toEqual(['one', 'two']);
  });

  it('forgets removed subscriptions and prunes what is left empty', () => {
    const index = new PatternIndex<string>();
    index.add('a.b.c', 'one');
    index.add('a.*', 'two');
    index.remove('a.b.c', 'one');
    expect([...index.match('a.b.c')]).toEqual(['two']);
    index.remove('a.*', 'two');
    index.remove('never.added', 'two');
    expect(index.match('a.b.c').size).toBe(0);
    index.add('a.b.c', 'three');
    expect([...index.match('a.b.c')]).toEqual(['three']);
  });

  it.each([
    ['security.*', null],
    ['*', null],
    ['security.rate_limit.exceeded', null],
    ['security*', 'invalid'],
    ['*.security', 'invalid'],
    ['a..b', 'invalid'],
    ['', 'invalid'],
    ['a.b.*.*', 'invalid'],
    ['a b', 'invalid'],
    [`${'a.'.repeat(8)}a`, 'invalid'],
    [42, 'a pattern is a string'],
  ])('checks the pattern %p', (pattern, problem) => {
    const found = patternProblem(pattern);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toContain(problem);
  });

  it('checks event types like exact patterns, without wildcards', () => {
    expect(eventTypeProblem('system.maintenance.scheduled')).toBeNull();
    expect(eventTypeProblem('system.*')).not.toBeNull();
    expect(eventTypeProblem(undefined)).not.toBeNull();
  });
});
