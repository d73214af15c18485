// Answers the kit's own question and paraphrase prompts as the builtin generator would, read back from
// the prompt text and sampling seed alone. With it, a test server stands in for an Ollama model whose
// answers are known, so a build through the real client can be compared file for file with a builtin build.
import { builtinAnswer } from "../../lib/generators/builtin";
import type { Task } from "../../lib/generators";
import { DEFAULT_STYLES } from "../../lib/paraphrase";
import type { ChatAsk } from "./ollama-server";

const BASE_SEED = 42;

/** The task a kit prompt was made for, recovered from the prompt and its seed. */
export function taskOf(ask: ChatAsk): Task {
  const seed = Number(ask.request.body.options?.seed ?? ask.request.body.seed ?? BASE_SEED) - BASE_SEED;
  const target = /Write (\d+) different questions about passage \[(chunk_\d+)\]/.exec(ask.prompt);
  if (target) {
    const window = [...ask.prompt.matchAll(/\[(chunk_\d+)\] \((?:previous|main|next)\)\n([\s\S]*?)(?=\n\n\[chunk_\d+\] \(|\n\nWrite \d+ different questions)/g)].map(([, chunk_id, text]) => ({ chunk_id, text }));
    return { kind: "questions", window, target: target[2], count: Number(target[1]), attempt: seed };
  }
  const pair = /^Two passages from one corpus\. Both mention: (.*)\n\n[\s\S]*\nWrite (\d+) different two-hop questions/.exec(ask.prompt);
  if (pair) {
    const chunks = [...ask.prompt.matchAll(/\[(chunk_\d+)\] \((?:first|second)\)\n([\s\S]*?)(?=\n\n\[chunk_\d+\] \(second\)|\n\nWrite \d+ different two-hop questions)/g)].map(([, chunk_id, text]) => ({ chunk_id, text }));
    return { kind: "multi-hop", chunks, shared: pair[1].split("; "), count: Number(pair[2]), attempt: seed };
  }
  const style = DEFAULT_STYLES.find((s) => ask.prompt.startsWith(s.prompt.slice(0, s.prompt.indexOf("{"))));
  const text = ask.prompt.slice(ask.prompt.lastIndexOf("\n\nText:\n") + "\n\nText:\n".length);
  if (!style) throw new Error(`not a kit prompt: ${ask.prompt.slice(0, 80)}`);
  return { kind: "paraphrase", text, style: style.name, variant: Math.floor(seed / 1000), attempt: seed % 1000 };
}

export function builtinReply(ask: ChatAsk): string {
  return builtinAnswer(taskOf(ask));
}
