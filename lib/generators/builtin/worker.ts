// A worker thread of the builtin generator's pool (./pool.ts): answers the tasks posted to it.
import { parentPort } from "node:worker_threads";
import type { Task } from "../types";
import { builtinAnswer } from "./answer";
import type { WorkerReply } from "./pool";

parentPort!.on("message", ({ id, task }: { id: number; task: Task }) => {
  let reply: WorkerReply;
  try {
    reply = { id, answer: builtinAnswer(task) };
  } catch (e) {
    reply = { id, error: e instanceof Error ? e.message : String(e) };
  }
  parentPort!.postMessage(reply);
});
