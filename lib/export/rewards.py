"""Rewards for a search agent trained on this dataset: a Python port of retrieval-dataset-kit's lib/reward.ts,
with the same semantics (the kit's tests check the two agree case by case).

    retrieval_reward(target, retrieved, k=None, discount="none") -> float
    all_chunks_reward(targets, retrieved, k=None, discount="none") -> float
    exact_answer_reward(predicted, gold) -> float
    answer_reward(completions, answer, **kwargs), search_reward(completions, chunk_id, ...): the same as TRL reward
    functions, reading multi-turn completions (assistant turns with tool calls, then tool results).
"""
import math
import re
import unicodedata

DISCOUNTS = ("none", "reciprocal", "log2")
# JavaScript's whitespace (its \s and trim()), which differs from Python's: BOM in, \x1c-\x1f and NEL out.
_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_SPACES = re.compile(f"[{_WHITESPACE}]+")


def _collapse(text):
    return _SPACES.sub(" ", text).strip(_WHITESPACE)


def _normalise_text(text):
    return _collapse(unicodedata.normalize("NFKC", text))


def normalise_answer(text):
    """SQuAD's answer normalisation plus numbers: NFKC, lower case, thousands separators dropped ("1,000" -> "1000"),
    punctuation removed except a decimal point between digits, the articles a/an/the removed, whitespace collapsed.
    Symbols ($, °, +) and % are kept: they change the answer."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    kept = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch).startswith("P") and ch != "%":
            between_digits = ch == "." and 0 < i < len(text) - 1 and "0" <= text[i - 1] <= "9" and "0" <= text[i + 1] <= "9"
            if not between_digits:
                continue
        kept.append(ch)
    text = re.sub(r"\b(a|an|the)\b", " ", "".join(kept), flags=re.ASCII)
    return _collapse(text)


def retrieval_reward(target, retrieved, k=None, discount="none"):
    """Did the agent retrieve the chunk the question was written from? `target` is its chunk id (or text),
    `retrieved` the search results, best first, as chunk ids (or texts); entries match when equal after NFKC and
    whitespace collapsing. Default: 1 if the first result is the target, else 0. `k` rewards a hit in the top k;
    `discount` gives 1/rank ("reciprocal") or 1/log2(rank + 1) ("log2"), over all results unless `k` is given."""
    if not isinstance(target, str) or not target.strip(_WHITESPACE):
        raise ValueError("retrieval_reward: target must be a non-empty chunk id or chunk text")
    if not isinstance(retrieved, (list, tuple)):
        raise ValueError("retrieval_reward: retrieved must be a list of chunk ids or texts (best first)")
    if discount not in DISCOUNTS:
        raise ValueError(f"retrieval_reward: unknown discount {discount!r}; use {', '.join(DISCOUNTS)}")
    if k is None:
        k = 1 if discount == "none" else math.inf
    elif isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"retrieval_reward: k must be an integer >= 1, got {k!r}")
    wanted = _normalise_text(target)
    for i, item in enumerate(retrieved[: int(min(k, len(retrieved)))]):
        if not isinstance(item, str):
            raise ValueError(f"retrieval_reward: retrieved[{i}] must be a string (a chunk id or text)")
        if _normalise_text(item) == wanted:
            rank = i + 1
            return 1.0 if discount == "none" else 1 / rank if discount == "reciprocal" else 1 / math.log2(rank + 1)
    return 0.0


def all_chunks_reward(targets, retrieved, k=None, discount="none"):
    """Did the agent retrieve every gold chunk of a question whose answer needs several (a multi-hop question's
    `supporting_chunk_ids`)? 0 unless all `targets` are within the top k of `retrieved` (e.g. the results of its
    searches, in order), matched as retrieval_reward matches. `discount` scales by the rank r at which the last of the
    n targets appears, so that ranks 1..n score 1: n/r ("reciprocal") or log2(n + 1)/log2(r + 1) ("log2"). Default k:
    n without a discount, all results with one. With one target it is retrieval_reward."""
    if not isinstance(targets, (list, tuple)) or not targets:
        raise ValueError("all_chunks_reward: targets must be a non-empty list of chunk ids or texts")
    for i, target in enumerate(targets):
        if not isinstance(target, str) or not target.strip(_WHITESPACE):
            raise ValueError(f"all_chunks_reward: targets[{i}] must be a non-empty chunk id or chunk text")
    if not isinstance(retrieved, (list, tuple)):
        raise ValueError("all_chunks_reward: retrieved must be a list of chunk ids or texts (best first)")
    if discount not in DISCOUNTS:
        raise ValueError(f"all_chunks_reward: unknown discount {discount!r}; use {', '.join(DISCOUNTS)}")
    wanted = {_normalise_text(t) for t in targets}
    n = len(wanted)
    if k is None:
        k = n if discount == "none" else math.inf
    elif isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"all_chunks_reward: k must be an integer >= 1, got {k!r}")
    for i, item in enumerate(retrieved[: int(min(k, len(retrieved)))]):
        if not isinstance(item, str):
            raise ValueError(f"all_chunks_reward: retrieved[{i}] must be a string (a chunk id or text)")
        found = _normalise_text(item)
        if found not in wanted:
            continue
        wanted.discard(found)
        if not wanted:
            rank = i + 1
            return 1.0 if discount == "none" else n / rank if discount == "reciprocal" else math.log2(n + 1) / math.log2(rank + 1)
    return 0.0


def exact_answer_reward(predicted, gold):
    """1 if the predicted answer equals the gold one after normalise_answer, else 0. Extract the answer from the
    completion (the text inside <answer> tags) first."""
    if not isinstance(predicted, str):
        raise ValueError('exact_answer_reward: predicted must be a string (pass "" for no answer)')
    if not isinstance(gold, str) or not gold.strip(_WHITESPACE):
        raise ValueError("exact_answer_reward: gold must be a non-empty answer string")
    return 1.0 if normalise_answer(predicted) == normalise_answer(gold) else 0.0


_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)
# The title line of a hit as environment.py (and Search-R1's and verl's search tools) format it: the chunk id, quoted.
_TITLE = re.compile(r'\(Title: "([^"\n]+)"\)')


def _messages(completion, role):
    """The contents of a completion's messages of one role. TRL passes a standard completion as a string, a
    conversational one as a list of messages: with tools, assistant turns (holding tool_calls) and tool results."""
    if isinstance(completion, str):
        return [completion] if role == "assistant" else []
    return [m.get("content") or "" for m in completion if m.get("role") == role and isinstance(m.get("content"), str)]


def answer_reward(completions, answer, **kwargs):
    """TRL reward function: exact_answer_reward of the last <answer>...</answer> the model wrote in each completion
    (tool results are not the model's answer)."""
    scores = []
    for completion, gold in zip(completions, answer):
        found = _ANSWER.findall("\n".join(_messages(completion, "assistant")))
        scores.append(exact_answer_reward(found[-1] if found else "", gold))
    return scores


def retrieved_chunk_ids(completion):
    """The chunk ids a rollout's searches returned, in order: the titles of the hits in its tool results."""
    return [title for content in _messages(completion, "tool") for title in _TITLE.findall(content)]


def search_reward(completions, chunk_id, supporting_chunk_ids=None, environments=None, **kwargs):
    """TRL reward function: 1 when a rollout's searches retrieved every gold chunk of its question
    (`supporting_chunk_ids`, or `chunk_id` for a dataset without them), else 0. The retrieved ids are those each
    environment recorded (`environments`, which TRL passes with environment_factory=SearchEnvironment), or else
    the hit titles in the completion's tool results."""
    scores = []
    for i, completion in enumerate(completions):
        golds = supporting_chunk_ids[i] if supporting_chunk_ids is not None else [chunk_id[i]]
        ids = environments[i].retrieved if environments is not None else retrieved_chunk_ids(completion)
        scores.append(all_chunks_reward(list(golds), ids, k=len(ids)) if ids else 0.0)
    return scores
