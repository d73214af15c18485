import { KitError } from "../../errors";
import type { Task } from "../types";
import { builtinMultiHop } from "./multihop";
import { builtinParaphrase } from "./paraphrase";
import { builtinQuestions } from "./questions";

/** The builtin generator's answer text for a task: the questions JSON, or the paraphrased text. */
export function builtinAnswer(task: Task): string {
  if (task.kind === "questions") return JSON.stringify({ questions: builtinQuestions(task) });
  if (task.kind === "paraphrase") return builtinParaphrase(task);
  if (task.kind === "multi-hop") return JSON.stringify({ questions: builtinMultiHop(task, builtinQuestions) });
  throw new KitError("the builtin generator cannot judge paraphrases: pass an LLM (ollama:<model> or openai:<model>@<url>) as the judge");
}
