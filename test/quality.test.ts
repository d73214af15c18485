import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Embedder } from "../lib/embedders";
import { builtinParaphrase } from "../lib/generators/builtin";
import { KitError } from "../lib/errors";
import { readJsonl } from "../lib/files";
import {
  type CalibrationRow,
  calibrationFigures,
  checkPairsFile,
  checkParaphrase,
  checkParaphrases,
  checkQuestion,
  checkQuestions,
  copyScore,
  corpusSubject,
  paraphraseOriginal,
  DEFAULT_THRESHOLDS,
  difficultyMix,
  fixOcrDigits,
  newNumbers,
  readPairs,
  stripPreamble,
} from "../lib/quality";
import { profile } from "../lib/quality/original";
import { findTerms } from "../lib/quality/terms";
import { createGenerator } from "../lib/generators";
import { generateParaphrases, resolveStyles } from "../lib/paraphrase";
import { startOllamaServer } from "./helpers/ollama-server";
import { loadCorpus } from "../lib/corpus";
import { cutOff } from "../lib/quality/truncation";

const APOLLO =
  "The command module was completely powered down at 58 hours 40 minutes , at which time 99 ampere-hours remained in the three entry batteries. By charging the batteries with lunar module power, available battery capacity was increased to ll8 ampere-hours. At landing, 29 ampere-hours of energy remained.";
const APOLLO_REWRITE =
  "At 58:40 the command module was fully shut down, leaving 99 ampere-hours in its three entry batteries. Charging them with power from the lunar module raised the available capacity to 118 ampere-hours, and 29 ampere-hours were left when the spacecraft landed.";
const KEP =
  "If you want to enable the feature in v1.33, you need to make sure the `CPUManagerPolicyBetaOptions` feature gate is not disabled and add the `strict-cpu-reservation` policy option. Remember to remove the `/var/lib/kubelet/cpu_manager_state` file before restarting kubelet.";
const KEP_REWRITE =
  "To turn the feature on in v1.33, make sure the `CPUManagerPolicyBetaOptions` feature gate has not been disabled and add the `strict-cpu-reservation` policy option. Delete the `/var/lib/kubelet/cpu_manager_state` file before you restart the kubelet.";

const verdict = (original: string, paraphrase: string) => checkParaphrase(original, paraphrase).verdict;

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "kit-quality-"));
}

test("faithful rewrites pass, with their scores", () => {
  const check = checkParaphrase(APOLLO, APOLLO_REWRITE);
  assert.is(check.verdict, "faithful", check.reasons.join("; "));
  assert.equal(check.reasons, []);
  assert.is(check.text, APOLLO_REWRITE);
  assert.ok(check.scores.copy < DEFAULT_THRESHOLDS.copy);
  assert.is(check.scores.new_numbers, 0);
  assert.is(check.scores.new_names, 0);
  assert.is(verdict(KEP, KEP_REWRITE), "faithful");
});

test("preambles and postscripts are stripped and the rest judged; the stripped text is returned", () => {
  const cases = [
    "Here is a rewritten version of the text:\n\n",
    "Sure! Here's a paraphrased version:\n\n",
    "**Paraphrased version:**\n\n",
    "Rewritten text:\n",
    "Certainly! Here is the text rewritten in different words:\n",
    "Sure! ",
    "Here is the rewritten text: ",
  ];
  for (const preamble of cases) {
    const check = checkParaphrase(KEP, preamble + KEP_REWRITE);
    assert.is(check.text, KEP_REWRITE, preamble);
    assert.is(check.verdict, "faithful", preamble);
    assert.match(check.reasons[0], /^preamble stripped: "/);
  }
  const withNote = checkParaphrase(KEP, `${KEP_REWRITE}\n\nNote: all identifiers were kept exactly as in the original.\nI hope this helps!`);
  assert.is(withNote.text, KEP_REWRITE);
  assert.is(withNote.verdict, "faithful");
  assert.match(withNote.reasons.join("\n"), /postscript stripped: "Note: all identifiers/);
  // A preamble does not hide what follows it.
  assert.is(verdict(APOLLO, `Here is a rewritten version:\n\n${APOLLO_REWRITE.replace("29", "21")}`), "hallucinated");
  // Words the original itself opens with are not a preamble.
  const original = "Here is the list of supported runtimes: containerd and CRI-O.";
  assert.is(stripPreamble("Here is the list of supported runtimes: containerd and CRI-O.", original).preamble, "");
  assert.is(stripPreamble('"The module was powered down."').text, "The module was powered down.");
});

test("refusals and meta-talk are refusals; the original's own wording is not", () => {
  for (const answer of [
    "I'm sorry, but I can't help with rewriting this text.",
    "Please provide the text you would like me to rewrite.",
    "As an AI language model, I don't have access to your cluster.",
    "It seems like you haven't provided any text to paraphrase. Please share it and I'll be happy to help!",
    "Sure! However, I need the original text in order to paraphrase it.",
    "The text provided is only a figure caption, so there is not enough content to paraphrase.",
    "",
  ]) {
    const check = checkParaphrase(APOLLO, answer);
    assert.is(check.verdict, "refusal", answer);
    assert.ok(check.scores.refusal > 0 || answer === "");
  }
  const original = "If the check fails, the kubelet cannot start the pod and I cannot recommend any workaround.";
  assert.is(verdict(original, "The kubelet cannot start the pod when the check fails, and I cannot recommend any workaround."), "faithful");
});

test("near-verbatim copies are copies; a copy with a changed fact is hallucinated", () => {
  assert.is(verdict(APOLLO, APOLLO), "copy");
  const ocrFixed = APOLLO.replace("ll8", "118").replace(" ,", ",");
  assert.is(verdict(APOLLO, ocrFixed), "copy");
  const reordered = APOLLO.split(/(?<=\.) /).reverse().join(" ");
  assert.is(verdict(APOLLO, reordered), "copy");
  assert.is(copyScore(APOLLO, APOLLO), 1);
  assert.ok(copyScore(APOLLO, APOLLO_REWRITE) < 0.5);
  assert.is(verdict(APOLLO, APOLLO.replace("29 ampere-hours", "21 ampere-hours")), "hallucinated");
});

test("length blow-up and collapse", () => {
  const caption = "Figure 7.l-l.- Entry battery energy.";
  assert.is(verdict(caption, "Figure 7.1-1: Energy of the entry batteries."), "faithful");
  const padded = checkParaphrase(
    caption,
    "Figure 7.1-1 shows the entry battery energy, illustrating how carefully the remaining power in the batteries was managed to ensure a safe re-entry.",
  );
  assert.is(padded.verdict, "hallucinated");
  assert.match(padded.reasons.join("\n"), /length blow-up/);
  const collapsed = checkParaphrase(APOLLO, "The command module was shut down.");
  assert.is(collapsed.verdict, "hallucinated");
  assert.match(collapsed.reasons.join("\n"), /length collapse/);
});

test("number normalisation: equal values in other forms are not new", () => {
  const same: [string, string][] = [
    ["powered down at 58 hours 40 minutes", "powered down at 58:40"],
    ["landing at 142:54:4l", "landing at 142 hours 54 minutes 41 seconds"],
    ["a total of 1,000 pods", "a total of 1000 pods"],
    ["reactivated four times", "reactivated 4 times"],
    ["within 3 seconds", "within three seconds"],
    ["twenty-five pods", "25 pods"],
    ["85% of the memory", "85 percent of the memory"],
    ["the default 0.8 factor", "the default factor of 80%"],
    ["increased to ll8 ampere-hours in Apollo l3", "increased to 118 ampere-hours in Apollo 13"],
    ["separated $\\scriptstyle4-3/4$ hours before entry", "separated 4 hours 45 minutes before entry"],
    ["until its removal in Kubernetes v1.33", "until Kubernetes 1.33 removes it"],
    ["2l degrees 38 minutes 24 seconds south", "21°38'24\" south"],
    ["discussed in 14 .2.5", "discussed in section 14.2.5"],
    ["an hour before entry", "1 hour before entry"],
    ["nearly twice the time", "nearly 2 times the time"],
    ["3.75Gb of memory", "3.75 Gb of memory"],
  ];
  for (const [original, paraphrase] of same) assert.equal(newNumbers(original, paraphrase), [], `${original} / ${paraphrase}`);
  const changed: [string, string, string[]][] = [
    ["at landing, 29 ampere-hours remained", "at landing, 21 ampere-hours remained", ["21"]],
    ["reactivated four times", "reactivated five times", ["5"]],
    ["powered down at 58 hours 40 minutes", "powered down at 58:45", ["58:45"]],
    ["within 45 minutes", "within 35 minutes", ["35 minutes"]],
    ["until removal in v1.33", "until removal in v1.32", ["v1.32"]],
    ["85% of the memory", "95% of the memory", ["95%"]],
    ["2 extra checks", "3 extra checks", ["3"]],
  ];
  for (const [original, paraphrase, expected] of changed) assert.equal(newNumbers(original, paraphrase), expected, `${original} / ${paraphrase}`);
  // Digits inside identifiers are the identifier check's, not numbers.
  assert.equal(newNumbers("tests run in pods", "e2e tests run in k8s pods of v2beta1"), []);
  assert.is(fixOcrDigits("Apollo l3 landed at 6l:29:44; tank l and l hour ll minutes"), "Apollo 13 landed at 61:29:44; tank 1 and 1 hour 11 minutes");
});

test("names, identifiers and technical terms not in the original are hallucinations", () => {
  const newOnes: [string, string, RegExp][] = [
    [APOLLO, APOLLO_REWRITE.replace("the spacecraft landed", "the spacecraft landed near the USS Iwo Jima"), /"USS"/],
    [APOLLO, `${APOLLO_REWRITE} Commander James Lovell confirmed it.`, /"James"/],
    [KEP, KEP_REWRITE.replace("strict-cpu-reservation", "full-pcpus-only"), /"full-pcpus-only"/],
    [KEP, KEP_REWRITE.replace("`CPUManagerPolicyBetaOptions`", "CPUManagerPolicyAlphaOptions"), /"CPUManagerPolicyAlphaOptions"/],
    [KEP, `${KEP_REWRITE} See KEP-1287.`, /"KEP-1287"/],
    [KEP, KEP_REWRITE.replace("the kubelet", "the kubelet and the DSKY"), /"DSKY"/],
    [KEP, KEP_REWRITE.replace("cpu_manager_state", "memory_manager_state"), /memory_manager_state/],
  ];
  for (const [original, paraphrase, name] of newOnes) {
    const check = checkParaphrase(original, paraphrase);
    assert.is(check.verdict, "hallucinated", paraphrase);
    assert.match(check.reasons.join("\n"), /names or identifiers not in the original/);
    assert.match(check.reasons.join("\n"), name);
  }
  // The same names, in another case, split by OCR or at a sentence start, are not new.
  const original = "The S-IvB stage of Apollo l3 was targeted at the moon; Houston tracked it.";
  assert.is(verdict(original, "Houston tracked the S-IVB stage of Apollo 13, which had been aimed at the moon."), "faithful");

  const components = "The system l fuel isolation valve was found open, and the container runtime mounts the cgroup filesystem with write permissions.";
  const swaps: [string, RegExp][] = [
    ["The system 1 oxidizer isolation valve was found open, and the container runtime mounts the cgroup filesystem writable.", /"oxidizer isolation"/],
    ["The system 1 fuel isolation valve was found open, and the kubelet mounts the cgroup filesystem with write permissions.", /"kubelet"/],
    ["A failed coolant pump left the system 1 fuel isolation valve open, and the container runtime mounts the cgroup filesystem writable.", /"coolant pump"/],
  ];
  for (const [paraphrase, term] of swaps) {
    const check = checkParaphrase(components, paraphrase);
    assert.is(check.verdict, "hallucinated", paraphrase);
    assert.match(check.reasons.join("\n"), term);
    assert.ok(check.scores.new_terms > 0);
  }
  // Synonyms and new ordinary words are not new terms.
  assert.is(verdict("An abrupt loss of pressure followed, with a greatly reduced thermal load.", "A sudden pressure loss followed, and the thermal load was much smaller."), "faithful");
});

test("code spans: a new one is an identifier; prose between stray backticks is judged by its words", () => {
  assert.is(verdict(KEP, KEP_REWRITE.replace("`strict-cpu-reservation`", "`strict-cpu-reservation` and `prefer-align-cpus`")), "hallucinated");
  const original = "Set `a` in the spec. The `b` field is optional and `c defaults to the go name.";
  assert.is(verdict(original, "In the spec, set `a`. The field `b` is optional, and `c defaults to the go name."), "faithful");
});

test("an added cause is a hallucination; a restated one is not", () => {
  const original = "Fuel cell 3 condenser exit temperature varied periodically, as on all previous flights. Fuel cells l and 3 lost power and were shut down.";
  const added = checkParaphrase(original, "Fuel cell 3 condenser exit temperature varied periodically because of a failing thermostat, as on all previous flights. Fuel cells 1 and 3 lost power and were shut down.");
  assert.is(added.verdict, "hallucinated");
  assert.match(added.reasons.join("\n"), /causal claim not in the original: "because"/);
  const withCause = "The operation is only executed inside MountVolume, hence resizing is offline only.";
  assert.is(verdict(withCause, "Resizing is offline only because the operation is only executed inside MountVolume."), "faithful");
});

test("paraphraseOriginal: a row's chunk, or the chunk's paragraph", () => {
  const chunk = { chunk_id: "chunk_1", text: "First paragraph.\n\nSecond paragraph.", source: "a.md", start: 0, end: 35 };
  const chunks = new Map([[chunk.chunk_id, chunk]]);
  assert.is(paraphraseOriginal({ paraphrase_id: "p1", chunk_id: "chunk_1", paragraph_index: null }, chunks), chunk.text);
  assert.is(paraphraseOriginal({ paraphrase_id: "p2", chunk_id: "chunk_1", paragraph_index: 1 }, chunks), "Second paragraph.");
  assert.throws(() => paraphraseOriginal({ paraphrase_id: "p3", chunk_id: "chunk_9", paragraph_index: null }, chunks), /paraphrase p3: chunk chunk_9 is not in the chunks/);
  assert.throws(() => paraphraseOriginal({ paraphrase_id: "p4", chunk_id: "chunk_1", paragraph_index: 5 }, chunks), /has no paragraph 5/);
});

test("thresholds are configurable and checked", () => {
  const paraphrase = APOLLO_REWRITE.replace("29", "21");
  assert.is(verdict(APOLLO, paraphrase), "hallucinated");
  assert.is(checkParaphrase(APOLLO, paraphrase, { thresholds: { maxNewNumbers: 1 } }).verdict, "faithful");
  assert.is(checkParaphrase(APOLLO, APOLLO_REWRITE, { thresholds: { copy: 0.1 } }).verdict, "copy");
  assert.throws(() => checkParaphrase(APOLLO, APOLLO_REWRITE, { thresholds: { copy: Number.NaN } }), (e: unknown) => e instanceof KitError && /threshold copy/.test((e as Error).message));
});

/** Unit vectors from a lookup: texts with the same key point the same way, other keys are orthogonal. */
function fakeEmbedder(key: (text: string) => number): Embedder & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    spec: "fake",
    dimension: 4,
    calls,
    async embed(texts) {
      calls.push(texts);
      return texts.map((t) => {
        const v = new Float32Array(4);
        v[key(t) % 4] = 1;
        return v;
      });
    },
  };
}

test("semantic drift: low embedding similarity is hallucinated; texts are embedded in one call", async () => {
  const offTopic = "The crew moved into the lunar module, which served as a lifeboat, and rationed water until entry.";
  const embedder = fakeEmbedder((t) => (t === offTopic ? 1 : 0));
  const checks = await checkParaphrases(
    [
      { original: APOLLO, paraphrase: APOLLO_REWRITE },
      { original: APOLLO, paraphrase: offTopic },
      { original: APOLLO, paraphrase: "Please provide the text." },
    ],
    { embedder },
  );
  assert.is(embedder.calls.length, 1);
  assert.equal(new Set(embedder.calls[0]), new Set([APOLLO, APOLLO_REWRITE, offTopic]));
  assert.is(checks[0].verdict, "faithful");
  assert.is(checks[0].scores.similarity, 1);
  assert.is(checks[1].verdict, "hallucinated");
  assert.is(checks[1].scores.similarity, 0);
  assert.match(checks[1].reasons.join("\n"), /meaning drifted: embedding similarity 0 < /);
  assert.is(checks[2].verdict, "refusal");
  assert.is(checks[2].scores.similarity, undefined);
  // An abort between rows stops the run.
  const stop = new AbortController();
  stop.abort(new Error("stopped"));
  const aborted = await checkParaphrases([{ original: APOLLO, paraphrase: APOLLO_REWRITE }], { embedder, signal: stop.signal }).catch((e: Error) => e.message);
  assert.is(aborted, "stopped");
  // Without an embedder nothing is embedded and there is no similarity score.
  const plain = await checkParaphrases([{ original: APOLLO, paraphrase: offTopic }]);
  assert.is(plain[0].scores.similarity, undefined);
});

test("question checks: grounding, standing alone, no reasoning, duplicates, difficulty mix", () => {
  const chunk = "The command module was powered down at 58 hours 40 minutes, when 99 ampere-hours remained in the entry batteries.";
  assert.equal(checkQuestion({ question: "How many ampere-hours remained in the entry batteries at power-down?", answer: "99 ampere-hours", difficulty: "easy" }, chunk), []);
  assert.equal(checkQuestion({ question: "How much battery capacity remained?", answer: "120 ampere-hours", difficulty: "easy" }, chunk), ["answer not found in its chunk (ungrounded)"]);
  assert.equal(checkQuestion({ question: "According to the passage, when was the module powered down?", answer: "58 hours 40 minutes", difficulty: "medium" }, chunk), [
    "question refers to the passage instead of standing alone",
  ]);
  assert.equal(checkQuestion({ question: "When was the module powered down?", answer: "58 hours 40 minutes, because power was low", difficulty: "hard" }, chunk), [
    "answer narrates reasoning",
    "answer not found in its chunk (ungrounded)",
  ]);
  const rows = [
    { chunk_id: "c1", question: "How many ampere-hours remained in the entry batteries?", answer: "99 ampere-hours", difficulty: "easy" },
    { chunk_id: "c1", question: "How many ampere-hours remained in the entry batteries?", answer: "99", difficulty: "easy" },
    { chunk_id: "c2", question: "What is in the missing chunk?", answer: "x", difficulty: "easy" },
  ];
  const results = checkQuestions(rows, (id) => (id === "c1" ? chunk : undefined));
  assert.equal(results[0], { row: 1, reasons: [] });
  assert.equal(results[1], { row: 2, reasons: ["near-duplicate of row 1"] });
  assert.equal(results[2], { row: 3, reasons: ["chunk c2 not found"] });
  assert.equal(difficultyMix([{ difficulty: "easy" }, { difficulty: "Hard" }, { difficulty: "hard" }, { difficulty: "" }, {}]), { easy: 1, medium: 0, hard: 2, other: 2 });
});

test("readPairs: CSV with quoted commas, quotes and line breaks; JSONL; chosen columns", () => {
  const dir = tmpDir();
  const csv = path.join(dir, "pairs.csv");
  fs.writeFileSync(csv, 'id,src,para\n1,"a, b","He said ""hi""\nthen left"\n2,plain,text\n');
  assert.equal(readPairs(csv, { originalCol: "src", paraphraseCol: "para" }), [
    { row: 1, original: "a, b", paraphrase: 'He said "hi"\nthen left' },
    { row: 2, original: "plain", paraphrase: "text" },
  ]);
  const jsonl = path.join(dir, "pairs.jsonl");
  fs.writeFileSync(jsonl, '{"original": "o1", "paraphrase": "p1"}\n\n{"original": "o2", "paraphrase": "p2", "extra": 1}\n');
  assert.equal(readPairs(jsonl), [
    { row: 1, original: "o1", paraphrase: "p1" },
    { row: 2, original: "o2", paraphrase: "p2" },
  ]);
});

test("readPairs: malformed CSV, missing columns, bad JSON and empty files are one-line KitErrors naming file and row", () => {
  const dir = tmpDir();
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const fails = (file: string, pattern: RegExp, options = {}) =>
    assert.throws(
      () => readPairs(file, options),
      (e: unknown) => e instanceof KitError && pattern.test((e as Error).message) && !(e as Error).message.includes("\n") && (e as Error).message.includes(file),
    );
  fails(write("open.csv", 'original,paraphrase\n"never closed,x\n'), /:2: malformed CSV \(Quote Not Closed/);
  fails(write("width.csv", "original,paraphrase\na,b,c\n"), /:2: malformed CSV \(Invalid Record Length/);
  fails(write("cols.csv", "text,rewrite\na,b\n"), /row 1 has no "original" column \(columns: text, rewrite\); choose one with --original-col/);
  fails(write("cols2.csv", "original,rewrite\na,b\n"), /no "paraphrase" column.*--paraphrase-col/);
  fails(write("empty.csv", ""), /empty file/);
  fails(write("header.csv", "original,paraphrase\n"), /no rows after the header/);
  fails(write("blank-original.csv", "original,paraphrase\n,b\n"), /row 1: "original" is empty/);
  fails(write("bad.jsonl", '{"original": "a", "paraphrase": "b"}\n{oops\n'), /:2: not valid JSON/);
  fails(write("missing.jsonl", '{"original": "a", "paraphrase": "b"}\n{"original": "a"}\n'), /row 2 \(line 2\) has no "paraphrase" column/);
  fails(write("number.jsonl", '{"original": "a", "paraphrase": 3}\n'), /"paraphrase" is not a string/);
  fails(write("pairs.tsv", "a\tb\n"), /unsupported file type "\.tsv"/);
  fails(path.join(dir, "absent.csv"), /cannot read it/);
});

test("checkPairsFile writes one line per input row, in input order, and counts verdicts", async () => {
  const dir = tmpDir();
  const input = path.join(dir, "in.csv");
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const pairs = [
    [APOLLO, APOLLO_REWRITE],
    [APOLLO, "Please provide the text you would like me to rewrite."],
    [APOLLO, APOLLO],
    [KEP, KEP_REWRITE.replace("v1.33", "v1.32")],
  ];
  fs.writeFileSync(input, `original,paraphrase\n${pairs.map((p) => p.map(quote).join(",")).join("\n")}\n`);
  const output = path.join(dir, "out", "checks.jsonl");
  const counts = await checkPairsFile(input, output);
  assert.equal(counts, { faithful: 1, hallucinated: 1, refusal: 1, copy: 1 });
  const rows = readJsonl<{ row: number; verdict: string; reasons: string[]; scores: Record<string, number> }>(output);
  assert.equal(rows.map((r) => [r.row, r.verdict]), [
    [1, "faithful"],
    [2, "refusal"],
    [3, "copy"],
    [4, "hallucinated"],
  ]);
  assert.equal(Object.keys(rows[0]), ["row", "verdict", "reasons", "scores"]);
  assert.match(rows[3].reasons.join("\n"), /numbers not in the original: "v1.32"/);
  assert.equal(fs.readdirSync(path.dirname(output)), ["checks.jsonl"], "no temp file left behind");
});

test("number words before punctuation are numbers: 'The crew of three.' is 'The crew of 3.'", () => {
  for (const [original, paraphrase] of [
    ["The crew of three.", "The crew of 3."],
    ["three people", "3 people"],
    ["The crew of 3.", "A crew of three."],
    ["It had two tanks, three valves; and four pumps!", "It had 2 tanks, 3 valves and 4 pumps."],
    ["Within several seconds, two other shorts occurred.", "2 more shorts occurred within seconds."],
    ["a ten-second burn", "a 10-second burn"],
    ["forty-five seconds after lift-off", "45 seconds after lift-off"],
    ["one hundred and twenty pods", "120 pods"],
    ["two dozen pods", "24 pods"],
  ]) {
    const check = checkParaphrase(original, paraphrase);
    assert.is(check.scores.new_numbers, 0, `${original} -> ${paraphrase}: ${check.reasons.join("; ")}`);
  }
  assert.equal(newNumbers("The crew of three.", "The crew of 4."), ["4"]);
  assert.equal(newNumbers("three and four tanks", "three and five tanks"), ["5"]);
  assert.equal(newNumbers("3 million miles", "three million miles"), ["3000000"], "spelled scale words make the number");
  assert.equal(newNumbers("within a few millionths of a kelvin", "within a few thousandths of a kelvin"), ["thousandths"]);
  assert.equal(newNumbers("The needles were nulled.", "The crew had to zero out the needles."), [], "zero out is a verb");
});

test("numbered lists do not number facts", () => {
  const original = "Go to the eyewash station, flush both eyes for 15 minutes, then report the incident to the supervisor.";
  assert.is(verdict(original, "If it happens:\n1. Go to the eyewash station.\n2. Flush both eyes for 15 minutes.\n3. Report the incident to the supervisor."), "faithful");
  assert.is(verdict(original, "- 1) Go to the eyewash station.\n- 2) Flush both eyes for 15 minutes.\n- 3) Report the incident to the supervisor."), "faithful");
  assert.equal(newNumbers(original, "1. Go to the eyewash station.\n2. Flush both eyes for 20 minutes.\n3. Report the incident."), ["20 minutes"]);
});

test("short forms of the original's words are not new names or terms; other new ones are", () => {
  const iss = "The International Space Station orbits Earth at about 400 kilometres, travelling at roughly 28,000 kilometres per hour.";
  assert.is(verdict(iss, "The ISS orbits Earth at about 400 km, travelling at roughly 28000 km/h."), "faithful");
  const nsa = checkParaphrase(iss, "The NSA orbits Earth at about 400 km, travelling at roughly 28000 km/h.");
  assert.is(nsa.verdict, "hallucinated");
  assert.match(nsa.reasons.join("\n"), /"NSA"/);
  // And the reverse: the original's acronyms, numeronyms and units spelled out.
  assert.is(verdict("Beta requires most CI jobs to use CCM by v1.29.", "For beta, most CI jobs must use the cloud controller manager by v1.29."), "faithful");
  assert.is(verdict("K8s primitives that manage pods, such as Deployment, only take pod status into account.", "Kubernetes primitives managing pods, for example Deployment, consider only the pod status."), "faithful");
  assert.is(verdict("Winds gusting as high as 35 mph will cause drifting snow.", "Gusts of up to 35 miles per hour will cause drifting snow."), "faithful");
  assert.is(verdict("Photosynthesis fixes carbon dioxide into sugars.", "Photosynthesis fixes CO2 into sugars."), "faithful");
  // Latin abbreviations, clipped words and derivations of English words are not identifiers or jargon.
  assert.is(verdict("Parallel applications such as MPI jobs need gang scheduling.", "Parallel apps (e.g. MPI jobs) need gang scheduling."), "faithful");
  assert.is(verdict("Bugs in the scheduler might leave Pods that could run unscheduled.", "Scheduler bugs could leave runnable Pods unscheduled."), "faithful");
  // Two letters are not spelled out by glue words: "second in the International System" is no "SI".
  assert.is(checkParaphrase("The second in the International System of Units is defined by caesium.", "The SI second is defined by caesium.").scores.new_names, 1);
});

test("a swapped compound is a term only when the original's own compound is gone", () => {
  const original = "The server is bounded by the maximum allowed size of an object in etcd. It keeps individual objects in memory.";
  assert.is(verdict(original, "The server is bounded by etcd's max object size. It keeps individual objects in memory."), "faithful");
  const valve = "The system l fuel isolation valve was found open.";
  assert.match(checkParaphrase(valve, "The system 1 oxidizer isolation valve was found open.").reasons.join("\n"), /"oxidizer isolation"/);
  // Words on either side of a full stop are no compound of the original: "components. Users" gives "users" no modifier.
  const sentences = "This will act as a warning for users to migrate to external components. Users may choose to keep the in-tree provider.";
  assert.is(verdict(sentences, "It serves as a warning prompting users to migrate to external components. Users may choose to keep the in-tree provider."), "faithful");
});

test("a cause the original states without 'because' may be restated with it; a consequence it does not state may not", () => {
  const original = "Since the added field is optional, this feature will only be added to the latest stable API version.";
  assert.is(verdict(original, "Because the new field is optional, the feature will be added only to the latest stable API version."), "faithful");
  const added = checkParaphrase(original, "Because the new field is optional, the feature will be added only to the latest stable API version. This means users of older manifests must migrate before the next release.");
  assert.is(added.verdict, "hallucinated");
  assert.match(added.reasons.join("\n"), /causal claim not in the original: .*"this means"/);
});

test("refusals that ask what to rewrite are refusals", () => {
  for (const answer of [
    "What text should I rewrite?",
    "Happy to help! Could you tell me what this list is describing? The flag's name isn't included.",
    "Which state machine does this refer to? I need the preceding text to rewrite this accurately.",
  ]) {
    assert.is(verdict(KEP, answer), "refusal", answer);
  }
});

test("sentences are tagged only when their tags can change the findings: the findings are those of tagging every one", () => {
  const rows = readJsonl<CalibrationRow>(path.join(__dirname, "fixtures/paraphrase-generalisation.jsonl")).filter((r) => r.split === "dev");
  const pairs = rows.filter((_, i) => i % 3 === 0).map((r) => [r.original, r.paraphrase]);
  // The builtin generator's synonym swaps and reorderings: the rows the skip is for.
  for (const original of [APOLLO, KEP]) {
    for (const style of ["reworded", "reordered", "condensed"]) {
      for (const variant of [0, 1]) pairs.push([original, builtinParaphrase({ kind: "paraphrase", text: original, style, variant, attempt: 0 })]);
    }
  }
  let skipped = 0;
  for (const [original, paraphrase] of pairs) {
    const p = profile(original);
    const lazy = findTerms(p, paraphrase);
    const full = findTerms(p, paraphrase, true);
    assert.equal([lazy.names, lazy.terms, lazy.causes], [full.names, full.terms, full.causes], paraphrase);
    // New words only count beside a causal connective: there they are the same.
    for (const { sentence } of full.causes) assert.equal(lazy.newWordsBySentence[sentence], full.newWordsBySentence[sentence], paraphrase);
    skipped += full.newWordsBySentence.filter((w, i) => w.length > 0 && lazy.newWordsBySentence[i].length === 0).length;
  }
  assert.ok(skipped > 0, "some sentences went untagged");
});

test("profiles are memoised, the least recently used dropped first: one in use survives a thousand others", () => {
  const kept = "The crew of three powered down the command module.";
  const dropped = "The lunar module served as a lifeboat for four days.";
  const [first, other] = [profile(kept), profile(dropped)];
  assert.is(profile(kept), first);
  for (let i = 0; i < 1500; i++) {
    profile(`Reading number ${i} of the entry battery voltage.`);
    if (i % 100 === 0) profile(kept);
  }
  assert.is(profile(kept), first);
  assert.is.not(profile(dropped), other);
  assert.equal(profile(dropped), other);
});

test("lib/quality/: small files without an import cycle, the public API from index.ts", () => {
  const dir = path.join(__dirname, "../lib/quality");
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".ts"));
  const deps = new Map(
    files.map((f) => {
      const src = fs.readFileSync(path.join(dir, f), "utf8");
      // Type-only imports and re-exports count too.
      const local = [...src.matchAll(/(?:import|export)\s[^;]*?from\s+"\.\/([\w-]+)"/g)].map((m) => `${m[1]}.ts`);
      return [f, new Set(local)] as const;
    }),
  );
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (f: string, trail: string[]): void => {
    if (done.has(f)) return;
    assert.not.ok(visiting.has(f), `import cycle: ${[...trail, f].join(" -> ")}`);
    visiting.add(f);
    for (const d of deps.get(f) ?? []) visit(d, [...trail, f]);
    visiting.delete(f);
    done.add(f);
  };
  for (const f of files) visit(f, []);
  for (const f of files) assert.ok(fs.readFileSync(path.join(dir, f), "utf8").split("\n").length <= 400, `${f} is over 400 lines`);
  // What other modules and the notebooks import from lib/quality.
  const api = require("../lib/quality");
  for (const name of ["VERDICTS", "DEFAULT_THRESHOLDS", "checkParaphrase", "checkParaphrases", "checkPairsFile", "paraphraseOriginal", "difficultyMix", "calibrationFigures", "checkQuestion", "checkQuestions", "readPairs", "stripPreamble", "fixOcrDigits", "newNumbers", "numberFacts", "copyScore", "corpusSubject"]) {
    assert.ok(api[name] !== undefined, name);
  }
});

/** The dev rows of a labelled set: the only rows floors may be set on. */
function devFigures(file: string) {
  const rows = readJsonl<CalibrationRow>(path.join(__dirname, "fixtures", file)).filter((r) => r.split === "dev");
  const checks = rows.map((r) => checkParaphrase(r.original, r.paraphrase));
  return { rows, checks, figures: calibrationFigures(rows, checks) };
}

test("calibration set, dev rows: the checks keep its hallucination figures (floor = bench figures minus a margin)", () => {
  const { rows, checks, figures } = devFigures("paraphrase-calibration.jsonl");
  assert.ok(rows.length >= 200);
  for (const label of ["faithful", "hallucinated", "refusal", "copy"]) assert.ok(rows.some((r) => r.label === label), label);
  // bench/quality.ts measured (dev rows, rules alone): precision 96.6%, recall 92.5%, kept 6.9% hallucinated, 99.0% of faithful kept.
  assert.ok(figures.precision >= 0.93, `precision ${figures.precision}`);
  assert.ok(figures.recall >= 0.88, `recall ${figures.recall}`);
  assert.ok(figures.keptHallucinated <= 0.09, `kept hallucinated ${figures.keptHallucinated}`);
  assert.ok(figures.faithfulKept >= 0.95, `faithful kept ${figures.faithfulKept}`);
  for (const [label, expected] of [["refusal", "refusal"], ["copy", "copy"]] as const) {
    const of = rows.map((r, i) => [r, checks[i]] as const).filter(([r]) => r.label === label);
    assert.ok(of.filter(([, c]) => c.verdict === expected).length / of.length >= 0.9, label);
  }
});

test("generalisation set, dev rows: the rebalanced rules keep faithful rewrites of other texts (floor = bench figures minus a margin)", () => {
  const { rows, checks, figures } = devFigures("paraphrase-generalisation.jsonl");
  assert.ok(rows.length >= 150);
  // bench/quality.ts measured (dev rows, rules alone): precision 98.3%, recall 74.7%, kept 18.3% hallucinated, 98.9% of
  // faithful kept (before the rebalancing: 74.4%, 77.2%, 19.8%, 80.0%).
  assert.ok(figures.precision >= 0.93, `precision ${figures.precision}`);
  assert.ok(figures.recall >= 0.7, `recall ${figures.recall}`);
  assert.ok(figures.keptHallucinated <= 0.22, `kept hallucinated ${figures.keptHallucinated}`);
  assert.ok(figures.faithfulKept >= 0.93, `faithful kept ${figures.faithfulKept}`);
  const refusals = rows.map((r, i) => [r, checks[i]] as const).filter(([r]) => r.label === "refusal");
  assert.ok(refusals.every(([, c]) => c.verdict === "refusal"));
});

// Issue 24.2: rewrites that fix the Apollo report's OCR errors, spell units out, add up its figures or name its mission.
const APOLLO_CORPUS = path.join(__dirname, "../datasets/corpora/apollo13_mission_report.md");
/** Each source's corpus subject, as kit build derives it (test/fixtures/paraphrase-ocr.md). */
const SUBJECTS: Record<string, string[]> = {
  apollo: corpusSubject(APOLLO_CORPUS, loadCorpus(APOLLO_CORPUS)),
  kep: corpusSubject("kubernetes_keps.md", [{ text: "# KEP-NNNN: Your short, descriptive title\n" }]),
};
const OCR_CASES = {
  comnand: ["However, because of the long cold-soak period following powering down, the comnand module structure exhibited significantly lower temperatures than has been observed in previous flights.", "After the power-down, the long cold soak left the command module structure much colder than on previous flights."],
  fahrenheit: ["At times, the sensor package temperature was as low as 37? F.", "The sensor package temperature sometimes fell to 37 degrees Fahrenheit."],
  zero: ["If this bit is off, as it normally would be, initialization takes place and the error counter, certain memory cells, and the inertial coupling display umit digital-to-analog converters are all zeroed.", "When this bit is off, as is normal, initialization occurs and the error counter, some memory cells and the inertial coupling display unit digital-to-analog converters are all reset to zero."],
  sum: ["About 0.6 pound of the oxygen from the surge tank was used during potable water tank pressurizations and to activate the oxygen system prior to entry. An additional 0.3 pound was used for breathing during entry.", "Roughly 0.6 pound of surge-tank oxygen went to water tank pressurizations and activating the oxygen system before entry, and another 0.3 pound to breathing during entry, a total of 0.9 pound."],
  mission: ["Range zero for this mission was l9:l3:00 G.m.t., April ll, l970.", "For Apollo 13, range zero was 19:13:00 G.m.t. on April 11, 1970."],
} as const;

test("issue 24.2: OCR fixes, spelled units, zero, derived numbers and the corpus subject are not invented; their look-alikes are", () => {
  assert.ok(SUBJECTS.apollo.some((s) => /apollo\s*13/i.test(s)), SUBJECTS.apollo.join(", "));
  const check = (pair: readonly [string, string], subject = SUBJECTS.apollo) => checkParaphrase(pair[0], pair[1], { subject });
  for (const [name, pair] of Object.entries(OCR_CASES)) assert.is(check(pair).verdict, "faithful", `${name}: ${check(pair).reasons.join("; ")}`);
  assert.ok(check(OCR_CASES.sum).reasons.includes("derived number: 0.9 = 0.6 + 0.3"), check(OCR_CASES.sum).reasons.join("; "));
  // Without the subject, "Apollo 13" is a new name and number, as before.
  assert.is(check(OCR_CASES.mission, []).verdict, "hallucinated");
  const controls: [readonly [string, string], RegExp][] = [
    [[OCR_CASES.comnand[0], "After the power-down, the long cold soak left the command module heat shield much colder than on previous flights."], /terms.*heat shield/],
    [[OCR_CASES.fahrenheit[0], "The sensor package temperature sometimes fell to 27 degrees Fahrenheit."], /numbers.*27/],
    [[OCR_CASES.zero[0], "When this bit is off, as is normal, initialization occurs and the error counter and some memory cells are all set to 7."], /numbers.*7/],
    [[OCR_CASES.sum[0], "Roughly 0.6 pound went to water tank pressurizations before entry and another 0.3 pound to breathing, a total of 1.4 pounds."], /numbers.*1\.4/],
    [[OCR_CASES.mission[0], "For Apollo 14, range zero was 19:13:00 G.m.t. on April 11, 1970."], /numbers.*14/],
    // "timer" is two edits from OCR's "timnel" but changes the length: another word, not a correction.
    [["In addition, docking timnel insulation was noted from photographs to have cracked.", "Photographs also showed the docking timer insulation had cracked."], /terms/],
  ];
  for (const [pair, reason] of controls) {
    const c = check(pair);
    assert.is(c.verdict, "hallucinated", pair[1]);
    assert.match(c.reasons.join("; "), reason);
  }
  // A changed number that happens to be a ratio of two of the original's, with no word of arithmetic, stays changed.
  assert.is(check(["The firing was conducted at l0 percent throttle (table 4-III).", "The firing ran at 40 percent throttle (table 4-III)."]).verdict, "hallucinated");
});

test("issue 24.2 through the batch checks (judge off): the named faithful rewrites are kept", async () => {
  const pairs = Object.values(OCR_CASES).map(([original, paraphrase]) => ({ original, paraphrase }));
  const checks = await checkParaphrases(pairs, { subject: SUBJECTS.apollo, onProgress: () => {} });
  assert.equal(checks.map((c) => c.verdict), pairs.map(() => "faithful"));
});

test("issue 24.2 through the Ollama test server: a model's rewrites of OCR'd chunks, paraphrased and checked as kit build does, are kept", async () => {
  const cases = Object.values(OCR_CASES);
  // The model answers each paraphrase prompt with the rewrite of the original it quotes.
  const server = await startOllamaServer({ models: ["rewriter"], reply: (ask) => cases.find(([original]) => ask.prompt.includes(original))?.[1] ?? "" });
  try {
    const generator = await createGenerator("ollama:rewriter", { ollamaHost: server.url });
    const chunks = cases.map(([text], i) => ({ chunk_id: `chunk_${i + 1}`, text, source: "apollo13_mission_report.md", start: 0, end: text.length }));
    const { paraphrases } = await generateParaphrases(chunks, generator, { styles: resolveStyles(["reworded"]), onProgress: () => {} });
    await generator.close();
    assert.is(paraphrases.length, cases.length);
    const checks = await checkParaphrases(paraphrases.map((p) => ({ original: chunks.find((c) => c.chunk_id === p.chunk_id)!.text, paraphrase: p.text })), { subject: SUBJECTS.apollo, onProgress: () => {} });
    assert.equal(checks.map((c) => c.verdict), cases.map(() => "faithful"), checks.map((c) => c.reasons.join("; ")).join(" | "));
  } finally {
    await server.close();
  }
});

test("issue 24.2 labelled set (test/fixtures/paraphrase-ocr.jsonl): dev and held-out accuracy", () => {
  const rows = readJsonl<CalibrationRow>(path.join(__dirname, "fixtures/paraphrase-ocr.jsonl"));
  const accuracy = (split: string) => {
    const of = rows.filter((r) => r.split === split);
    return of.filter((r) => checkParaphrase(r.original, r.paraphrase, { subject: SUBJECTS[r.source] }).verdict === r.label).length / of.length;
  };
  const dev = accuracy("dev");
  const heldout = accuracy("heldout");
  console.log(`paraphrase-ocr: dev ${(dev * 100).toFixed(1)}%, held-out ${(heldout * 100).toFixed(1)}% of verdicts equal to the label`);
  // Measured once the rules were fixed: dev 77.5% (59.8% before them), held-out 82.4% (70.6% before).
  assert.ok(dev >= 0.77, `dev ${dev}`);
  assert.ok(heldout >= 0.82, `held-out ${heldout}`);
});

test("a paraphrase cut off mid-sentence is hallucinated; markdown ends are not sentences", () => {
  const cut = checkParaphrase(APOLLO, "At 58:40 the command module was fully shut down, leaving 99 ampere-hours in its three entry batteries. These modifications aimed to");
  assert.is(cut.verdict, "hallucinated");
  assert.match(cut.reasons.join("\n"), /cut off mid-sentence \(ends on "to"\): "\.\.\.batteries\. These modifications aimed to"/);
  assert.is(verdict(APOLLO, APOLLO_REWRITE), "faithful");
  const lead = "The values for the priority levels are below.";
  const table = "| Name | Shares |\n| --- | --: |\n| system | 30 |";
  assert.is(cutOff(`${lead}\n\n${table}`, `${lead}\n\n${table}`), undefined);
  assert.match(cutOff(`${lead}\n\n${table}`, `${lead}\n\n| Name | Shares |\n| --- | --: |\n| system`)!, /a table row left open/);
  assert.is(cutOff("Define it so:\n\n```\ntype A string\n```", "Define it like this:\n\n```\ntype A string\n```"), undefined);
  assert.match(cutOff("Define it so:\n\n```\ntype A string\n```", "Define it like this:\n\n```\ntype A")!, /a code block left open/);
  assert.is(cutOff("Batteries were charged.\n\n# 5.3 CRYOGENIC STORAGE", "The batteries were charged.\n\n# 5.3 CRYOGENIC STORAGE"), undefined);
  assert.match(cutOff("Batteries were charged.\n\n# 5.3 CRYOGENIC STORAGE", "The batteries were")!, /ends on "were"/);
  // A list item without a full stop, where the original's has none either, or the paraphrase made a list of prose.
  assert.is(cutOff("- Pick a hosting SIG", "- Choose a SIG to host it"), undefined);
  assert.is(cutOff("Pick a SIG. Open a PR.", "- Pick a SIG\n- Open a PR"), undefined);
  assert.is(cutOff("The objectives were as follows:", "The objectives were:"), undefined);
  assert.match(cutOff("The objectives were assigned.", "The objectives were assigned to the crew, with")!, /ends on "with"/);
  assert.match(cutOff("The crew took aspirin.", "The crew took two aspir")!, /no closing punctuation/);
});

test("truncation cases, dev rows: every cut paraphrase is caught and no complete one (held-out figures in the README)", () => {
  const rows = readJsonl<{ original: string; paraphrase: string; label: "cut" | "complete"; split: string }>(
    path.join(__dirname, "fixtures/truncation-cases.jsonl"),
  ).filter((r) => r.split === "dev");
  assert.ok(rows.length >= 30);
  for (const r of rows) {
    const why = cutOff(r.original, r.paraphrase);
    assert.is(why !== undefined, r.label === "cut", `${r.label}: ${r.paraphrase.slice(-60)} (${why})`);
    if (r.label === "cut") assert.is.not(checkParaphrase(r.original, r.paraphrase).verdict, "faithful");
  }
});

test.run();
