import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Stand-ins for the LangChain classes the kit's pickles name (no LangChain, no PyPI on these machines), as files of a
 * Python package folder: Document and InMemoryDocstore record how they are called, reject what pydantic would, and
 * refuse to be restored from copied state; FAISS.load_local reads a folder as langchain_community's does
 * (faiss.read_index of index.faiss, then the (docstore, index_to_docstore_id) tuple of index.pkl).
 */
export const LANGCHAIN_STUBS: Record<string, string> = {
  "langchain_core/__init__.py": "",
  "langchain_core/documents/__init__.py": `
CALLS = []

class Document:
    def __init__(self, page_content, **kwargs):
        unknown = set(kwargs) - {"metadata", "id", "type"}
        if unknown:
            raise TypeError(f"Document: unexpected fields {sorted(unknown)}")
        if not isinstance(page_content, str) or not isinstance(kwargs.get("metadata", {}), dict):
            raise TypeError("Document: page_content must be a str and metadata a dict")
        CALLS.append({"page_content": page_content, "kwargs": kwargs})
        self.page_content = page_content
        self.metadata = kwargs.get("metadata", {})

    def __setstate__(self, state):
        raise AssertionError("Document restored from pickled state instead of its constructor")
`,
  "langchain_community/__init__.py": "",
  "langchain_community/docstore/__init__.py": "",
  "langchain_community/docstore/in_memory.py": `
CALLS = []

class InMemoryDocstore:
    def __init__(self, _dict=None):
        CALLS.append(_dict)
        self._dict = _dict if _dict is not None else {}

    def search(self, search):
        if search not in self._dict:
            return f"ID {search} not found."
        return self._dict[search]

    def __setstate__(self, state):
        raise AssertionError("InMemoryDocstore restored from pickled state instead of its constructor")
`,
  "langchain_community/vectorstores/__init__.py": `
import pickle
from pathlib import Path
import faiss
import numpy as np

class FAISS:
    def __init__(self, embedding_function, index, docstore, index_to_docstore_id):
        self.embedding_function, self.index, self.docstore, self.index_to_docstore_id = embedding_function, index, docstore, index_to_docstore_id

    @classmethod
    def load_local(cls, folder_path, embeddings, index_name="index", *, allow_dangerous_deserialization=False):
        if not allow_dangerous_deserialization:
            raise ValueError("pickle loading needs allow_dangerous_deserialization=True")
        path = Path(folder_path)
        index = faiss.read_index(str(path / f"{index_name}.faiss"))
        with open(path / f"{index_name}.pkl", "rb") as f:
            docstore, index_to_docstore_id = pickle.load(f)
        return cls(embeddings.embed_query, index, docstore, index_to_docstore_id)

    def similarity_search_by_vector(self, embedding, k=4):
        _, indices = self.index.search(np.array([embedding], dtype=np.float32), k)
        return [self.docstore.search(self.index_to_docstore_id[i]) for i in indices[0] if i != -1]

    def similarity_search(self, query, k=4):
        return self.similarity_search_by_vector(self.embedding_function(query), k)
`,
};

/** Writes the stand-ins under `dir`, to put on PYTHONPATH. */
export function writeLangChainStubs(dir: string): void {
  for (const [file, text] of Object.entries(LANGCHAIN_STUBS)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
}
