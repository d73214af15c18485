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

/** The candidate nearest `word` within `cap` edits (the first on a tie), for a "did you mean". */
export function nearest(word: string, candidates: readonly string[], cap = 2): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate, cap);
    if (distance <= cap && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}
