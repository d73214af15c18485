import { derivation } from "./derived";
import { profile, copyScore } from "./original";
import { unsupportedNumbers } from "./numbers";
import { refusalHits, stripPreamble } from "./preamble";
import { subjectWords, withoutSubjectNumbers } from "./subject";
import { wrongSenses } from "./senses";
import { findTerms } from "./terms";
import { cutOff } from "./truncation";
import { cleanText, quoteList, round, splitSentences, visibleLength } from "./text";
import { type Check, type CheckOptions, type Scores, thresholdsOf } from "./types";

/** The rules for one paraphrase: no embeddings, no LLM. */

/** The paraphrase's numbers, dates, times and quantities that the original does not support, as written in the paraphrase. */
export function newNumbers(original: string, paraphrase: string): string[] {
  return unsupportedNumbers(profile(original).numbers, paraphrase).map((f) => f.text);
}

/**
 * Checks one paraphrase against its original, without embeddings or an LLM (see checkParaphrases for those).
 * Verdict precedence: refusal, then hallucinated (invented content, or cut off mid-sentence), then copy, then a word swapped
 * for one of another sense (hallucinated), then a length collapse (hallucinated: facts lost), then faithful.
 */
export function checkParaphrase(original: string, paraphrase: string, options?: CheckOptions): Check {
  const t = thresholdsOf(options);
  const stripped = stripPreamble(paraphrase, original);
  const text = stripped.text;
  const reasons: string[] = [];
  if (stripped.preamble) reasons.push(`preamble stripped: "${stripped.preamble}"`);
  if (stripped.postscript) reasons.push(`postscript stripped: "${stripped.postscript}"`);
  const p = profile(original);
  const refusals = refusalHits(text, original);
  const length = visibleLength(text);
  const scores: Scores = {
    copy: round(copyScore(original, text)),
    length_ratio: round(length / Math.max(1, p.length)),
    new_numbers: 0,
    new_names: 0,
    new_terms: 0,
    added_causes: 0,
    wrong_senses: 0,
    refusal: refusals.length,
  };
  if (!text) return { verdict: "refusal", reasons: [...reasons, "empty paraphrase"], scores, text };
  if (refusals.length) return { verdict: "refusal", reasons: [...reasons, `refusal or meta-talk: ${quoteList(refusals)}`], scores, text };

  const invented: string[] = [];
  const subject = subjectWords(options?.subject ?? []);
  // A number one step from the original's (a total, a difference) is kept, and said.
  const numbers: string[] = [];
  const sentences = splitSentences(cleanText(text));
  for (const fact of unsupportedNumbers(p.numbers, withoutSubjectNumbers(text, subject))) {
    const derived = derivation(fact, p.numbers, sentences.find((s) => s.includes(fact.text)) ?? text);
    if (derived) reasons.push(`derived number: ${derived}`);
    else numbers.push(fact.text);
  }
  scores.new_numbers = numbers.length;
  if (numbers.length > t.maxNewNumbers) invented.push(`numbers not in the original: ${quoteList(numbers)}`);

  const terms = findTerms(p, text, false, subject);
  scores.new_names = terms.names.length;
  if (terms.names.length > t.maxNewNames) invented.push(`names or identifiers not in the original: ${quoteList(terms.names)}`);

  scores.new_terms = terms.terms.length;
  if (terms.terms.length > t.maxNewTerms) invented.push(`terms not in the original: ${quoteList(terms.terms)}`);

  // A cause the original does not give: more causal connectives than it has, in sentences that bring new words.
  const extra = terms.causes.length - p.causes;
  const unsupported = terms.causes.filter((c) => terms.newWordsBySentence[c.sentence].length > 0);
  scores.added_causes = Math.max(0, Math.min(extra, unsupported.length));
  if (scores.added_causes > t.maxAddedCauses) {
    invented.push(`causal claim not in the original: ${quoteList(unsupported.map((c) => c.marker))}`);
  }

  const slack = length - p.length <= t.lengthSlack;
  if (scores.length_ratio > t.maxLengthRatio && !slack) invented.push(`length blow-up: ${scores.length_ratio} times the original`);

  // Cut off at a token limit: facts lost, as in a length collapse.
  const cut = cutOff(original, text);
  if (cut) invented.push(cut);

  if (invented.length) return { verdict: "hallucinated", reasons: [...reasons, ...invented], scores, text };
  if (scores.copy >= t.copy) return { verdict: "copy", reasons: [...reasons, `near-verbatim copy: ${scores.copy} of its word trigrams are the original's`], scores, text };
  // Read after the copy rule: a copy with an odd swap is still a copy.
  const senses = wrongSenses(original, text);
  scores.wrong_senses = senses.length;
  if (senses.length > t.maxWrongSenses) {
    return { verdict: "hallucinated", reasons: [...reasons, `words of another sense: ${quoteList(senses.map((s) => `${s.original} -> ${s.replacement}`))}`], scores, text };
  }
  if (scores.length_ratio < t.minLengthRatio) {
    return { verdict: "hallucinated", reasons: [...reasons, `length collapse: ${scores.length_ratio} of the original`], scores, text };
  }
  return { verdict: "faithful", reasons, scores, text };
}
