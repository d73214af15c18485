import { test } from "uvu";
import * as assert from "uvu/assert";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Chunk } from "../lib/chunking";
import { createGenerator } from "../lib/generators";
import { editDistance, withinOneEdit } from "../lib/edit-distance";
import { tokens } from "../lib/grounding";
import { answerSource, generateQuestions, validateQuestion } from "../lib/questions";
import { startOllamaServer } from "./helpers/ollama-server";

interface Case {
  id: string;
  corpus: string;
  question: string;
  answer: string;
  window: string[];
  claimed: string;
  target: string;
  expected: string;
  kind: string;
  split: "dev" | "heldout";
}

const fixtures = path.join(__dirname, "fixtures");
const cases: Case[] = fs.readFileSync(path.join(fixtures, "grounding-cases.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
const texts: Record<string, Record<string, string>> = JSON.parse(fs.readFileSync(path.join(fixtures, "grounding-chunks.json"), "utf8"));

/** What the kit makes of a row: the gold chunk's id, "ungrounded", or "rejected" when the question does not stand alone. */
function verdict(c: Case): string {
  if (validateQuestion({ question: c.question, answer: c.answer, difficulty: "easy", source: c.claimed })) return "rejected";
  const window: Chunk[] = c.window.map((id) => ({ chunk_id: id, text: texts[c.corpus][id], source: c.corpus, start: 0, end: 0 }));
  return answerSource(c.question, c.answer, c.claimed, window, window.find((w) => w.chunk_id === c.target)!)?.chunk_id ?? "ungrounded";
}

/** Per split: rows whose verdict matches the label, gold chunks right, and ungrounded or rejected rows caught. */
function figures(split: Case["split"]) {
  const rows = cases.filter((c) => c.split === split).map((c) => ({ ...c, got: verdict(c) }));
  const grounded = rows.filter((r) => r.expected.startsWith("chunk_"));
  const refused = rows.filter((r) => !r.expected.startsWith("chunk_"));
  const right = (rs: typeof rows) => rs.filter((r) => r.got === r.expected).length;
  return { rows: rows.length, right: right(rows), gold: right(grounded), grounded: grounded.length, caught: right(refused), refused: refused.length, misses: rows.filter((r) => r.got !== r.expected) };
}

test("tokens fold case, unicode, number forms, units and OCR confusables", () => {
  assert.equal(tokens("l4 poumds"), ["14", "poumd"]);
  assert.equal(tokens("30° F"), tokens("30 degrees Fahrenheit"));
  assert.equal(tokens("1,000 psi"), tokens("1000 PSI"));
  assert.equal(tokens("ＡＰＯＬＬＯ l3"), ["apollo", "13"]);
});

test("withinOneEdit is editDistance <= 1, on every pair of strings over {a, b, c} up to 4 long", () => {
  const all = [""];
  for (let n = 0; n < all.length && all[n].length < 4; n++) for (const c of "abc") all.push(all[n] + c);
  for (const a of all) for (const b of all) assert.is(withinOneEdit(a, b), editDistance(a, b) <= 1, `${a} ${b}`);
});

// Floors are the figures measured once the rules were written on dev rows; held-out rows were never tuned on.
const FLOORS = { dev: 70, heldout: 44 };

test("labelled grounding cases: gold chunk and rejections on dev and held-out rows", () => {
  for (const split of ["dev", "heldout"] as const) {
    const f = figures(split);
    console.log(`grounding ${split}: ${f.right}/${f.rows} rows right; gold chunk right in ${f.gold}/${f.grounded}; ungrounded or self-referring caught ${f.caught}/${f.refused}`);
    for (const m of f.misses) console.log(`  miss ${m.id} ${m.kind}: expected ${m.expected}, got ${m.got} (${m.answer})`);
    assert.ok(f.right >= FLOORS[split], `${split}: ${f.right} rows right, floor ${FLOORS[split]}`);
  }
});

test("issue 24's cases through the Ollama test server: the gold chunk, or the question rejected", async () => {
  // Each group is a source of its own, so its windows are the report's own neighbours.
  const groups: Record<string, number[]> = { a: [91, 92, 93], b: [274, 275, 276], c: [64, 65, 66], d: [6, 7, 8], e: [11, 12, 13] };
  const chunks: Chunk[] = Object.entries(groups).flatMap(([source, ids]) => ids.map((n) => ({ chunk_id: `chunk_${n}`, text: texts.apollo[`chunk_${n}`], source, start: 0, end: 0 })));
  const scripted: Record<string, { question: string; answer: string; source: string }> = {
    // The answer's number stands in chunk_92 only as "30 amperes".
    chunk_92: { question: "What was the temperature at which the system was cold soaked during the functional test?", answer: "30° F", source: "chunk_92" },
    chunk_275: { question: "What was the temperature at which the entry monitor system was cold soaked?", answer: "30° F", source: "chunk_275" },
    // chunk_66 holds "no entry data"; the claim is chunk_64's.
    chunk_65: { question: "Was mission performance affected by the failure of the service propulsion auxiliary propellant gaging system?", answer: "No", source: "chunk_65" },
    // The report reads "l4 poumds".
    chunk_7: { question: "How much water did the crew transfer from the command module to the lunar module using juice bags?", answer: "14 pounds", source: "chunk_7" },
    chunk_12: { question: 'What is the publication status of the document titled "Performance of Command and Service Module Reaction Control System" for Apollo 10?', answer: "Final review", source: "chunk_12" },
  };
  const server = await startOllamaServer({
    models: ["m"],
    reply: ({ prompt }) => {
      const item = scripted[/questions about passage \[(chunk_\d+)\]/.exec(prompt)![1]];
      return JSON.stringify({ questions: item ? [{ ...item, difficulty: "medium" }] : [] });
    },
  });
  const generator = await createGenerator("ollama:m", { ollamaHost: server.url, retryDelayMs: 1 });
  try {
    const rows = await generateQuestions(chunks, generator, { perChunk: 1, retries: 0, onProgress: () => {} });
    const row = (target: string) => rows.find((r) => r.id === `${target}_q1`)!;
    assert.equal([row("chunk_92").status, row("chunk_92").reason], ["rejected", "answer not found in the passages (ungrounded)"]);
    assert.equal([row("chunk_275").status, row("chunk_275").chunk_id], ["accepted", "chunk_275"]);
    assert.equal([row("chunk_65").status, row("chunk_65").chunk_id], ["accepted", "chunk_64"]);
    assert.equal([row("chunk_7").status, row("chunk_7").chunk_id], ["accepted", "chunk_7"]);
    assert.equal([row("chunk_12").status, row("chunk_12").chunk_id], ["accepted", "chunk_12"]);
  } finally {
    await generator.close();
    await server.close();
  }
});

test.run();
