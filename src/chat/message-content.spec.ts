import { BLANK_CONTENT_PROBLEM, contentProblem, isBlankContent } from './message-content.js';

describe('message content rule', () => {
  it.each([
    ['empty', ''],
    ['spaces', '   '],
    ['line breaks and tabs', '\n\t\r\n'],
    ['no-break and ideographic spaces', '\u00A0\u3000\u2007'],
    ['zero-width spaces', '\u200B\u200B'],
    ['zero-width no-break space and joiner around a space', '\uFEFF \u200D'],
    ['a zero-width non-joiner', '\u200C'],
    ['a word joiner', '\u2060'],
    ['a Mongolian vowel separator', '\u180E'],
    ['a soft hyphen', '\u00AD'],
    ['every invisible character at once', ' \u00A0\u00AD\u180E\u200B\u200C\u200D\u2060\uFEFF\n'],
  ])('refuses content made of %s as blank', (_case, content) => {
    expect(isBlankContent(content)).toBe(true);
    expect(contentProblem(content, 100)).toBe(BLANK_CONTENT_PROBLEM);
  });

  it.each([
    ['a word', 'hi'],
    ['one visible character among invisible ones', '\u200B.\u200B'],
    ['a visible character after a soft hyphen', '\u00ADa'],
    ['an emoji joined by a zero-width joiner', '👩\u200D💻'],
    ['punctuation only', '…'],
  ])('accepts %s', (_case, content) => {
    expect(isBlankContent(content)).toBe(false);
    expect(contentProblem(content, 100)).toBeUndefined();
  });

  it('counts the length in characters, not code units, invisible characters included', () => {
    expect(contentProblem('🙂'.repeat(3), 3)).toBeUndefined();
    expect(contentProblem('🙂'.repeat(4), 3)).toBe('content must be at most 3 characters');
    expect(contentProblem('ab\u200B', 2)).toBe('content must be at most 2 characters');
  });
});
