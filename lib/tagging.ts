/**
 * compromise's part-of-speech tagging, shared by the builtin generator (lib/generators/builtin/) and the checks
 * (lib/quality/text.ts): loaded on first use, and run over many sentences at once.
 */

type Nlp = typeof import("compromise").default;
let nlpLib: Nlp | undefined;
/** compromise, loaded on first use (~0.7 s of CPU: only a process that tags text pays it). */
export function nlp(): Nlp {
  return (nlpLib ??= require("compromise") as Nlp);
}

/** A compromise term as the tagger leaves it in its document. */
export interface Term {
  pre: string;
  text: string;
  post: string;
  normal: string;
  /** Set only when asked for (`roots`): the root form of plural nouns and conjugated verbs. */
  root?: string;
  tags: Set<string>;
}

interface NlpWorld {
  hooks: string[];
  methods: { one: { tokenize: { fromString(text: string, world: NlpWorld): Term[][] } } };
}
type NlpView = { document: Term[][]; compute(hooks: string | string[]): void };
let viewClass: (new (document: Term[][]) => NlpView) | undefined;
/** What nlp(text) computes, less compromise's chunker (noun and verb phrases), which sets no tag. */
let taggingHooks: string[] = [];

/**
 * The terms of each sentence, tagged as nlp(sentence) would tag it alone. All of them go through compromise as one
 * document of the sentences each would make: compromise tags sentence by sentence, so the tags are the same, and
 * one document costs about a third less than a call per sentence. `roots` also computes each term's root form.
 */
export function tagTerms(sentences: readonly string[], options: { roots?: boolean } = {}): Term[][] {
  const lib = nlp();
  const world = (lib as unknown as { _world: NlpWorld })._world;
  if (!viewClass) {
    viewClass = (lib("") as unknown as { constructor: new (document: Term[][]) => NlpView }).constructor;
    taggingHooks = world.hooks.filter((hook) => hook !== "chunks");
  }
  const document: Term[][] = [];
  const ranges: [number, number][] = [];
  for (const sentence of sentences) {
    const from = document.length;
    document.push(...world.methods.one.tokenize.fromString(sentence, world));
    ranges.push([from, document.length]);
  }
  const view = new viewClass(document);
  view.compute(taggingHooks);
  if (options.roots) view.compute("root");
  return ranges.map(([from, to]) => view.document.slice(from, to).flat());
}
