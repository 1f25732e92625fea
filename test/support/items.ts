/**
 * The item at `index` (negative counts from the end), failing the test with a clear error when
 * there is none.
 */
export function itemAt<T>(items: readonly T[], index: number): T {
  const item = items.at(index);
  if (item === undefined) {
    throw new Error(`Expected an item at index ${index}, but there are only ${items.length}`);
  }
  return item;
}
