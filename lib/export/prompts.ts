import * as fs from "node:fs";
import * as path from "node:path";
import { KitError } from "../errors";

export interface Message {
  role: "system" | "user";
  content: string;
}

/** The search agent's instructions for the questions config; `kit export --prompt-template FILE` replaces them. */
export const SEARCH_AGENT_TEMPLATE = path.join(__dirname, "search-agent-prompt.md");
/** Search-R1's own prompt (its nq_search.py's layout): the tag protocol its rollout loop parses, then the question. */
export const SEARCH_R1_TEMPLATE = path.join(__dirname, "search-r1-prompt.md");
/** The instructions for the recovery config: find the chunk a paraphrase was made from. */
export const RECOVERY_TEMPLATE = path.join(__dirname, "recovery-prompt.md");

export function readTemplate(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8").trim();
  } catch {
    throw new KitError(`prompt template ${file}: cannot read it; pass a text file holding the system message (or a prompt with {question})`);
  }
  if (!text) throw new KitError(`prompt template ${file} is empty; write the search agent's instructions in it`);
  return text;
}

/**
 * The chat prompt of one row. A template holding `{question}` becomes one user message with the
 * question in its place (Search-R1's own layout); any other template is the system message, and the
 * question follows as the user message.
 */
export function chatPrompt(template: string, question: string): Message[] {
  // A function replacement, so "$&" or "$$" in a question stays as written.
  if (template.includes("{question}")) return [{ role: "user", content: template.replaceAll("{question}", () => question) }];
  return [
    { role: "system", content: template },
    { role: "user", content: question },
  ];
}
