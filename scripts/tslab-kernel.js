// The tslab Jupyter kernel of this checkout (started by scripts/kernel/launch.sh, from the repository root).
// It runs tslab 1.0.22 with five changes, most made by replacing a statement of tslab's own code as it loads (a
// change whose statement is not found is skipped with a note on the kernel's stderr, so another tslab version
// still starts, without it), two by replacing a method of its Jupyter server:
//
// 1. lib/ is loaded through tsx, as bin/kit.js loads it, instead of being type-checked and compiled by tslab at
//    the first cell that imports it. tslab type-checks every TypeScript file a cell imports, transitively (36
//    files and 800 declaration files for lib/frames.ts): that took 10-60 s. Cells are still type-checked, against
//    lib's types; lib/ itself is checked by `tsc -p .` (npm test). Folder imports such as "./lib/quality"
//    (lib/quality/index.ts), which tslab's own loader cannot resolve, work. A module cell (`// %module: name`) is
//    still compiled by tslab. After editing lib/, restart the kernel: modules load once per kernel.
//    KIT_TSLAB_CHECK_LIB=1 in the environment restores tslab's own way (and its folder-import failures).
// 2. Files saved or added under the repository while the kernel runs no longer make the next cell fail with
//    "Unexpected pending rebuildTimer".
// 3. A cell sent with stop_on_error false (nbclient's allow_errors, a cell tagged raises-exception) fails alone:
//    tslab no longer aborts the cells queued in the 200 ms after it.
// 4. A failed import of "../lib/..." says that the kernel runs at the repository root.
// 5. The kernel no longer dies at start-up, now and then, when a client connects while its sockets are binding.
// 6. Each executed cell's number goes out as an execute_input message, so nbconvert (which numbers cells only from
//    the kernel's messages) shows "In [3]:", not "In [ ]:"; a failed cell's reply carries the error's name,
//    message and traceback (what tslab printed on stderr), so nbconvert's CellExecutionError is readable.
"use strict";
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

const root = path.dirname(__dirname);
const tslabDir = path.dirname(require.resolve("tslab/package.json", { paths: [root] }));
const dist = (name) => path.join(tslabDir, "dist", name);
const note = (text) => process.stderr.write(`tslab-kernel: ${text}\n`);

/** Loads a tslab file with some of its statements replaced, into the require cache, before tslab requires it. */
function loadPatched(file, patches) {
  let source = fs.readFileSync(file, "utf8");
  for (const { what, from, to } of patches) {
    if (source.includes(from)) source = source.replace(from, to);
    else note(`not applied (this tslab differs from 1.0.22): ${what}`);
  }
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(path.dirname(file));
  mod._compile(source, file);
  mod.loaded = true;
  require.cache[file] = mod;
}

// tslab runs TypeScript's watch program with a fake setTimeout that holds one pending timer, and throws
// "Unexpected pending rebuildTimer" when a second is set: TypeScript sets one to update the program and another
// when a file appears in or leaves a folder it watches (someone saves or adds a file under lib/ while the kernel
// runs). Held timers are kept in a list instead, and all run when tslab runs "the" timer.
const TIMERS_FROM = [
  "    let rebuildTimer = null;",
  "    sys.setTimeout = (callback) => {",
  "        // TypeScript compier implements debouncing using a timer.",
  "        // It clears a timer when a new change is notified before the timer",
  "        // is fired and it starts rebuilding sources.",
  "        //",
  "        // In this converter, it often happens when notifyUpdateSrc and",
  "        // notifyUpdateDecls are called in sequence.",
  "        if (rebuildTimer) {",
  "            throw new Error(\"Unexpected pending rebuildTimer\");",
  "        }",
  "        rebuildTimer = {",
  "            callback: () => {",
  "                callback();",
  "                rebuildTimer = null;",
  "            },",
  "        };",
  "        return rebuildTimer;",
  "    };",
  "    sys.clearTimeout = (timeoutId) => {",
  "        if (rebuildTimer === timeoutId) {",
  "            rebuildTimer = null;",
  "            return;",
  "        }",
  "        throw new Error(\"clearing unexpected tiemr\");",
  "    };",
].join("\n");
const TIMERS_TO = `    let rebuildTimer = null;
    const pendingTimers = new Set();
    const runPendingTimers = {
        callback: () => {
            while (pendingTimers.size) {
                const [timer] = pendingTimers;
                pendingTimers.delete(timer);
                timer.run();
            }
            rebuildTimer = null;
        },
    };
    sys.setTimeout = (callback) => {
        const timer = { run: callback };
        pendingTimers.add(timer);
        rebuildTimer = runPendingTimers;
        return timer;
    };
    sys.clearTimeout = (timer) => {
        pendingTimers.delete(timer);
        if (!pendingTimers.size) {
            rebuildTimer = null;
        }
    };`;

const checkLib = process.env.KIT_TSLAB_CHECK_LIB === "1";
const converterPatches = [{ what: "several pending watch timers", from: TIMERS_FROM, to: TIMERS_TO }];
if (!checkLib) {
  // TypeScript files under the repository load through tsx (esbuild, cached on disk), as in the CLI.
  require(require.resolve("tsx/cjs", { paths: [root] }));
  // Only the cell, and module cells it imports, are checked and compiled by tslab; any other imported
  // TypeScript file is left to Node's require (tsx), which resolves folders to their index.ts.
  const own = "(dep === srcFilename || virtualFiles.has(dep))";
  converterPatches.push(
    {
      what: "type-check the cell only",
      from: "const diag = convertDiagnostics(getPreEmitDiagnosticsWithDependencies(builder, srcFile));",
      to: `const diag = convertDiagnostics(ts.getPreEmitDiagnosticsOfFiles(builder.getProgram(), getAllSrcDependencies(builder, srcFile).filter((dep) => ${own}).map((dep) => builder.getSourceFile(dep))));`,
    },
    {
      what: "compile the cell only",
      from: "            if (sideInputsConverted.has(dep)) {\n                continue;\n            }",
      to: `            if (sideInputsConverted.has(dep) || !${own}) {\n                continue;\n            }`,
    },
  );
}
loadPatched(dist("converter.js"), converterPatches);
loadPatched(dist("executor.js"), [
  {
    what: "hint for ../ imports",
    from: "diag.start.character + 1, diag.messageText);",
    to: `diag.start.character + 1, diag.messageText + (/^Cannot find module '\\.\\.\\//.test(diag.messageText) ? " (this kernel runs at the repository root: import \\"./lib/...\\", not \\"../lib/...\\")" : ""));`,
  },
]);

const jupyter = require(dist("jupyter.js"));
const { TaskCanceledError } = require(dist("util.js"));
const handleExecute = jupyter.JupyterHandlerImpl.prototype.handleExecute;
// tslab's handleExecute, except that a cell sent with stop_on_error false fails alone: its failure does not
// reject tslab's task queue, which would cancel every cell queued behind it until the queue is reset 200 ms later.
jupyter.JupyterHandlerImpl.prototype.handleExecute = async function (req, writeStream, writeDisplayData) {
  if (req.stop_on_error !== false) return handleExecute.call(this, req, writeStream, writeDisplayData);
  let outcome;
  try {
    outcome = await this.execQueue.add(() => this.handleExecuteImpl(req, writeStream, writeDisplayData).then((count) => ({ count }), (failed) => ({ failed })));
  } catch (e) {
    // An earlier cell that asked to stop on errors failed: this one is cancelled, as tslab does.
    if (e instanceof TaskCanceledError) return { status: "abort", execution_count: undefined };
    throw e;
  }
  const { count, failed } = outcome;
  // tslab throws the cell's ExecutionCount when the cell fails.
  if (failed !== undefined) {
    if (!(failed && typeof failed === "object" && typeof failed.count === "number")) console.error("unexpected error:", failed);
    return { status: "error", execution_count: failed && typeof failed.count === "number" ? failed.count : undefined };
  }
  return { status: "ok", execution_count: count.count };
};

// tslab's execute handler, with the cell's number published (execute_input) and a failed cell's error in its reply.
jupyter.ZmqServer.prototype.handleExecute = async function (sock, msg) {
  const publish = (type, content) => {
    const message = msg.createReply();
    message.header.msg_type = type;
    message.content = content;
    message.signAndSend(this.connInfo.key, this.iopub);
  };
  const stderr = [];
  const writeStream = (name, text) => {
    if (name === "stderr") stderr.push(text);
    publish("stream", { name, text });
  };
  const writeDisplayData = (data, update) => publish(update ? "update_display_data" : "display_data", data);
  const content = await this.handler.handleExecute(msg.content, writeStream, writeDisplayData);
  if (content.execution_count !== undefined) publish("execute_input", { code: msg.content.code, execution_count: content.execution_count });
  if (content.status === "error") Object.assign(content, errorOf(stderr.join("")));
  const reply = msg.createReply();
  reply.header.msg_type = "execute_reply";
  reply.content = content;
  reply.signAndSend(this.connInfo.key, sock);
};

/** A failed cell's error as Jupyter's reply names it, from what tslab printed: "TypeError: x is not a function\n    at ..." or "2:7 - Cannot find name 'y'.". */
function errorOf(printed) {
  const traceback = printed.split("\n").filter((line) => line.trim());
  const named = traceback.map((line) => /^(\w*(?:Error|Exception))(?:\s*\[[^\]]*\])?: (.*)$/.exec(line)).find(Boolean);
  if (named) return { ename: named[1], evalue: named[2], traceback };
  return { ename: traceback.length ? "CompileError" : "Error", evalue: traceback[0] ?? "the cell failed", traceback };
}

// tslab's init starts reading the shell, control and heartbeat sockets before their binds (and the iopub one's)
// have finished. A client that connects quickly (nbclient, a loaded machine) then gets its first message handled
// while a bind is pending, and zeromq rejects the reply or the next read with EBUSY ("Socket is blocked by a bind
// or unbind operation"): an unhandled rejection, which ends the kernel ("Kernel didn't respond in 60 seconds").
// The same init, with every bind awaited before any socket is read or written.
jupyter.ZmqServer.prototype.init = async function () {
  this.connInfo = JSON.parse(fs.readFileSync(this.configPath, "utf-8"));
  const zmq = require(require.resolve("zeromq", { paths: [tslabDir] }));
  this.iopub = new zmq.Publisher();
  this.shell = new zmq.Router();
  this.control = new zmq.Router();
  this.stdin = new zmq.Router();
  this.hb = new zmq.Reply();
  const { transport, ip } = this.connInfo;
  await Promise.all([
    this.iopub.bind(`${transport}://${ip}:${this.connInfo.iopub_port}`),
    this.shell.bind(`${transport}://${ip}:${this.connInfo.shell_port}`),
    this.control.bind(`${transport}://${ip}:${this.connInfo.control_port}`),
    this.stdin.bind(`${transport}://${ip}:${this.connInfo.stdin_port}`),
    this.hb.bind(`${transport}://${ip}:${this.connInfo.hb_port}`),
  ]);
  // These loops end when the sockets are closed (at shutdown).
  const serve = async (socket, handle) => {
    try {
      for await (const msgs of socket) handle(msgs);
    } catch (e) {
      if (!socket.closed) note(`socket read failed: ${e && e.message}`);
    }
  };
  serve(this.shell, (msgs) => this.handleShellMessage(this.shell, ...msgs));
  serve(this.control, (msgs) => this.handleShellMessage(this.control, ...msgs));
  serve(this.hb, (msgs) => this.hb.send(msgs));
};

require(dist("main.js")).main();
