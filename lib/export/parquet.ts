import * as arrow from "apache-arrow";
import { Compression, Table as ParquetTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
import { KitError } from "../errors";

/** A column type: its Arrow type, its Hugging Face `features` entry, and a check of a JS value against it. */
export interface Field {
  arrow: arrow.DataType;
  hf: Record<string, unknown>;
  want: string;
  check(value: unknown): boolean;
  /** The value as Arrow takes it, where that differs from the JS value (a bigint for Int64). */
  encode?(value: unknown): unknown;
}

export const string: Field = { arrow: new arrow.Utf8(), hf: { dtype: "string" }, want: "a string", check: (v) => typeof v === "string" };
export const bool: Field = { arrow: new arrow.Bool(), hf: { dtype: "bool" }, want: "true or false", check: (v) => typeof v === "boolean" };

export function int32(nullable = false): Field {
  return {
    arrow: new arrow.Int32(),
    hf: { dtype: "int32" },
    want: `a 32-bit integer${nullable ? " or null" : ""}`,
    check: (v) => (Number.isInteger(v) && Math.abs(v as number) < 2 ** 31) || (nullable && v === null),
  };
}

/** A 64-bit integer: what pandas and `datasets` write for a Python int, and so what a consumer's own preprocessing writes. */
export const int64: Field = {
  arrow: new arrow.Int64(),
  hf: { dtype: "int64" },
  want: "a safe integer",
  check: (v) => Number.isSafeInteger(v),
  encode: (v) => BigInt(v as number),
};

export function list(of: Field): Field {
  // The Hub writes a list of scalars as `sequence`, a list of structs as `list` of its fields.
  const hf = "struct" in of.hf ? { list: of.hf.struct } : { sequence: of.hf.dtype ?? of.hf };
  const encode = of.encode && ((v: unknown) => (v as unknown[]).map(of.encode!));
  return { arrow: new arrow.List(new arrow.Field("item", of.arrow, true)), hf, want: `a list of ${of.want}`, check: (v) => Array.isArray(v) && v.every(of.check), encode };
}

export function struct(fields: Record<string, Field>): Field {
  const entries = Object.entries(fields);
  return {
    arrow: new arrow.Struct(entries.map(([name, f]) => new arrow.Field(name, f.arrow, true))),
    hf: { struct: entries.map(([name, f]) => ({ name, ...f.hf })) },
    want: `an object {${entries.map(([name]) => name).join(", ")}}`,
    check: (v) => typeof v === "object" && v !== null && !Array.isArray(v) && entries.every(([name, f]) => f.check((v as Record<string, unknown>)[name])),
    encode: entries.some(([, f]) => f.encode)
      ? (v) => Object.fromEntries(entries.map(([name, f]) => [name, f.encode ? f.encode((v as Record<string, unknown>)[name]) : (v as Record<string, unknown>)[name]]))
      : undefined,
  };
}

/** A chat message, as TRL and verl read a `prompt` column. */
export const messages = list(struct({ role: string, content: string }));

export type Columns = Record<string, Field>;

/** The Hub's `features` list of a config. */
export const features = (columns: Columns) => Object.entries(columns).map(([name, f]) => ({ name, ...f.hf }));

/** An Arrow table with exactly `columns`, each value checked against its type (a one-line error naming the row otherwise). */
export function arrowTable(columns: Columns, rows: readonly object[], where: (row: Record<string, unknown>) => string): arrow.Table {
  const vectors: Record<string, arrow.Vector> = {};
  for (const [name, field] of Object.entries(columns)) {
    const values = rows.map((r) => {
      const row = r as Record<string, unknown>;
      if (!field.check(row[name])) throw new KitError(`${where(row)}: "${name}" must be ${field.want}, got ${JSON.stringify(row[name]) ?? "nothing"}; run kit build again`);
      return field.encode ? field.encode(row[name]) : row[name];
    });
    vectors[name] = arrow.vectorFromArray(values, field.arrow);
  }
  return new arrow.Table(vectors);
}

/** The table's size in memory: what the Hub calls a split's num_bytes. */
export const arrowBytes = (table: arrow.Table) => table.data.reduce((n, batch) => n + batch.byteLength, 0);

export function toParquet(table: arrow.Table): Uint8Array {
  const properties = new WriterPropertiesBuilder().setCompression(Compression.ZSTD).build();
  return writeParquet(ParquetTable.fromIPCStream(arrow.tableToIPC(table, "stream")), properties);
}
