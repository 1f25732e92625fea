/** One segment of an event type: `security`, `rate_limit`, `exceeded`. */
const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_SEGMENTS = 8;
const WILDCARD = '*';

/**
 * Why `type` is not an event type (dotted segments of letters, digits, `_` and `-`), or null.
 */
export function eventTypeProblem(type: unknown): string | null {
  if (typeof type !== 'string') return 'an event type is a string';
  const segments = type.split('.');
  if (segments.length > MAX_SEGMENTS) return `an event type has at most ${MAX_SEGMENTS} segments`;
  return segments.every((segment) => SEGMENT.test(segment))
    ? null
    : `"${type.slice(0, 80)}" is not dotted segments of letters, digits, _ and -`;
}

/**
 * Why `pattern` is not a subscription pattern, or null: an event type, or one whose last
 * segment is `*`, which matches one or more trailing segments (`security.*`, `*`).
 */
export function patternProblem(pattern: unknown): string | null {
  if (typeof pattern !== 'string') return 'a pattern is a string';
  if (pattern === WILDCARD) return null;
  const exact = pattern.endsWith(`.${WILDCARD}`) ? pattern.slice(0, -2) : pattern;
  const problem = eventTypeProblem(exact);
  return problem === null ? null : `invalid pattern "${pattern.slice(0, 80)}": ${problem}`;
}

interface PatternNode<S> {
  readonly children: Map<string, PatternNode<S>>;
  /** Subscribers of the exact type that ends here. */
  readonly exact: Set<S>;
  /** Subscribers of `<path to here>.*`: every type that continues past here. */
  readonly below: Set<S>;
}

function node<S>(): PatternNode<S> {
  return { children: new Map(), exact: new Set(), below: new Set() };
}

/**
 * Subscribers by pattern, matched against an event type in O(segments of the type), however
 * many subscriptions there are: a trie of segments whose nodes hold the exact subscribers and
 * those of the wildcard below them.
 */
export class PatternIndex<S> {
  private readonly root: PatternNode<S> = node();

  /** Adds a valid pattern (see `patternProblem`). */
  add(pattern: string, subscriber: S): void {
    const { segments, wildcard } = split(pattern);
    let current = this.root;
    for (const segment of segments) {
      let child = current.children.get(segment);
      if (!child) {
        child = node();
        current.children.set(segment, child);
      }
      current = child;
    }
    (wildcard ? current.below : current.exact).add(subscriber);
  }

  remove(pattern: string, subscriber: S): void {
    const { segments, wildcard } = split(pattern);
    const path: PatternNode<S>[] = [this.root];
    for (const segment of segments) {
      const child = path.at(-1)?.children.get(segment);
      if (!child) return;
      path.push(child);
    }
    const last = path.at(-1);
    if (!last) return;
    (wildcard ? last.below : last.exact).delete(subscriber);
    // Prunes the nodes left empty, deepest first.
    for (let depth = segments.length; depth > 0; depth--) {
      const current = path[depth];
      if (!current || current.children.size > 0 || current.exact.size > 0 || current.below.size > 0) break;
      path[depth - 1]?.children.delete(segments[depth - 1] ?? '');
    }
  }

  isEmpty(): boolean {
    const { children, exact, below } = this.root;
    return children.size === 0 && exact.size === 0 && below.size === 0;
  }

  /** Every subscriber of a pattern matching `type`, each once. */
  match(type: string): Set<S> {
    const matched = new Set<S>();
    const segments = type.split('.');
    let current: PatternNode<S> | undefined = this.root;
    for (const segment of segments) {
      for (const subscriber of current.below) matched.add(subscriber);
      current = current.children.get(segment);
      if (!current) return matched;
    }
    for (const subscriber of current.exact) matched.add(subscriber);
    return matched;
  }
}

function split(pattern: string): { segments: string[]; wildcard: boolean } {
  if (pattern === WILDCARD) return { segments: [], wildcard: true };
  const wildcard = pattern.endsWith(`.${WILDCARD}`);
  return { segments: (wildcard ? pattern.slice(0, -2) : pattern).split('.'), wildcard };
}
