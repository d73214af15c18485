/** Levenshtein distance of two strings, or `cap` + 1 once it is over `cap` (so long strings stop early). */
export function editDistance(a: string, b: string, cap = Infinity): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    if (Math.min(...next) > cap) return cap + 1;
    row = next;
  }
  return row[b.length];
}

/** Whether two strings are at most one edit apart: editDistance(a, b, 1) <= 1, without its rows. */
export function withinOneEdit(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  // After the common prefix: one substitution, or one character more in the longer string.
  if (a.length === b.length) return a.slice(i + 1) === b.slice(i + 1);
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

/** The candidate nearest `word` within `cap` edits (the first on a tie), for a "did you mean". */
export function nearest(word: string, candidates: readonly string[], cap = 2): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate, cap);
    if (distance <= cap && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** One step of a sequence diff: an item of both, one only the first has (del), or one only the second has (add). */
export type DiffOp = "same" | "del" | "add";

/** The steps turning `a` into `b` along a longest common subsequence, the second's additions before the first's deletions. */
export function diffSequences(a: readonly string[], b: readonly string[]): DiffOp[] {
  // lcs[i][j]: longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const ops: DiffOp[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push("same");
      i++;
      j++;
    } else if (j < b.length && (i === a.length || lcs[i][j + 1] >= lcs[i + 1][j])) {
      ops.push("add");
      j++;
    } else {
      ops.push("del");
      i++;
    }
  }
  return ops;
}
