import { KitError } from "./errors";

/**
 * A writer of Python pickles (protocol 2, which every Python 3 reads) for plain values and calls of Python
 * callables: enough to hand Python programs the objects they expect to `pickle.load`, without Python.
 * There is no memo: a value that appears twice is written twice, and unpickles as two equal objects.
 */

// Tags the values that JSON-like data cannot express; a symbol, so no user dict key can pose as one.
const TAG = Symbol("pickle");

/** A Python tuple. */
export interface PyTuple {
  readonly [TAG]: "tuple";
  readonly items: readonly Py[];
}

/** A Python dict with int keys (a plain object is a dict with str keys). */
export interface PyIntDict {
  readonly [TAG]: "intDict";
  readonly entries: readonly (readonly [number, Py])[];
}

/** A call of a Python callable, made when the pickle is loaded. */
export interface PyCall {
  readonly [TAG]: "call";
  readonly module: string;
  readonly name: string;
  readonly args: readonly Py[];
  readonly kwargs?: { readonly [key: string]: Py };
}

/**
 * A value to pickle: an array is a list, a plain object a dict with str keys, a safe integer an int, any
 * other number a float, a string a str.
 */
export type Py = null | boolean | number | string | readonly Py[] | PyTuple | PyIntDict | PyCall | { readonly [key: string]: Py };

export function tuple(...items: Py[]): PyTuple {
  return { [TAG]: "tuple", items };
}

export function intDict(entries: readonly (readonly [number, Py])[]): PyIntDict {
  for (const [key] of entries) if (!Number.isSafeInteger(key)) throw new KitError(`cannot pickle an int dict key ${key}: it must be a safe integer`);
  return { [TAG]: "intDict", entries };
}

/**
 * `callable(*args, **kwargs)`, run by the unpickler. `callable` is "module.path.Name": protocol 2 looks a
 * name up as one attribute of its module, so the module is everything before the last dot.
 */
export function call(callable: string, args: readonly Py[] = [], kwargs?: { readonly [key: string]: Py }): PyCall {
  if (!CALLABLE.test(callable)) throw new KitError(`cannot pickle a call of "${callable}": name the callable as module.path.Name`);
  const dot = callable.lastIndexOf(".");
  return { [TAG]: "call", module: callable.slice(0, dot), name: callable.slice(dot + 1), args, kwargs };
}

const CALLABLE = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$/;

/** The protocol-2 pickle of `value`, as `pickle.dumps(value, protocol=2)` would write it (less the memo). */
export function pickle(value: Py): Buffer {
  const out = new Output();
  out.byte(OP.PROTO);
  out.byte(2);
  save(out, value);
  out.byte(OP.STOP);
  return out.bytes();
}

const OP = {
  PROTO: 0x80,
  STOP: 0x2e, // .
  NONE: 0x4e, // N
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT1: 0x4b, // K
  BININT2: 0x4d, // M
  BININT: 0x4a, // J
  LONG1: 0x8a,
  BINFLOAT: 0x47, // G
  BINUNICODE: 0x58, // X
  MARK: 0x28, // (
  EMPTY_TUPLE: 0x29, // )
  TUPLE: 0x74, // t
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  EMPTY_LIST: 0x5d, // ]
  APPEND: 0x61, // a
  APPENDS: 0x65, // e
  EMPTY_DICT: 0x7d, // }
  SETITEM: 0x73, // s
  SETITEMS: 0x75, // u
  GLOBAL: 0x63, // c
  REDUCE: 0x52, // R
  BUILD: 0x62, // b
} as const;

// CPython's batch size for APPENDS and SETITEMS, which bounds the unpickler's stack. As CPython's C pickler
// does, a one-item container takes APPEND or SETITEM, any other one MARK and a batch, whatever its size.
const BATCH = 1000;

function save(out: Output, value: Py): void {
  if (value === null) out.byte(OP.NONE);
  else if (typeof value === "boolean") out.byte(value ? OP.NEWTRUE : OP.NEWFALSE);
  else if (typeof value === "number" && Number.isSafeInteger(value)) saveInt(out, value);
  else if (typeof value === "number") saveFloat(out, value);
  else if (typeof value === "string") out.string(value);
  else if (isArray(value)) saveList(out, value);
  else if (typeof value === "object" && TAG in value) {
    if (value[TAG] === "tuple") saveTuple(out, value.items);
    else if (value[TAG] === "intDict") saveDict(out, value.entries);
    else saveCall(out, value);
  } else if (isPlainObject(value)) saveDict(out, Object.entries(value));
  else throw new KitError(`cannot pickle ${describe(value)}: only null, booleans, numbers, strings, arrays, plain objects, tuple(), intDict() and call() can be`);
}

// Array.isArray does not narrow readonly arrays.
const isArray = Array.isArray as (value: unknown) => value is readonly Py[];

function isPlainObject(value: unknown): value is { readonly [key: string]: Py } {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "object" && value !== null) return `a ${value.constructor?.name ?? "object"}`;
  if (typeof value === "function") return "a function";
  return `a ${typeof value} (${String(value)})`;
}

// The smallest opcode for the int, as CPython chooses it.
function saveInt(out: Output, value: number): void {
  if (value >= 0 && value <= 0xff) {
    out.byte(OP.BININT1);
    out.byte(value);
  } else if (value >= 0 && value <= 0xffff) {
    out.byte(OP.BININT2);
    out.uint16(value);
  } else if (value >= -(2 ** 31) && value < 2 ** 31) {
    out.byte(OP.BININT);
    out.int32(value);
  } else {
    // LONG1: a length byte, then the int in little-endian two's complement, in as few bytes as hold its sign.
    let size = 1;
    while (value < -(2 ** (8 * size - 1)) || value >= 2 ** (8 * size - 1)) size++;
    let bits = BigInt.asUintN(8 * size, BigInt(value));
    out.byte(OP.LONG1);
    out.byte(size);
    for (let i = 0; i < size; i++, bits >>= 8n) out.byte(Number(bits & 0xffn));
  }
}

function saveFloat(out: Output, value: number): void {
  out.byte(OP.BINFLOAT);
  out.float64(value);
}

function saveTuple(out: Output, items: readonly Py[]): void {
  if (items.length === 0) return out.byte(OP.EMPTY_TUPLE);
  if (items.length > 3) out.byte(OP.MARK);
  for (const item of items) save(out, item);
  out.byte(items.length > 3 ? OP.TUPLE : [OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length - 1]);
}

function saveList(out: Output, items: readonly Py[]): void {
  out.byte(OP.EMPTY_LIST);
  if (items.length === 1) {
    save(out, items[0]);
    return out.byte(OP.APPEND);
  }
  for (let start = 0; start < items.length; start += BATCH) {
    out.byte(OP.MARK);
    for (let i = start; i < Math.min(start + BATCH, items.length); i++) save(out, items[i]);
    out.byte(OP.APPENDS);
  }
}

function saveDict(out: Output, entries: readonly (readonly [string | number, Py])[]): void {
  out.byte(OP.EMPTY_DICT);
  if (entries.length === 1) {
    save(out, entries[0][0]);
    save(out, entries[0][1]);
    return out.byte(OP.SETITEM);
  }
  for (let start = 0; start < entries.length; start += BATCH) {
    out.byte(OP.MARK);
    for (let i = start; i < Math.min(start + BATCH, entries.length); i++) {
      save(out, entries[i][0]);
      save(out, entries[i][1]);
    }
    out.byte(OP.SETITEMS);
  }
}

/**
 * The callable itself is called on load, so its constructor and validators run; kwargs go through
 * functools.partial, the one stdlib callable that protocol 2 can hand keyword arguments to:
 * partial(callable), whose __setstate__ takes (func, args, kwds, namespace), then called with the args.
 */
function saveCall(out: Output, { module, name, args, kwargs }: PyCall): void {
  if (kwargs && Object.keys(kwargs).length > 0) {
    out.global("functools", "partial");
    out.global(module, name);
    out.byte(OP.TUPLE1);
    out.byte(OP.REDUCE);
    out.byte(OP.MARK);
    out.global(module, name);
    out.byte(OP.EMPTY_TUPLE);
    saveDict(out, Object.entries(kwargs));
    out.byte(OP.NONE);
    out.byte(OP.TUPLE);
    out.byte(OP.BUILD);
  } else {
    out.global(module, name);
  }
  saveTuple(out, args);
  out.byte(OP.REDUCE);
}

/** A byte buffer that doubles as it fills, so writing n bytes costs O(n) however they arrive. */
class Output {
  private buf = Buffer.allocUnsafe(1 << 16);
  private at = 0;

  byte(value: number): void {
    this.room(1);
    this.buf[this.at++] = value;
  }

  uint16(value: number): void {
    this.room(2);
    this.at = this.buf.writeUInt16LE(value, this.at);
  }

  int32(value: number): void {
    this.room(4);
    this.at = this.buf.writeInt32LE(value, this.at);
  }

  float64(value: number): void {
    this.room(8);
    this.at = this.buf.writeDoubleBE(value, this.at);
  }

  /** BINUNICODE: UTF-8 (a lone surrogate becomes U+FFFD, as Buffer writes it). */
  string(value: string): void {
    const size = Buffer.byteLength(value, "utf8");
    this.room(5 + size);
    this.buf[this.at++] = OP.BINUNICODE;
    this.at = this.buf.writeUInt32LE(size, this.at);
    this.at += this.buf.write(value, this.at, size, "utf8");
  }

  global(module: string, name: string): void {
    this.byte(OP.GLOBAL);
    this.room(module.length + name.length + 2);
    this.at += this.buf.write(`${module}\n${name}\n`, this.at, "latin1");
  }

  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.at));
  }

  private room(size: number): void {
    if (this.at + size <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.at + size));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }
}
