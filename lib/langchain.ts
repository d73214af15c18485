import * as path from "node:path";
import type { BuildStamp } from "./pipeline/identity";
import type { Chunk } from "./chunking";
import { KitError } from "./errors";
import { writeFileAtomic, writeJsonlAtomic } from "./files";
import { call, intDict, pickle, type Py, type PyCall, tuple } from "./pickle";
import { saveIndex, type VectorIndex } from "./vector-index";

/**
 * The LangChain pickles that AutoDidact's generate_data.py writes, for the programs that read them:
 * - chunks.pkl, `pickle.dump(chunks, f)` of a list of Documents: AutoDidact reads it with
 *   `pickle.load(open("saved_data/chunks.pkl", "rb"))`;
 * - index.pkl, which `FAISS.save_local` writes beside index.faiss: AutoDidact reads it with
 *   `FAISS.load_local("faiss_index", embeddings, allow_dangerous_deserialization=True)`, ReZero with
 *   `FAISS.load_local(data_dir, ...)`.
 * Python's own pickles of these objects copy their private state (pydantic's __dict__ and fields set),
 * which a new LangChain or pydantic release may rename; these pickles call the public constructors
 * instead, so whatever LangChain is installed builds and validates its objects its own way.
 */

export interface LangChainDocument {
  page_content: string;
  metadata: Record<string, Py>;
}

/** chunks.pkl: a list of `langchain_core.documents.Document`. */
export function documentsPickle(docs: readonly LangChainDocument[]): Buffer {
  return pickle(docs.map(documentCall));
}

/**
 * index.pkl: the tuple `(docstore, index_to_docstore_id)` that FAISS.save_local pickles, an InMemoryDocstore
 * of {id: Document} and {FAISS row: id}. ids[i] is the id of FAISS row i and of docs[i].
 */
export function docstorePickle(ids: readonly string[], docs: readonly LangChainDocument[]): Buffer {
  if (ids.length !== docs.length) throw new KitError(`LangChain docstore: ${ids.length} ids for ${docs.length} documents; each document needs one id`);
  const rowOf = new Map<string, number>();
  ids.forEach((id, row) => {
    const first = rowOf.get(id);
    if (first !== undefined) throw new KitError(`LangChain docstore: id "${id}" is given to rows ${first} and ${row}; ids must be unique`);
    rowOf.set(id, row);
  });
  // fromEntries defines own properties, so an id such as "__proto__" stays a key.
  const docstore = call("langchain_community.docstore.in_memory.InMemoryDocstore", [Object.fromEntries(ids.map((id, i) => [id, documentCall(docs[i])]))]);
  return pickle(tuple(docstore, intDict(ids.map((id, row) => [row, id]))));
}

function documentCall(doc: LangChainDocument): PyCall {
  return call("langchain_core.documents.Document", [], { page_content: doc.page_content, metadata: doc.metadata });
}

/** A chunk as AutoDidact's splitter leaves it: its text, and metadata naming its chunk id and source file. */
export const chunkDocument = (chunk: Pick<Chunk, "chunk_id" | "text" | "source">): LangChainDocument => ({
  page_content: chunk.text,
  metadata: { chunk_id: chunk.chunk_id, source: chunk.source },
});

/** chunks.jsonl, and chunks.pkl beside it: the seed's chunks as AutoDidact pickles them. */
export function writeChunks(file: string, chunks: readonly Chunk[]): void {
  writeJsonlAtomic(file, chunks);
  writeFileAtomic(path.join(path.dirname(file), "chunks.pkl"), documentsPickle(chunks.map(chunkDocument)));
}

/**
 * Saves an index whose rows are `chunks` into `dir`, with LangChain's docstore (index.pkl) beside index.faiss, so
 * `FAISS.load_local` reads the folder as AutoDidact's generate_data.py saves it. `chunksFile` is their chunks.jsonl.
 */
export function saveChunkIndex(index: VectorIndex, dir: string, chunks: readonly Chunk[], chunksFile: string, stamp?: BuildStamp): void {
  const pkl = docstorePickle(index.ids, chunks.map(chunkDocument));
  saveIndex(index, dir, { chunks: path.relative(dir, chunksFile), files: { "index.pkl": pkl }, stamp });
}
