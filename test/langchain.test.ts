import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { docstorePickle, documentsPickle, type LangChainDocument } from "../lib/langchain";
import { call, intDict, pickle, type Py, tuple } from "../lib/pickle";
import { LANGCHAIN_STUBS } from "./helpers/langchain-stubs";
import { throwsKit } from "./helpers/throws-kit";

// Contract tests against Debian's Python, with stand-ins for the two LangChain classes (no LangChain, no PyPI):
// they record how they are called, reject what pydantic would, and refuse to be restored from copied state.
const PYTHON = "/usr/bin/python3";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kit-langchain-"));

const STUBS: Record<string, string> = {
  ...LANGCHAIN_STUBS,
  "load.py": `
import datetime, decimal, fractions, io, json, math, pickle, pickletools, sys
from langchain_core import documents as lc_documents
from langchain_community.docstore import in_memory

def name(v):
    return type(v).__module__ + "." + type(v).__qualname__

def doc(d):
    return {"class": name(d), "page_content": d.page_content, "metadata": d.metadata,
            "types": {k: type(v).__name__ for k, v in d.metadata.items()}}

def same(a, b):
    """Equal and of the same types all the way down (1, 1.0 and True are not the same; NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(k, j) and same(a[k], b[j]) for k, j in zip(a, b))
    return a == b

def load(file):
    with open(file, "rb") as f:
        return pickle.load(f)

mode, *args = sys.argv[1:]
if mode == "documents":
    docs = load(args[0])
    out = {"type": name(docs), "docs": [doc(d) for d in docs], "calls": lc_documents.CALLS}
elif mode == "count":
    docs = load(args[0])
    out = {"type": name(docs), "count": len(docs), "calls": len(lc_documents.CALLS), "text": docs[int(args[1])].page_content}
elif mode == "docstore":
    loaded = load(args[0])
    store, index_to_id = loaded
    out = {"type": name(loaded), "length": len(loaded), "store": name(store),
           "store_calls": [name(a) for a in in_memory.CALLS], "keys": list(store._dict),
           "index_to_id": [[name(k), k, v] for k, v in index_to_id.items()],
           "found": {i: doc(store.search(i)) for i in index_to_id.values()},
           "document_calls": len(lc_documents.CALLS)}
elif mode == "values":
    out = []
    for case in json.load(sys.stdin):
        data = bytes.fromhex(case["hex"])
        loaded = pickle.loads(data)
        expected = eval(case["python"])
        cpython = pickletools.optimize(pickle.dumps(expected, protocol=2)) if case["bytes"] else None
        out.append({"same": same(loaded, expected), "loaded": repr(loaded)[:200], "expected": repr(expected)[:200],
                    "bytes_equal": cpython == data if case["bytes"] else None})
elif mode == "dis":
    out = []
    for file in args:
        listing = io.StringIO()
        with open(file, "rb") as f:
            pickletools.dis(f, out=listing)
        out.append(listing.getvalue().strip().splitlines()[-1])
print(json.dumps(out))
`,
};
for (const [file, text] of Object.entries(STUBS)) {
  fs.mkdirSync(path.dirname(path.join(tmp, file)), { recursive: true });
  fs.writeFileSync(path.join(tmp, file), text);
}

/** Runs load.py in a fresh Python (so the stubs' call records start empty) and parses its JSON. */
function python(mode: string, args: string[] = [], input?: unknown): any {
  const out = execFileSync(PYTHON, [path.join(tmp, "load.py"), mode, ...args], {
    env: { ...process.env, PYTHONPATH: tmp },
    input: input === undefined ? undefined : JSON.stringify(input),
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  return JSON.parse(out);
}

function save(name: string, data: Buffer): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, data);
  return file;
}


/** Loads each value's pickle in Python and compares it with the Python expression; `bytes` also compares with CPython's own pickle. */
function assertPython(cases: { value: Py; python: string; bytes?: boolean }[]) {
  const results = python("values", [], cases.map((c) => ({ hex: pickle(c.value).toString("hex"), python: c.python, bytes: c.bytes ?? true })));
  results.forEach((r: { same: boolean; loaded: string; expected: string; bytes_equal: boolean | null }, i: number) => {
    assert.ok(r.same, `${cases[i].python}: Python loaded ${r.loaded}, expected ${r.expected}`);
    if (cases[i].bytes ?? true) assert.ok(r.bytes_equal, `${cases[i].python}: bytes differ from pickle.dumps(protocol=2)`);
  });
}

const BIG_TEXT = "Apollo 13 oxygen tank. ".repeat(4500).slice(0, 100_000);
const DOCS: LangChainDocument[] = [
  { page_content: "Café crème at T+55:54 — 🚀 Houston, we've had a problem.", metadata: { chunk_id: "chunk_0", source: "apollo13.md", start: 0, score: 0.25, verified: true, section: null, tags: ["é", 2, [3.5, false]] } },
  { page_content: "before\u0000after", metadata: { chunk_id: "chunk_1", source: "apollo13.md", start: -7, score: 1e-9, verified: false, section: "Ü", tags: [] } },
  { page_content: BIG_TEXT, metadata: { chunk_id: "chunk_2", source: "apollo13.md", start: 2 ** 40, score: -2.5, verified: true, section: "big", tags: [{ nested: "dict" }] } },
];

test("documentsPickle: a list of Documents, each made by its constructor with page_content and metadata", () => {
  const out = python("documents", [save("chunks.pkl", documentsPickle(DOCS))]);
  assert.is(out.type, "builtins.list");
  assert.equal(out.calls, DOCS.map((d) => ({ page_content: d.page_content, kwargs: { metadata: d.metadata } })));
  assert.equal(
    out.docs.map((d: { class: string; page_content: string; metadata: unknown }) => [d.class, d.page_content, d.metadata]),
    DOCS.map((d) => ["langchain_core.documents.Document", d.page_content, d.metadata]),
  );
  assert.equal(out.docs[0].types, { chunk_id: "str", source: "str", start: "int", score: "float", verified: "bool", section: "NoneType", tags: "list" });
  assert.is(out.docs[2].types.start, "int");
  assert.is(out.docs[2].page_content.length, 100_000);
});

test("docstorePickle: (InMemoryDocstore, {row: id}) with int rows, and search(id) gives the Document", () => {
  const ids = ["chunk_0", "chunk_1", "__proto__"];
  const out = python("docstore", [save("index.pkl", docstorePickle(ids, DOCS))]);
  assert.is(out.type, "builtins.tuple");
  assert.is(out.length, 2);
  assert.is(out.store, "langchain_community.docstore.in_memory.InMemoryDocstore");
  assert.equal(out.store_calls, ["builtins.dict"]);
  assert.equal(out.keys, ids);
  assert.equal(out.index_to_id, ids.map((id, row) => ["builtins.int", row, id]));
  ids.forEach((id, i) => {
    assert.is(out.found[id].class, "langchain_core.documents.Document");
    assert.is(out.found[id].page_content, DOCS[i].page_content);
    assert.equal(out.found[id].metadata, DOCS[i].metadata);
  });
  assert.is(out.document_calls, 3);
});

test("pickle: ints, floats and strings load as CPython's, byte for byte", () => {
  const ints = [0, 1, -1, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53) + 1, -(2 ** 40), -128, -129, 127, 128];
  assertPython([
    ...ints.map((n) => ({ value: n, python: String(n) })),
    { value: 0.5, python: "0.5" },
    { value: -1e300, python: "-1e300" },
    { value: 2 ** 53, python: "9007199254740992.0" },
    { value: NaN, python: "float('nan')" },
    { value: Infinity, python: "float('inf')" },
    { value: -Infinity, python: "float('-inf')" },
    { value: null, python: "None" },
    { value: true, python: "True" },
    { value: false, python: "False" },
    { value: "", python: "''" },
    { value: "é🚀\u0000\n", python: "'é🚀\\x00\\n'" },
  ]);
});

test("pickle: lists, dicts and tuples, empty and past a batch of 1000", () => {
  const list = Array.from({ length: 2500 }, (_, i) => i * 3);
  const dict = Object.fromEntries(list.map((n) => [`k${n}`, n]));
  assertPython([
    { value: [], python: "[]" },
    { value: {}, python: "{}" },
    { value: tuple(), python: "()" },
    { value: [7], python: "[7]" },
    { value: { only: 1 }, python: "{'only': 1}" },
    { value: tuple(1), python: "(1,)" },
    { value: tuple(1, "two", 3.5), python: "(1, 'two', 3.5)" },
    { value: tuple(1, 2, 3, 4, tuple()), python: "(1, 2, 3, 4, ())" },
    { value: list, python: "[i * 3 for i in range(2500)]" },
    { value: list.slice(0, 1001), python: "[i * 3 for i in range(1001)]" },
    { value: dict, python: "{f'k{i * 3}': i * 3 for i in range(2500)}" },
    { value: Object.fromEntries(list.slice(0, 1001).map((n) => [`k${n}`, n])), python: "{f'k{i * 3}': i * 3 for i in range(1001)}" },
    { value: intDict(list.map((n) => [n - 1000, `v${n}`])), python: "{i * 3 - 1000: f'v{i * 3}' for i in range(2500)}" },
    { value: { a: [1, { b: tuple(null, [true]) }], c: { d: -2.5 } }, python: "{'a': [1, {'b': (None, [True])}], 'c': {'d': -2.5}}" },
  ]);
});

test("pickle: a dict whose keys look like tags stays a plain dict", () => {
  assertPython([
    { value: { $call: "x.y", args: [1] }, python: "{'$call': 'x.y', 'args': [1]}" },
    { value: { items: [1, 2], entries: [] }, python: "{'items': [1, 2], 'entries': []}" },
  ]);
});

test("pickle: calls, without kwargs and with them (through functools.partial)", () => {
  assertPython([
    { value: call("fractions.Fraction", [3, 4]), python: "fractions.Fraction(3, 4)", bytes: false },
    { value: call("decimal.Decimal", ["1.50"]), python: "decimal.Decimal('1.50')", bytes: false },
    { value: call("datetime.timedelta", [1], { hours: 2, seconds: 0.5 }), python: "datetime.timedelta(1, hours=2, seconds=0.5)", bytes: false },
    { value: call("builtins.dict", [], { a: 1 }), python: "{'a': 1}", bytes: false },
    { value: call("builtins.dict", [], {}), python: "{}", bytes: false },
    { value: [call("datetime.date", [2024, 2, 29]), call("builtins.sorted", [[3, 1, 2]], { reverse: true })], python: "[datetime.date(2024, 2, 29), [3, 2, 1]]", bytes: false },
  ]);
});

test("errors: mismatched lengths, repeated ids, bad callables and values that are not Python values", () => {
  throwsKit(() => docstorePickle(["a", "b"], DOCS), /2 ids for 3 documents/);
  throwsKit(() => docstorePickle(["a", "b", "a"], DOCS), /id "a" is given to rows 0 and 2/);
  throwsKit(() => call("Document"), /module\.path\.Name/);
  throwsKit(() => call("langchain_core.documents:Document"), /module\.path\.Name/);
  throwsKit(() => intDict([[1.5, "x"]]), /safe integer/);
  throwsKit(() => pickle({ a: undefined } as unknown as Py), /cannot pickle undefined/);
  throwsKit(() => pickle([new Date(0)] as unknown as Py), /cannot pickle a Date/);
  throwsKit(() => pickle(10n as unknown as Py), /cannot pickle a bigint/);
});

test("pickletools.dis reads every opcode of the pickles", () => {
  const files = [
    save("dis-chunks.pkl", documentsPickle(DOCS)),
    save("dis-index.pkl", docstorePickle(["x", "y", "z"], DOCS)),
    save("dis-values.pkl", pickle([tuple(1, 2, 3, 4), intDict([[0, "a"]]), { k: -(2 ** 50) }, call("builtins.dict", [], { a: 1.5 })])),
  ];
  assert.equal(python("dis", files), files.map(() => "highest protocol among opcodes = 2"));
});

test("25,000 documents of 1,000 characters pickle quickly and load back", () => {
  const docs = Array.from({ length: 25_000 }, (_, i) => ({ page_content: `${i}`.padEnd(1000, "abcdefghij"), metadata: { chunk_id: `chunk_${i}`, source: "big.md" } }));
  const started = performance.now();
  const data = documentsPickle(docs);
  assert.ok(performance.now() - started < 10_000, "pickling 25,000 documents took over 10 s");
  const out = python("count", [save("big.pkl", data), "12345"]);
  assert.equal(out, { type: "builtins.list", count: 25_000, calls: 25_000, text: docs[12345].page_content });
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();
