import { Worker } from "node:worker_threads";
import type { Task } from "../types";

// Worker threads: a build asks for all its questions (then all its paraphrases) at once, and tagging is
// CPU-bound, so the tasks are spread over threads. A chunk's tasks all go to the same thread (by a hash
// of its text), where the token and paraphrase caches already hold what its earlier tasks computed.

export interface WorkerReply {
  id: number;
  answer?: string;
  error?: string;
}

/** The text a task is about: its key for choosing a thread. */
function taskText(task: Task): string {
  if (task.kind === "paraphrase") return task.text;
  if (task.kind === "questions") return task.window.find((c) => c.chunk_id === task.target)?.text ?? task.target;
  if (task.kind === "multi-hop") return task.chunks[0]?.text ?? "";
  return "";
}

function hashText(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

const watchers = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `cancel` when `signal` aborts, through one listener per signal (a stage gives all its requests one); returns the unwatch. */
function watch(signal: AbortSignal, cancel: () => void): () => void {
  let cancels = watchers.get(signal);
  if (!cancels) {
    const all = new Set<() => void>();
    signal.addEventListener("abort", () => [...all].forEach((c) => c()), { once: true });
    watchers.set(signal, all);
    cancels = all;
  }
  const mine = cancels;
  mine.add(cancel);
  return () => mine.delete(cancel);
}

/** Tasks posted to a thread and not yet answered; more wait in the calling thread, so that a stage's tens of thousands of tasks are not all copied into the workers at once. */
const IN_FLIGHT = 32;

export function startPool(size: number) {
  // The worker's file is TypeScript: tsx's CommonJS hook compiles it in the thread, as bin/kit.js does for the CLI.
  const execArgv = ["--require", require.resolve("tsx/cjs")];
  let nextId = 0;
  type Job = { id: number; task: Task; resolve: (answer: string) => void; reject: (e: Error) => void };
  const threads = Array.from({ length: size }, () => {
    const worker = new Worker(require.resolve("./worker"), { execArgv });
    const posted = new Map<number, Job>();
    const waiting: Job[] = [];
    const post = (job: Job) => {
      // A thread with work keeps the process alive; an idle one does not.
      if (!posted.size) worker.ref();
      posted.set(job.id, job);
      worker.postMessage({ id: job.id, task: job.task });
    };
    const failAll = (error: Error) => {
      for (const job of [...posted.values(), ...waiting]) job.reject(error);
      posted.clear();
      waiting.length = 0;
    };
    worker.on("message", ({ id, answer, error }: WorkerReply) => {
      const job = posted.get(id);
      posted.delete(id);
      const next = waiting.shift();
      if (next) post(next);
      else if (!posted.size) worker.unref();
      if (!job) return;
      if (error !== undefined) job.reject(new Error(`builtin generator: ${error}`));
      else job.resolve(answer!);
    });
    worker.on("error", (e) => failAll(e instanceof Error ? e : new Error(String(e))));
    worker.on("exit", (code) => failAll(new Error(`builtin generator: worker thread exited with code ${code}`)));
    worker.unref();
    return { worker, posted, waiting, post };
  });
  return {
    answer(task: Task, signal?: AbortSignal): Promise<string> {
      const thread = threads[hashText(taskText(task)) % threads.length];
      return new Promise<string>((resolve, reject) => {
        const cancel = () => {
          // Its answer, if one comes, is dropped; a waiting job is never posted.
          const at = thread.waiting.indexOf(job);
          if (at >= 0) thread.waiting.splice(at, 1);
          reject(signal!.reason ?? new Error("aborted"));
        };
        const unwatch = signal ? watch(signal, cancel) : () => {};
        const settle = <T>(f: (v: T) => void) => (v: T) => {
          unwatch();
          f(v);
        };
        const job: Job = { id: nextId++, task, resolve: settle(resolve), reject: settle(reject) };
        if (thread.posted.size < IN_FLIGHT) thread.post(job);
        else thread.waiting.push(job);
      });
    },
    async close() {
      await Promise.all(threads.map((t) => t.worker.terminate()));
    },
  };
}
