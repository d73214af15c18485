#!/usr/bin/python3
"""Writes a tiny BERT-shaped model (random weights) in the layout transformers.js 2.17 loads from a local folder:
config.json, tokenizer.json (WordPiece), tokenizer_config.json and onnx/model.onnx.

Usage: /usr/bin/python3 scripts/make-tiny-bert.py <folder>

Tests use it to check loading, shapes, pooling and normalisation offline, where no real weights exist.
One encoder layer with masked self-attention, so padding in a batch changes nothing only if the mask is honoured.
Needs Debian's python3-onnx and numpy (IR version 8 / opset 17, which onnxruntime-node 1.14 reads).
"""
import json
import os
import string
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN, HEADS, FFN, MAX_POS, TYPES = 32, 2, 64, 512, 2
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = """the a an of to and in is it for on with as by this that be are from at or not
cat cats dog dogs sat mat sun moon rain snow car cars road fast slow red blue green query passage
search document kubernetes pod pods node nodes cluster feature gate api server""".split()


def vocabulary():
    chars = list(string.ascii_lowercase + string.digits)
    tokens = SPECIAL + chars + ["##" + c for c in chars] + list(string.punctuation) + WORDS
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}


def tokenizer_json(vocab):
    special = [
        {"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for t in SPECIAL
    ]

    def template(ids):
        return [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}] + [
            {"Sequence": {"id": s, "type_id": t}} if s in "AB" else {"SpecialToken": {"id": "[SEP]", "type_id": t}}
            for s, t in ids
        ]

    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": special,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": template([("A", 0), ("[SEP]", 0)]),
            "pair": template([("A", 0), ("[SEP]", 0), ("B", 1), ("[SEP]", 1)]),
            "special_tokens": {t: {"id": t, "ids": [vocab[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def encoder_graph(vocab_size, rng):
    head = HIDDEN // HEADS
    weights = []

    def w(name, *shape, scale=0.2):
        weights.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def const(name, values, dtype=np.int64):
        weights.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    nodes = []

    def op(kind, inputs, output, **attrs):
        nodes.append(helper.make_node(kind, inputs, [output], **attrs))
        return output

    def layer_norm(x, name):
        gamma = const(name + ".gamma", np.ones(HIDDEN), np.float32)
        beta = const(name + ".beta", np.zeros(HIDDEN), np.float32)
        return op("LayerNormalization", [x, gamma, beta], name, axis=-1, epsilon=1e-12)

    def dense(x, name, n_in, n_out):
        return op("Add", [op("MatMul", [x, w(name + ".w", n_in, n_out)], name + ".mm"), w(name + ".b", n_out)], name)

    # Embeddings: word + position (0..S-1) + token type, then LayerNorm.
    seq_len = op("Gather", [op("Shape", ["input_ids"], "ids_shape"), const("one", 1)], "seq_len", axis=0)
    positions = op("Range", [const("zero", 0), seq_len, const("step", 1)], "positions")
    emb = op("Add", [op("Gather", ["word_embeddings", "input_ids"], "word"),
                     op("Gather", ["position_embeddings", positions], "pos")], "word_pos")
    emb = op("Add", [emb, op("Gather", ["token_type_embeddings", "token_type_ids"], "type")], "emb")
    w("word_embeddings", vocab_size, HIDDEN, scale=1.0)
    w("position_embeddings", MAX_POS, HIDDEN, scale=0.5)
    w("token_type_embeddings", TYPES, HIDDEN, scale=0.5)
    x0 = layer_norm(emb, "emb_ln")

    # Self-attention with the padding mask added as a large negative bias before the softmax.
    split_heads = const("split_heads", [0, 0, HEADS, head])

    def heads(name, perm):
        return op("Transpose", [op("Reshape", [dense(x0, name, HIDDEN, HIDDEN), split_heads], name + ".split")],
                  name + ".heads", perm=perm)

    q, k, v = heads("q", [0, 2, 1, 3]), heads("k", [0, 2, 3, 1]), heads("v", [0, 2, 1, 3])
    scores = op("Mul", [op("MatMul", [q, k], "qk"), const("scale", 1 / np.sqrt(head), np.float32)], "scores")
    mask = op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    bias = op("Mul", [op("Sub", [const("ones", 1.0, np.float32), mask], "inv_mask"),
                      const("neg", -10000.0, np.float32)], "mask_bias")
    bias = op("Unsqueeze", [bias, const("mask_axes", [1, 2])], "mask_bias4")
    probs = op("Softmax", [op("Add", [scores, bias], "masked")], "probs", axis=-1)
    context = op("Transpose", [op("MatMul", [probs, v], "ctx")], "ctx_t", perm=[0, 2, 1, 3])
    context = op("Reshape", [context, const("merge_heads", [0, 0, HIDDEN])], "ctx_merged")
    x1 = layer_norm(op("Add", [x0, dense(context, "attn_out", HIDDEN, HIDDEN)], "res1"), "attn_ln")

    # Feed-forward block.
    hidden = op("Relu", [dense(x1, "ffn_in", HIDDEN, FFN)], "ffn_act")
    op("Add", [x1, dense(hidden, "ffn_out", FFN, HIDDEN)], "res2")
    nodes.append(helper.make_node("LayerNormalization", ["res2", const("out_ln.gamma", np.ones(HIDDEN), np.float32),
                                                         const("out_ln.beta", np.zeros(HIDDEN), np.float32)],
                                  ["last_hidden_state"], axis=-1, epsilon=1e-12))

    ids = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    out = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])
    graph = helper.make_graph(nodes, "tiny-bert", ids, [out], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make-tiny-bert")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 scripts/make-tiny-bert.py <folder>")
    folder = sys.argv[1]
    os.makedirs(os.path.join(folder, "onnx"), exist_ok=True)
    vocab = vocabulary()
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": len(vocab), "hidden_size": HIDDEN,
        "num_hidden_layers": 1, "num_attention_heads": HEADS, "intermediate_size": FFN, "hidden_act": "relu",
        "max_position_embeddings": MAX_POS, "type_vocab_size": TYPES, "pad_token_id": 0, "layer_norm_eps": 1e-12,
    }
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": MAX_POS,
        "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
        "mask_token": "[MASK]", "clean_up_tokenization_spaces": True,
    }
    files = {"config.json": config, "tokenizer.json": tokenizer_json(vocab), "tokenizer_config.json": tokenizer_config}
    for name, data in files.items():
        write_atomic(os.path.join(folder, name), json.dumps(data, indent=1).encode())
    model = encoder_graph(len(vocab), np.random.default_rng(0))
    write_atomic(os.path.join(folder, "onnx", "model.onnx"), model.SerializeToString())


def write_atomic(path, data):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
