// How well the paraphrase checks of lib/quality/ find hallucinated rows, on the two labelled sets:
// - test/fixtures/paraphrase-calibration.jsonl: Apollo 13 and KEP paraphrases the rules were first written on
//   (split "dev"; "heldout" rows were written after those rules were fixed);
// - test/fixtures/paraphrase-generalisation.jsonl: 330 paraphrases of 66 other texts (KEPs, prose), split by
//   original into "dev" (rules were rebalanced looking at these) and "heldout" (never looked at while tuning).
//
//   node_modules/.bin/tsx bench/quality.ts [--no-heldout] [--embedder] [--threads N]
//
// For each set and split it prints, for the rules alone and for the rules followed by the kit's judge
// aggregation (checkParaphrases(..., { judge }): every row the rules keep is split into claims, and any claim the
// judge finds unsupported makes it hallucinated) with two scripted judges:
// - "lexical": a claim is unsupported when it holds a number (digits, thousands separators dropped) the original
//   does not have, or when more than a third of its content words (4+ letters, not a function word) start with five
//   letters no word of the original starts with: a crude, offline stand-in for a fact checker, which takes
//   synonyms for new facts (with "any new content word" instead of "a third", it kept 3-8% of the faithful dev rows);
// - "oracle": reads the labels: every claim of a row labelled hallucinated is unsupported, every other claim
//   supported. It is the aggregation's upper bound: what a perfect claim checker would give behind these rules
//   (rows the rules reject stay rejected, and a row with no claim long enough to judge stays kept).
// Figures: precision and recall of the "hallucinated" verdict, the share of hallucinated rows among those kept
// (verdict faithful), and the share of faithful rows kept.
//
// --no-heldout prints dev rows only: use it while changing rules, so held-out figures are read once, at the end.
// --embedder adds the rules + use-lite embedding drift check (slow on two cores).
import * as path from "node:path";
import { createEmbedder } from "../lib/embedders";
import { readJsonl } from "../lib/files";
import { type CalibrationRow, calibrationFigures, type Check, checkParaphrase, checkParaphrases, type Verdict } from "../lib/quality";
import { type ClaimVerdict, type Judge, splitClaims } from "../lib/quality/claims";

const args = process.argv.slice(2);
const withHeldout = !args.includes("--no-heldout");
const useEmbedder = args.includes("--embedder");
const threadsAt = args.indexOf("--threads");
const threads = threadsAt >= 0 ? Number(args[threadsAt + 1]) : undefined;

interface LabelledSet {
  name: string;
  rows: CalibrationRow[];
  /** Subsets printed: name and row filter. */
  splits: [string, (r: CalibrationRow) => boolean][];
}

const fixture = (name: string) => readJsonl<CalibrationRow>(path.join(__dirname, `../test/fixtures/${name}.jsonl`));
const keep = (rows: CalibrationRow[]) => (withHeldout ? rows : rows.filter((r) => r.split === "dev"));
const SETS: LabelledSet[] = [
  {
    name: "calibration (Apollo 13, KEPs)",
    rows: keep(fixture("paraphrase-calibration")),
    splits: withHeldout
      ? [
          ["all", () => true],
          ["dev", (r) => r.split === "dev"],
          ["heldout", (r) => r.split === "heldout"],
        ]
      : [["dev", () => true]],
  },
  {
    name: "generalisation (other texts)",
    rows: keep(fixture("paraphrase-generalisation")),
    splits: withHeldout
      ? [
          ["dev", (r) => r.split === "dev"],
          ["heldout", (r) => r.split === "heldout"],
        ]
      : [["dev", () => true]],
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Scripted judges

const FUNCTION_WORDS = new Set(
  "about above after again also although among another because been before being below between both cannot could does doing done down during each either even every from further have having here into itself just later many more most much must neither never none once only other over same shall should since some such than that their them then there these they this those though through thus till under unless until upon very were what when where whether which while whom whose will with within without would your".split(
    " ",
  ),
);
const wordsOf = (text: string) => text.toLowerCase().match(/\p{L}+/gu) ?? [];
const numbersOf = (text: string) => (text.replace(/(\d),(?=\d{3}\b)/g, "$1").match(/\d+(?:\.\d+)?/g) ?? []).map((n) => String(Number(n)));

/** The lexical stand-in for a fact checker (see the head of this file). */
function lexicalJudge(): Judge {
  const memo = new Map<string, { stems: Set<string>; numbers: Set<string> }>();
  const known = (original: string) => {
    let k = memo.get(original);
    if (!k) memo.set(original, (k = { stems: new Set(wordsOf(original).map((w) => w.slice(0, 5))), numbers: new Set(numbersOf(original)) }));
    return k;
  };
  return {
    spec: "scripted:lexical",
    async judge(original, claims): Promise<ClaimVerdict[]> {
      const k = known(original);
      return claims.map((claim) => {
        const content = wordsOf(claim).filter((w) => w.length >= 4 && !FUNCTION_WORDS.has(w));
        const newWords = content.filter((w) => !k.stems.has(w.slice(0, 5))).length;
        const newNumber = numbersOf(claim).some((n) => !k.numbers.has(n));
        return { claim, supported: !newNumber && newWords * 3 <= content.length };
      });
    },
    close: async () => {},
  };
}

/** The oracle: a row's claims are unsupported exactly when the row is labelled hallucinated (see the head of this file). */
function oracleJudge(rows: readonly CalibrationRow[], checks: readonly Check[]): Judge {
  const label = new Map<string, Verdict>();
  rows.forEach((r, i) => label.set(`${r.original}\u0000${splitClaims(checks[i].text).join("\n")}`, r.label));
  return {
    spec: "scripted:oracle",
    async judge(original, claims): Promise<ClaimVerdict[]> {
      const hallucinated = label.get(`${original}\u0000${claims.join("\n")}`) === "hallucinated";
      return claims.map((claim) => ({ claim, supported: !hallucinated }));
    },
    close: async () => {},
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Report

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function report(set: LabelledSet, modes: [string, Check[]][]): void {
  console.log(`\n${set.name}`);
  console.log("split     rows  checks                 halluc.precision  halluc.recall  kept.hallucinated  faithful.kept");
  for (const [split, inSplit] of set.splits) {
    const idx = set.rows.flatMap((r, i) => (inSplit(r) ? [i] : []));
    if (!idx.length) continue;
    for (const [mode, checks] of modes) {
      const f = calibrationFigures(idx.map((i) => set.rows[i]), idx.map((i) => checks[i]));
      console.log(
        `${split.padEnd(8)} ${String(idx.length).padStart(5)}  ${mode.padEnd(21)} ${pct(f.precision).padStart(16)}  ${pct(f.recall).padStart(13)}  ${pct(f.keptHallucinated).padStart(17)}  ${pct(f.faithfulKept).padStart(13)}`,
      );
    }
  }
  const [, rules] = modes[0];
  const confusion = new Map<string, number>();
  set.rows.forEach((r, i) => confusion.set(`${r.label} -> ${rules[i].verdict}`, (confusion.get(`${r.label} -> ${rules[i].verdict}`) ?? 0) + 1));
  console.log(`label -> verdict (rules, ${withHeldout ? "all rows" : "dev rows"}):`, [...confusion].sort().map(([k, n]) => `${k}: ${n}`).join(", "));
}

async function main(): Promise<void> {
  const embedder = useEmbedder ? await createEmbedder("use-lite", threads ? { threads } : {}) : undefined;
  try {
    for (const set of SETS) {
      const start = performance.now();
      const rules = set.rows.map((r) => checkParaphrase(r.original, r.paraphrase));
      const seconds = (performance.now() - start) / 1000;
      const lexical = await checkParaphrases(set.rows, { judge: lexicalJudge() });
      const oracle = await checkParaphrases(set.rows, { judge: oracleJudge(set.rows, rules) });
      const modes: [string, Check[]][] = [
        ["rules", rules],
        ["rules + lexical judge", lexical],
        ["rules + oracle judge", oracle],
      ];
      if (embedder) modes.push(["rules + use-lite", await checkParaphrases(set.rows, { embedder })]);
      report(set, modes);
      console.log(`(rules: ${set.rows.length} rows in ${seconds.toFixed(1)} s, including WordNet and compromise loading for the first set)`);
    }
  } finally {
    await embedder?.close?.();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
