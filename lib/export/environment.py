"""A search environment for TRL's GRPOTrainer (`environment_factory=SearchEnvironment`), over `kit serve`.

TRL makes one SearchEnvironment per rollout, calls `reset(**row)` with the dataset row's columns, exposes
`search` to the model as a tool (its docstring becomes the tool's schema) and adds `get_reward()` to the rewards:

    from environment import SearchEnvironment   # this file, beside rewards.py
    from rewards import answer_reward
    trainer = GRPOTrainer(model=..., train_dataset=questions["train"], reward_funcs=[answer_reward],
                          environment_factory=SearchEnvironment)

Start the server first (`npx kit serve --dataset DIR --mode paraphrased`); KIT_SEARCH_URL says where it listens.
A noise curriculum (ZeroSearch's, with paraphrases as the noise) sets `SearchEnvironment.noise` between steps: that
share of each search's hits are paraphrase rows, the rest original rows. Standard library only.
"""
import json
import os
import urllib.request

from rewards import all_chunks_reward

DEFAULT_URL = "http://127.0.0.1:8000/retrieve"


class SearchEnvironment:
    """One rollout: the question's gold chunks, and the chunk ids its searches returned, in order."""

    # Share of paraphrase rows in each search's hits, 0 to 1 (kit serve --dataset mixes them); None asks for the
    # server's own environment. A class attribute, as TRL makes the environments itself: a callback raises it for all.
    noise = None

    def __init__(self, url=None, topk=3, timeout=30, noise=None):
        self._url = url or os.environ.get("KIT_SEARCH_URL", DEFAULT_URL)
        self._topk = topk
        self._timeout = timeout
        if noise is not None:
            self.noise = noise
        self.gold = []
        self.retrieved = []

    def reset(self, chunk_id=None, supporting_chunk_ids=None, **row):
        """Starts a rollout on a dataset row; the row's own prompt is the task, so nothing is added to it."""
        gold = supporting_chunk_ids if supporting_chunk_ids is not None else [chunk_id]
        self.gold = [str(g) for g in gold if g is not None]
        self.retrieved = []
        return None

    def search(self, query: str) -> str:
        """Searches the document collection for passages about the query.

        Args:
            query: What to look for, in a few words.

        Returns:
            The best passages, each headed by its title.
        """
        payload = {"queries": [query], "topk": self._topk, "return_scores": True}
        if self.noise is not None:
            if isinstance(self.noise, bool) or not isinstance(self.noise, (int, float)) or not 0 <= self.noise <= 1:
                raise ValueError(f"SearchEnvironment.noise must be a number from 0 to 1 (or None), got {self.noise!r}")
            payload["noise"] = self.noise
        body = json.dumps(payload).encode()
        request = urllib.request.Request(self._url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            hits = json.load(response)["result"][0]
        self.retrieved.extend(hit["document"]["chunk_id"] for hit in hits)
        # Search-R1's layout of a result: "Doc i(Title: <first line>) <rest>", the title being the quoted chunk id.
        lines = []
        for i, hit in enumerate(hits, start=1):
            title, _, text = hit["document"]["contents"].partition("\n")
            lines.append(f"Doc {i}(Title: {title}) {text}\n")
        return "".join(lines) or "No passage matched the query."

    def get_reward(self) -> float:
        """1.0 when the rollout's searches retrieved every gold chunk of its question, else 0.0."""
        if not self.gold or not self.retrieved:
            return 0.0
        return all_chunks_reward(self.gold, self.retrieved, k=len(self.retrieved))
