"""all-MiniLM-L6-v2 as an ONNX graph, built from the safetensors weights of its package.

The graph is BERT's six encoder layers, written with onnxruntime's fused CPU operators
(com.microsoft Attention, SkipLayerNormalization, BiasGelu): the same arithmetic as
sentence-transformers, in fewer passes over memory. Its input is a padded batch of token
ids and their attention mask; its output the mean-pooled, unit-length sentence vectors.

Built in memory at first use (about 0.6 s): no converted file to store or keep in step with
the weights, and only `onnx`'s helper to write it.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DIMENSION = 384
HEADS = 12
LAYERS = 6
# sentence-transformers' max_seq_length for this model; longer texts are cut, as it does.
MAX_TOKENS = 256
# BERT's epsilon; its GELU is the exact erf form, as BiasGelu computes it.
LAYER_NORM_EPSILON = 1e-12
# Opset 18, with the IR version that introduced it: older onnxruntime releases read it too.
OPSET = 18
IR_VERSION = 8


def build_model_bytes(weights_file: Path) -> bytes:
    """The serialized ONNX model of the weights in `weights_file` (model.safetensors)."""
    from safetensors.numpy import load_file

    model = _GraphBuilder(load_file(str(weights_file))).model()
    return model.SerializeToString()


class _GraphBuilder:
    """Writes the graph node by node; each weight becomes an initializer named for it."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights  # each taken out as the graph takes it in
        self.nodes: list[onnx.NodeProto] = []
        self.constants: OrderedDict[str, np.ndarray] = OrderedDict()

    def model(self) -> onnx.ModelProto:
        vectors = self._sentence_vectors(self._encoder(self._embeddings()))
        graph = helper.make_graph(
            self.nodes,
            "all-MiniLM-L6-v2",
            [
                helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
                helper.make_tensor_value_info(
                    "attention_mask", TensorProto.INT64, ["batch", "seq"]
                ),
            ],
            [helper.make_tensor_value_info(vectors, TensorProto.FLOAT, ["batch", DIMENSION])],
        )
        # One array at a time into the graph, each let go of once copied there: a list of
        # tensors handed to make_graph would be copied whole, and the model held twice.
        while self.constants:
            name, array = self.constants.popitem(last=False)
            graph.initializer.append(numpy_helper.from_array(array, name))
        model = helper.make_model(
            graph,
            opset_imports=[
                helper.make_opsetid("", OPSET),
                helper.make_opsetid("com.microsoft", 1),
            ],
            producer_name="companin",
        )
        model.ir_version = IR_VERSION
        return model

    # -- the network ---------------------------------------------------------------------

    def _embeddings(self) -> str:
        word = self.weight("embeddings.word_embeddings.weight")
        # Every token has type 0: its embedding is folded into the position table once.
        positions = self.constant(
            "positions",
            self.take("embeddings.position_embeddings.weight")[:MAX_TOKENS]
            + self.take("embeddings.token_type_embeddings.weight")[0],
        )
        length = self.node("Shape", "input_ids", start=1, end=2)
        zero = self.int64s("zero", [0])
        x = self.node(
            "Add",
            self.node("Gather", word, "input_ids"),
            self.node("Slice", positions, zero, length, zero),  # the first `length` rows
        )
        return self.node(
            "LayerNormalization",
            x,
            self.weight("embeddings.LayerNorm.weight"),
            self.weight("embeddings.LayerNorm.bias"),
            axis=-1,
            epsilon=LAYER_NORM_EPSILON,
        )

    def _encoder(self, x: str) -> str:
        # The attention's mask: 1 for a real token, 0 for padding; int32 as Attention wants.
        mask = self.node("Cast", "attention_mask", to=TensorProto.INT32)
        for i in range(LAYERS):
            x = self._layer(x, mask, f"encoder.layer.{i}.")
        return x

    def _layer(self, x: str, mask: str, prefix: str) -> str:
        att = prefix + "attention.self."
        qkv_weight = np.concatenate(
            [self.take(f"{att}{part}.weight").T for part in ("query", "key", "value")],
            axis=1,
        )
        qkv_bias = np.concatenate(
            [self.take(f"{att}{part}.bias") for part in ("query", "key", "value")]
        )
        context = self.node(
            "Attention",
            x,
            self.constant(att + "qkv.weight", qkv_weight),
            self.constant(att + "qkv.bias", qkv_bias),
            mask,
            domain="com.microsoft",
            num_heads=HEADS,
        )
        x = self._dense_add_norm(context, x, prefix + "attention.output.")
        inner = self.node(
            "BiasGelu",
            self.node("MatMul", x, self.transposed(prefix + "intermediate.dense.weight")),
            self.weight(prefix + "intermediate.dense.bias"),
            domain="com.microsoft",
        )
        return self._dense_add_norm(inner, x, prefix + "output.")

    def _dense_add_norm(self, y: str, residual: str, prefix: str) -> str:
        """LayerNorm(y @ dense + bias + residual), in one fused operator after the product."""
        return self.node(
            "SkipLayerNormalization",
            self.node("MatMul", y, self.transposed(prefix + "dense.weight")),
            residual,
            self.weight(prefix + "LayerNorm.weight"),
            self.weight(prefix + "LayerNorm.bias"),
            self.weight(prefix + "dense.bias"),
            domain="com.microsoft",
            epsilon=LAYER_NORM_EPSILON,
        )

    def _sentence_vectors(self, x: str) -> str:
        """Mean over the real tokens, scaled to unit length (the mean's 1/n cancels)."""
        mask = self.node(
            "Unsqueeze",
            self.node("Cast", "attention_mask", to=TensorProto.FLOAT),
            self.int64s("axis2", [2]),
        )
        summed = self.node("ReduceSum", self.node("Mul", x, mask), self.int64s("axis1", [1]))
        summed = self.node("Squeeze", summed, self.int64s("axis1", [1]))
        norm = self.node("ReduceL2", summed, self.int64s("axis1", [1]), keepdims=1)
        floor = self.constant("norm_floor", np.array(1e-12, dtype=np.float32))
        return self.node("Div", summed, self.node("Max", norm, floor))

    # -- writing nodes and initializers --------------------------------------------------

    def node(self, op: str, *inputs: str, domain: str = "", **attributes) -> str:
        name = f"{op}_{len(self.nodes)}"
        self.nodes.append(
            helper.make_node(op, list(inputs), [name], name=name, domain=domain, **attributes)
        )
        return name

    def constant(self, name: str, value: np.ndarray) -> str:
        self.constants.setdefault(name, np.ascontiguousarray(value))
        return name

    def take(self, name: str) -> np.ndarray:
        """A weight, out of `weights`: transposed or joined, the original is garbage at once,
        instead of the model (about 90 MB) being held twice."""
        return self.weights.pop(name).astype(np.float32, copy=False)

    def weight(self, name: str) -> str:
        return self.constant(name, self.take(name))

    def transposed(self, name: str) -> str:
        """A torch (out, in) weight as the (in, out) matrix that MatMul's x @ W needs."""
        return self.constant(name + ".T", self.take(name).T)

    def int64s(self, name: str, values: list[int]) -> str:
        return self.constant(name, np.array(values, dtype=np.int64))
