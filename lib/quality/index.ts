/**
 * Quality checks of generated rows against their source text: the public entry of lib/quality/.
 *
 * Paraphrases: each is compared with its original (a chunk or one of its paragraphs) and gets one verdict:
 * - `refusal`: the model declined or talked about the task instead of doing it ("Please provide the text");
 * - `hallucinated`: the text says something the original does not (a number, name, identifier, cause or
 *   term that is not there, padding that blows the length up, a meaning that drifted away), or collapsed
 *   to a fraction of the original, or stops mid-sentence where a token limit cut it;
 * - `copy`: (nearly) the original's own words, so it adds no paraphrase noise;
 * - `faithful`: none of the above.
 * Preambles ("Here is a rewritten version:") and postscripts ("Note: all facts were kept") are stripped
 * first and the rest is judged; `text` is what remains.
 *
 * Questions: thin checks over lib/questions.ts (grounding, standing alone, no reasoning, duplicates).
 *
 * Where things are (each file imports only files above it in this list, so there is no import cycle):
 * - types.ts          Verdict, Check, Scores, Thresholds and DEFAULT_THRESHOLDS (why each value), PairInput
 * - text.ts           OCR / LaTeX clean-up, word tokens, sentences, identifier keys, compromise tagging (memoised)
 * - wordnet.ts        WordNet synsets: English word or jargon, synonym or new word
 * - vocabulary.ts     stop words, generic words, causal connectives
 * - abbreviations.ts  short forms: units ("km/h"), clipped words ("config"), acronyms ("ISS"), numeronyms ("K8s")
 * - preamble.ts       preambles and postscripts stripped, refusal phrases
 * - numbers.ts        numbers, dates, times and quantities in normalised forms ("three" = 3, "58:40" = 58 hours 40 minutes)
 * - derived.ts        numbers one arithmetic step from the original's ("0.9 = 0.6 + 0.3"): a reason, not a new number
 * - subject.ts        the corpus's subject (its name, its first heading): names a rewrite may add ("Apollo 13")
 * - original.ts       what a paraphrase is compared with, computed once per original; the copy score
 * - terms.ts          names, identifiers, technical terms and causes the original does not have; corrections of its misspellings are not new
 * - truncation.ts     paraphrases cut off mid-sentence (a code block, table row or bracket left open, "aimed to")
 * - check.ts          checkParaphrase: the rules for one pair, and their order
 * - claims.ts         the Judge interface and splitClaims; nli.ts and judge.ts make judges (createJudge)
 * - batch.ts          checkParaphrases: rules, then embedding drift, then a judge, over many pairs; paraphraseOriginal
 * - pairs-file.ts     kit check-paraphrases: reading .csv / .jsonl pairs, writing verdicts
 * - calibration.ts    precision / recall figures against hand labels (bench/quality.ts)
 * - questions.ts      question checks
 */

export { type Check, type CheckOptions, DEFAULT_THRESHOLDS, type PairInput, type Scores, type Thresholds, type Verdict, VERDICTS } from "./types";
export { fixOcrDigits } from "./text";
export { stripPreamble } from "./preamble";
export { numberFacts } from "./numbers";
export { corpusSubject } from "./subject";
export { copyScore } from "./original";
export { checkParaphrase, newNumbers } from "./check";
export { type BatchCheckOptions, checkParaphrases, paraphraseOriginal } from "./batch";
export { checkPairsFile, type PairCheckRow, type PairRow, readPairs, type ReadPairsOptions } from "./pairs-file";
export { type CalibrationFigures, calibrationFigures, type CalibrationRow } from "./calibration";
export { checkQuestion, checkQuestions, difficultyMix, type QuestionInput, type QuestionRow } from "./questions";
