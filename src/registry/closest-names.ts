/**
 * "Did you mean …": the registered names closest to a name nobody registered, by edit distance.
 * Used where an unknown name is refused (methods in execute, job types in the job system), so
 * that every client gets the suggestion in the error itself.
 */

/** Edit distance between two strings (Levenshtein). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The known names within a few edits of `wanted` (a quarter of its length, at least 2), best
 * first, at most `max`. `key` maps a name to the form compared (e.g. a method's short name).
 */
export function closestNames(wanted: string, known: readonly string[], opts: { max?: number; key?: (name: string) => string } = {}): string[] {
  const key = opts.key ?? ((s: string) => s);
  const target = key(wanted);
  const limit = Math.max(2, Math.floor(target.length / 4));
  return known
    .map((name) => ({ name, d: editDistance(target, key(name)) }))
    .filter((x) => x.d <= limit && x.name !== wanted)
    .sort((x, y) => x.d - y.d || x.name.localeCompare(y.name))
    .slice(0, opts.max ?? 3)
    .map((x) => x.name);
}
