/** Keys that name the prototype chain: class-transformer drops them silently, so they are refused. */
const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export type PayloadShapeProblem = 'too-deep' | 'reserved-key';

/**
 * What makes a parsed payload unfit for validation, before anything transforms it: objects or
 * arrays nested more than `maxDepth` levels (a scalar is depth 0, `{}` and `[]` are depth 1;
 * class-transformer recurses once per level and would overflow the stack), or an own key that
 * names the prototype chain. Iterative, and it stops at the first problem, so a hostile payload
 * costs at most one walk and never the call stack.
 */
export function payloadShapeProblem(value: unknown, maxDepth: number): PayloadShapeProblem | null {
  if (!isContainer(value)) return null;
  const stack: { value: object; depth: number }[] = [{ value, depth: 1 }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    if (next.depth > maxDepth) return 'too-deep';
    for (const key of Object.keys(next.value)) {
      if (RESERVED_KEYS.has(key)) return 'reserved-key';
      const child: unknown = (next.value as Record<string, unknown>)[key];
      if (isContainer(child)) stack.push({ value: child, depth: next.depth + 1 });
    }
  }
  return null;
}

/** The `VALIDATION_FAILED` message and details for a payload's shape problem. */
export function describeShapeProblem(
  problem: PayloadShapeProblem,
  maxDepth: number,
): { message: string; details: { field: string; problems: string[] }[] } {
  const text =
    problem === 'too-deep'
      ? `Payload is nested more than ${maxDepth} levels deep`
      : 'Payload has a reserved key (__proto__, constructor or prototype)';
  return { message: text, details: [{ field: '', problems: [text] }] };
}

function isContainer(value: unknown): value is object {
  return (
    typeof value === 'object' &&
    value !== null &&
    !ArrayBuffer.isView(value) &&
    !(value instanceof ArrayBuffer)
  );
}
