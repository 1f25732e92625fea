/**
 * Any character that shows: neither whitespace (`\s`) nor an invisible format character: soft
 * hyphen (U+00AD), Mongolian vowel separator (U+180E), zero-width space, non-joiner and joiner
 * (U+200B–U+200D), word joiner (U+2060), zero-width no-break space (U+FEFF). A message made only
 * of those would arrive as an empty bubble.
 */
const VISIBLE_CHARACTER = /[^\s\u00AD\u180E\u200B-\u200D\u2060\uFEFF]/u;

export const BLANK_CONTENT_PROBLEM = 'content must not be empty or only whitespace';

/** Whether `content` would show nothing. */
export function isBlankContent(content: string): boolean {
  return !VISIBLE_CHARACTER.test(content);
}

/**
 * The rule for message content wherever it is accepted (send and edit, socket and REST): not
 * blank, and at most `maxLength` characters, counted in code points as people count them. The
 * content itself is stored exactly as sent. Undefined when it passes.
 */
export function contentProblem(content: string, maxLength: number): string | undefined {
  if (isBlankContent(content)) return BLANK_CONTENT_PROBLEM;
  // Code units bound code points from above, so the costlier count is needed only past the limit.
  if (content.length > maxLength && [...content].length > maxLength) {
    return `content must be at most ${maxLength} characters`;
  }
  return undefined;
}
