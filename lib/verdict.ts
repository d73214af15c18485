import type { BuildRecord } from "./pipeline/record";
import type { Mode } from "./environment";
import { percent } from "./html";
import type { Retriever } from "./search";

/**
 * "Can I train on this?": one verdict on a dataset, from what its build.json records, in three tiers.
 *
 * - "smoke test only": a floor that makes training pointless is failed (FLOORS' `blocks`): too few accepted
 *   questions, mostly cloze questions, or a baseline that already finds the chunk in its top 5 almost always.
 *   The pipeline ran; an agent trained on it would learn little about search.
 * - "trainable with caveats": only the other floors are failed (chunks without a question, paraphrase coverage,
 *   the measured difficulty mix, a judge that reads meaning, baselines not measured).
 * - "ready": every floor passed: worth a first training run, not proven good.
 *
 * Each failed floor names what would lift it (LIFTS). kit build writes the verdict into build.json, the notebooks'
 * recordStep too; the build summary, report.html, kit export's output and the dataset card all show that one.
 */

export const TIERS = ["smoke test only", "trainable with caveats", "ready"] as const;
export type Tier = (typeof TIERS)[number];

/** What the tier means, for a reader who sees only that line. */
export const TIER_MEANING: Record<Tier, string> = {
  "smoke test only": "the pipeline ran, but a search agent trained on this would learn little",
  "trainable with caveats": "worth a first training run; read the warnings first",
  ready: "no figure is past its floor: worth a first training run (not proven good)",
};

/**
 * The floors. Each is a plain judgement about a training set for a search agent; `blocks` floors make a dataset a
 * smoke test, the others a caveat.
 */
export const FLOORS = {
  /** Fewer accepted questions than this are a handful of GRPO steps, and every share below is rough. Blocks. */
  minQuestions: 100,
  /** Cloze questions quote their chunk, so word matching finds it: more than half cloze teaches little search. Blocks. */
  maxClozeShare: 0.5,
  /** A baseline retriever that finds the chunk in its top 5 this often leaves an agent nothing to learn. Blocks. */
  maxRecallAt5: 0.95,
  /** Chunks with no accepted question are never a target: at most this share of chunks may have none. */
  maxChunksWithoutQuestion: 0.1,
  /**
   * The paraphrased environment trains an agent to find a passage by its meaning, not its words. Under half of the
   * chunks reworded, it is mostly the original corpus.
   */
  minChunksParaphrased: 0.5,
  /** Each measured difficulty (the rank of the question's chunk when searched) should be at least this share, for a curriculum. */
  minDifficultyShare: 0.1,
} as const;

/** What lifts a failed floor. */
export const LIFTS = {
  llm: "an LLM generator (--llm ollama:<model>)",
  questions: "more questions (a longer corpus, or --questions-per-chunk 3)",
  judge: "a model judge (--judge ollama:<model>)",
  // More rounds help an LLM's paraphrases; a builtin round adds a chunk or two (README, builtin paraphrases).
  coverage: "more coverage rounds for an LLM generator's paraphrases (--coverage-rounds 4)",
  baselines: "the retrieval baselines (kit build measures them; notebooks do not)",
} as const;
export type Lift = keyof typeof LIFTS;

export type Floor = "questions" | "cloze" | "baseline" | "baselines measured" | "chunks without question" | "paraphrase coverage" | "measured difficulty" | "judge";

export interface Finding {
  floor: Floor;
  /** The figure and what it means, as plain text. */
  text: string;
  /** What would lift it (failed floors only). */
  lift?: Lift[];
}

/** build.json's `verdict`. */
export interface Verdict {
  tier: Tier;
  /** The floors failed, the tier's reasons, the blocking ones first. */
  reasons: Finding[];
  /** The floors passed. */
  passed: Finding[];
}

/** What the verdict reads from build.json (a notebook build records fewer figures: a floor with none is skipped). */
export type VerdictInput = Pick<BuildRecord, "counts" | "environments" | "judge"> & Partial<Pick<BuildRecord, "measured_difficulty" | "evaluation">>;

const BLOCKS: readonly Floor[] = ["questions", "cloze", "baseline"];

/** The verdict on a dataset, from its build record. */
export function verdictOf(record: VerdictInput): Verdict {
  const c = record.counts;
  const findings: (Finding & { ok: boolean })[] = [];
  const check = (floor: Floor, ok: boolean, text: string, lift: Lift[]) => findings.push({ floor, ok, text, ...(ok ? {} : { lift }) });
  const n = (value: number) => value.toLocaleString("en-US");
  const accepted = c.questions_accepted ?? 0;

  check(
    "questions",
    accepted >= FLOORS.minQuestions,
    accepted ? `${n(accepted)} accepted questions${accepted < FLOORS.minQuestions ? `, under ${FLOORS.minQuestions}: a handful of training steps, and every share here is rough` : ""}` : "no accepted question: there is nothing to train on",
    ["questions", "llm"],
  );
  if (c.questions_cloze !== undefined && accepted) {
    const share = c.questions_cloze / accepted;
    const over = share > FLOORS.maxClozeShare;
    check("cloze", !over, `${percent(share)} of the accepted questions are cloze (fill a blank in a quoted sentence)${over ? `, over ${percent(FLOORS.maxClozeShare, 0)}: word matching finds their chunk, so an agent learns to look up quotes, not to search` : ""}`, ["llm"]);
  }
  const easiest = record.evaluation?.easiest;
  if (easiest) {
    const over = easiest.recall_at_5 >= FLOORS.maxRecallAt5;
    check(
      "baseline",
      !over,
      `best baseline: ${easiest.retriever} finds the question's chunk in its top 5 for ${percent(easiest.recall_at_5)} of the questions (${easiest.mode} environment)${over ? `; from ${percent(FLOORS.maxRecallAt5, 0)} a trained agent has little to improve on` : ": room for a search agent to beat it"}`,
      ["llm", "coverage"],
    );
  } else if (accepted) check("baselines measured", false, "no retrieval baselines were measured, so how hard the questions are to search for is unknown", ["baselines"]);

  if (c.chunks_without_question !== undefined && c.chunks) {
    const share = c.chunks_without_question / c.chunks;
    const over = share > FLOORS.maxChunksWithoutQuestion;
    check("chunks without question", !over, `${n(c.chunks_without_question)} of ${n(c.chunks)} chunks (${percent(share)}) have no accepted question${over ? `, over ${percent(FLOORS.maxChunksWithoutQuestion, 0)}: they are never a search target` : ""}`, ["questions", "llm"]);
  }
  const paraphrased = record.environments?.paraphrased;
  if (paraphrased) {
    const share = paraphrased.chunks ? paraphrased.by_paraphrase / paraphrased.chunks : 0;
    const under = share < FLOORS.minChunksParaphrased;
    const kept = c.paraphrases_kept !== undefined && c.paraphrases !== undefined ? `; ${n(c.paraphrases_kept)} of ${n(c.paraphrases)} paraphrases were kept` : "";
    check(
      "paraphrase coverage",
      !under,
      `${n(paraphrased.by_paraphrase)} of ${n(paraphrased.chunks)} chunks (${percent(share)}) are covered by a kept paraphrase in the paraphrased environment${kept}${under ? `; under ${percent(FLOORS.minChunksParaphrased, 0)} that environment is mostly the original corpus, so it teaches little about finding a passage by its meaning` : ""}`,
      ["llm", "coverage"],
    );
  }
  const measured = record.measured_difficulty;
  const total = measured ? Object.values(measured).reduce((a, b) => a + b, 0) : 0;
  if (measured && total) {
    const mix = ["easy", "medium", "hard"].map((d) => `${d} ${percent((measured[d] ?? 0) / total)}`).join(", ");
    const thin = ["easy", "medium", "hard"].filter((d) => (measured[d] ?? 0) / total < FLOORS.minDifficultyShare);
    check("measured difficulty", !thin.length, `measured difficulty (the rank of the chunk when the question is searched): ${mix}${thin.length ? `; ${thin.join(" and ")} under ${percent(FLOORS.minDifficultyShare, 0)}, too few for a curriculum` : ""}`, ["llm", "coverage"]);
  }
  if ((c.paraphrases_kept ?? 0) > 0) {
    const rules = record.judge === "rules";
    check("judge", !rules, rules ? "the kept paraphrases were judged by the rules alone, which do not see a changed meaning (negation, order, causes)" : `the kept paraphrases were judged by the rules and ${record.judge}`, ["judge"]);
  }

  const reasons = findings.filter((f) => !f.ok).sort((a, b) => Number(BLOCKS.includes(b.floor)) - Number(BLOCKS.includes(a.floor)));
  const tier: Tier = reasons.some((f) => BLOCKS.includes(f.floor)) ? "smoke test only" : reasons.length ? "trainable with caveats" : "ready";
  const strip = ({ ok: _, ...finding }: Finding & { ok: boolean }): Finding => finding;
  return { tier, reasons: reasons.map(strip), passed: findings.filter((f) => f.ok).map(strip) };
}

/** build.json's verdict; for one written before the kit recorded it, computed from the figures it does record. */
export const recordVerdict = (record: VerdictInput & { verdict?: Verdict }): Verdict => record.verdict ?? verdictOf(record);

/** The easiest baseline of a retrieval evaluation (eval.json): the highest recall@5 over every mode and retriever. */
export function easiestBaseline(questions: Record<string, { retrievers: Record<string, { recall: Record<string, number> }> }>): { mode: Mode; retriever: Retriever; recall_at_5: number } | undefined {
  const all = Object.entries(questions).flatMap(([mode, set]) => Object.entries(set.retrievers).map(([retriever, s]) => ({ mode: mode as Mode, retriever: retriever as Retriever, recall_at_5: s.recall["5"] ?? NaN })));
  return all.filter((b) => Number.isFinite(b.recall_at_5)).sort((a, b) => b.recall_at_5 - a.recall_at_5)[0];
}

/** A failed floor's lifts, as words. */
export const liftText = (finding: Finding) => (finding.lift ?? []).map((l) => LIFTS[l]).join(" or ");

/** What would lift the tier: the distinct lifts of the floors that hold it where it is (the blocking ones for a smoke test). */
export function tierLifts(verdict: Verdict): string[] {
  const holding = verdict.tier === "smoke test only" ? verdict.reasons.filter((f) => BLOCKS.includes(f.floor)) : verdict.reasons;
  return [...new Set(holding.flatMap((f) => f.lift ?? []))].map((l) => LIFTS[l]);
}

/** The verdict as lines of text (the build summary, kit export): the tier, then each failed floor and its lift. */
export function verdictLines(verdict: Verdict): string[] {
  return [
    `verdict: ${verdict.tier} (${TIER_MEANING[verdict.tier]})`,
    ...verdict.reasons.map((f) => `  - ${f.text}; to lift: ${liftText(f)}`),
  ];
}

/** Below "trainable with caveats": one warning line naming what would lift the tier; else nothing. */
export function tierWarning(verdict: Verdict): string[] {
  if (verdict.tier !== "smoke test only") return [];
  return [`warning: this dataset is a smoke test only; to train on it, lift it with ${tierLifts(verdict).join(", ")}`];
}

/** One row per floor checked, failed ones first: the notebook's table. */
export function verdictRows(verdict: Verdict): { floor: string; result: string; figure: string; "to lift": string }[] {
  return [
    ...verdict.reasons.map((f) => ({ floor: f.floor, result: BLOCKS.includes(f.floor) ? "blocks" : "caveat", figure: f.text, "to lift": liftText(f) })),
    ...verdict.passed.map((f) => ({ floor: f.floor, result: "ok", figure: f.text, "to lift": "" })),
  ];
}
