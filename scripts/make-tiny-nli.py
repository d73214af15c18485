#!/usr/bin/python3
"""Writes a tiny BERT-shaped NLI classifier (random weights) in the layout transformers.js 2.17 loads from a local
folder: config.json (BertForSequenceClassification, id2label contradiction / neutral / entailment), tokenizer.json,
tokenizer_config.json and onnx/model.onnx with inputs input_ids, attention_mask, token_type_ids and output logits.

Usage: /usr/bin/python3 scripts/make-tiny-nli.py <folder>

The encoder, vocabulary and tokenizer are scripts/make-tiny-bert.py's (one masked self-attention layer, so padding in
a batch changes no pair's logits); on top sits BERT's classifier head: the [CLS] state through a tanh pooler, then a
linear layer to 3 logits. Weights come from a fixed seed, so every run writes the same bytes.
Needs Debian's python3-onnx and numpy (IR version 8 / opset 17, which onnxruntime-node 1.14 reads).
"""
import importlib.util
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LABELS = ["contradiction", "neutral", "entailment"]


def tiny_bert():
    """scripts/make-tiny-bert.py as a module (its file name is not an importable name)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "make-tiny-bert.py")
    sys.dont_write_bytecode = True  # no scripts/__pycache__ in the work tree
    spec = importlib.util.spec_from_file_location("make_tiny_bert", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def classifier_graph(bert, vocab_size, rng):
    """make-tiny-bert's encoder with a pooler (dense + tanh on [CLS]) and a linear classifier producing `logits`."""
    model = bert.encoder_graph(vocab_size, rng)
    graph = model.graph
    hidden = bert.HIDDEN

    def weight(name, *shape, scale):
        graph.initializer.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def op(kind, inputs, output, **attrs):
        graph.node.append(helper.make_node(kind, inputs, [output], **attrs))
        return output

    graph.initializer.append(numpy_helper.from_array(np.array(0, dtype=np.int64), "cls_index"))
    cls = op("Gather", ["last_hidden_state", "cls_index"], "cls_state", axis=1)  # [batch, hidden]
    pooled = op("Add", [op("MatMul", [cls, weight("pooler.w", hidden, hidden, scale=0.2)], "pooler.mm"),
                        weight("pooler.b", hidden, scale=0.2)], "pooler.dense")
    pooled = op("Tanh", [pooled], "pooler")
    op("Add", [op("MatMul", [pooled, weight("classifier.w", hidden, len(LABELS), scale=0.5)], "classifier.mm"),
               weight("classifier.b", len(LABELS), scale=0.1)], "logits")

    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(LABELS)]))
    graph.name = "tiny-nli"
    model.producer_name = "make-tiny-nli"
    onnx.checker.check_model(model)
    return model


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 scripts/make-tiny-nli.py <folder>")
    folder = sys.argv[1]
    bert = tiny_bert()
    os.makedirs(os.path.join(folder, "onnx"), exist_ok=True)
    vocab = bert.vocabulary()
    config = {
        "architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": len(vocab),
        "hidden_size": bert.HIDDEN, "num_hidden_layers": 1, "num_attention_heads": bert.HEADS,
        "intermediate_size": bert.FFN, "hidden_act": "relu", "max_position_embeddings": bert.MAX_POS,
        "type_vocab_size": bert.TYPES, "pad_token_id": 0, "layer_norm_eps": 1e-12,
        "id2label": {str(i): label for i, label in enumerate(LABELS)},
        "label2id": {label: i for i, label in enumerate(LABELS)},
    }
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": bert.MAX_POS,
        "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
        "mask_token": "[MASK]", "clean_up_tokenization_spaces": True,
    }
    files = {"config.json": config, "tokenizer.json": bert.tokenizer_json(vocab), "tokenizer_config.json": tokenizer_config}
    for name, data in files.items():
        bert.write_atomic(os.path.join(folder, name), json.dumps(data, indent=1).encode())
    model = classifier_graph(bert, len(vocab), np.random.default_rng(0))
    bert.write_atomic(os.path.join(folder, "onnx", "model.onnx"), model.SerializeToString())


if __name__ == "__main__":
    main()
