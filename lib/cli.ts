import { parseArgs } from "node:util";
import { version as KIT_VERSION } from "../package.json";
import build from "./commands/build";
import cache from "./commands/cache";
import checkParaphrases from "./commands/check-paraphrases";
import chunk from "./commands/chunk";
import type { Command, Option } from "./commands/command";
import evalRetrieval from "./commands/eval-retrieval";
import exportCommand from "./commands/export";
import index from "./commands/indexing";
import mcp from "./commands/mcp";
import search from "./commands/search";
import serve from "./commands/serve";
import { nearest } from "./edit-distance";
import { KitError } from "./errors";

/** `kit <command>`: each command is one file of lib/commands/, with its options, help and run; listed here in help order. */
const COMMANDS: Record<string, Command> = Object.fromEntries([build, chunk, index, search, serve, mcp, checkParaphrases, exportCommand, evalRetrieval, cache].map((c) => [c.name, c]));

function helpFor(name: string, command: Command): string {
  const flags = { ...command.options, help: { type: "boolean", help: "show this help" } as Option };
  const width = Math.max(...Object.keys(flags).map((f) => f.length));
  const rows = Object.entries(flags).map(([flag, o]) => {
    const def = o.default === undefined ? "" : ` (default ${o.default})`;
    return `  --${flag.padEnd(width)}  ${o.help}${def}`;
  });
  return [`kit ${name}: ${command.summary}`, "", `usage: ${command.usage}`, "", ...rows].join("\n");
}

/** The known name closest to a mistyped one (at most a third of its letters off), for "did you mean". */
const closest = (typed: string, names: string[]) => nearest(typed, names, Math.max(1, Math.floor(typed.length / 3)));

function mainHelp(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(15)} ${c.summary}`);
  return ["kit: build retrieval datasets for training search agents", "", "usage: kit <command> [options]", "", ...rows, "", "kit <command> --help shows a command's options; kit --version the kit's version."].join("\n");
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(mainHelp());
    return;
  }
  if (name === "--version" || name === "-v") {
    console.log(KIT_VERSION);
    return;
  }
  const command = COMMANDS[name];
  if (!command) {
    // Two edits: a swapped pair of letters ("biuld") is two.
    const guess = nearest(name, Object.keys(COMMANDS), 2);
    return fail(`unknown command "${name}"${guess ? `; did you mean kit ${guess}?` : ""}; commands: ${Object.keys(COMMANDS).join(", ")} (kit --help)`, 2);
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.entries(command.options).map(([flag, o]) => [flag, { type: o.type }]));
    values = parseArgs({ args: attachNegatives(rest, command), options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const message = (err as Error).message.split("\n")[0];
    const unknown = /Unknown option '--([^']+)'/.exec(message)?.[1];
    const guess = unknown && closest(unknown, Object.keys(command.options));
    return fail(`${message}${guess ? `; did you mean --${guess}?` : ""} (kit ${name} --help)`, 2);
  }
  if (values.help) {
    console.log(helpFor(name, command));
    return;
  }
  const missing = (command.required ?? []).filter((flag) => values[flag] === undefined || values[flag] === "");
  if (missing.length) return fail(`missing ${missing.map((f) => `--${f}`).join(" and ")} (kit ${name} --help)`, 2);
  try {
    await command.run(values);
  } catch (err) {
    if (err instanceof KitError) return fail(err.message, 1);
    throw err;
  }
}

/** `--chunk-size -5` as `--chunk-size=-5`: parseArgs takes a value starting with "-" for an option, and its error would not say which. */
function attachNegatives(args: string[], command: Command): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = /^--([\w-]+)$/.exec(args[i])?.[1];
    if (flag && command.options[flag]?.type === "string" && /^-\d/.test(args[i + 1] ?? "")) out.push(`${args[i]}=${args[++i]}`);
    else out.push(args[i]);
  }
  return out;
}

function fail(message: string, code: number): void {
  console.error(`kit: ${message}`);
  process.exitCode = code;
}
