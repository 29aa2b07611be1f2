#!/usr/bin/env python3
"""Writes the hand-made seed models of the ONNX loader fuzzer into tests/fuzz/seeds/.

The ONNX backend node tests cover one op each and carry no initializers; these
seeds reach the rest of the format: initializers in every storage (raw_data,
float_data, int64_data, external data), sparse initializers, dim_params with a
dinoc.dim_bound metadata entry, value_info, every attribute kind, Constant's
value_* forms, model-local functions, the ai.dinoc domain, an IR 3 model that
lists its initializers among the inputs, omitted optional inputs, and shapes
whose element count overflows. They need not pass onnx.checker; the loader must
simply never crash on them.

Run with /usr/bin/python3 (ONNX 1.12); the files are checked in, so building
never needs Python:  /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
OPSET = [helper.make_opsetid("", 17)]


def save(name, graph, opsets=OPSET, ir=8, **kw):
    model = helper.make_model(graph, opset_imports=opsets, producer_name="make_seeds", **kw)
    model.ir_version = ir
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def vit_block():
    """LayerNorm -> MatMul+bias -> Softmax -> Reshape over x[N,4,8], N bounded."""
    rng = np.random.default_rng(0)
    gamma = numpy_helper.from_array(np.ones(8, np.float32), "ln.weight")  # raw_data
    beta = helper.make_tensor("ln.bias", TensorProto.FLOAT, [8], [0.0] * 8)  # float_data
    w = numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "fc.weight")
    b = helper.make_tensor("fc.bias", TensorProto.FLOAT, [8], list(range(8)))
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 8])  # int64_data
    nodes = [
        helper.make_node("LayerNormalization", ["x", "ln.weight", "ln.bias"], ["ln"],
                         name="ln0", axis=-1, epsilon=1e-6),
        helper.make_node("MatMul", ["ln", "fc.weight"], ["mm"], name="mm0"),
        helper.make_node("Add", ["mm", "fc.bias"], ["fc"], name="add0"),
        helper.make_node("Softmax", ["fc"], ["sm"], name="sm0", axis=-1),
        helper.make_node("Reshape", ["sm", "shape"], ["y"], name="rs0"),
    ]
    g = helper.make_graph(nodes, "vit_block", [vi("x", TensorProto.FLOAT, ["N", 4, 8])],
                          [vi("y", TensorProto.FLOAT, [None, 8])],
                          [gamma, beta, w, b, shape],
                          value_info=[vi("ln", TensorProto.FLOAT, ["N", 4, 8])])
    save("vit_block", g)
    m = onnx.load(os.path.join(OUT, "vit_block.onnx"))
    helper.set_model_props(m, {"dinoc.dim_bound.N": "16", "note": "seed"})
    onnx.save(m, os.path.join(OUT, "vit_block.onnx"))


def attribute_kinds():
    """One ai.dinoc node with every attribute kind."""
    t = helper.make_tensor("t", TensorProto.FLOAT, [2], [1.0, 2.0])
    sub = helper.make_graph([helper.make_node("Identity", ["x"], ["z"])], "sub", [],
                            [vi("z", TensorProto.FLOAT, [2])])
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("sv", TensorProto.FLOAT, [2], [5.0, 6.0]),
        helper.make_tensor("si", TensorProto.INT64, [2], [1, 3]), [4])
    node = helper.make_node("AllAttrs", ["x"], ["y"], name="n0", domain="ai.dinoc",
                            f=0.5, i=-3, s=b"bytes\x00\xff", t=t, g=sub,
                            floats=[1.0, -2.5], ints=[1, 2, 3], strings=[b"a", b""],
                            tensors=[t, t], graphs=[sub], sparse=sparse,
                            sparses=[sparse],
                            tp=helper.make_tensor_type_proto(TensorProto.INT64, [3, "K"]),
                            tps=[helper.make_tensor_type_proto(TensorProto.BOOL, [])])
    g = helper.make_graph([node], "attrs", [vi("x", TensorProto.FLOAT, [2])],
                          [vi("y", TensorProto.FLOAT, [2])])
    save("attribute_kinds", g, OPSET + [helper.make_opsetid("ai.dinoc", 1)])


def external_data():
    w = helper.make_tensor("w", TensorProto.FLOAT, [4], [0.0] * 4)
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", "16")):
        e = w.external_data.add()
        e.key, e.value = k, v
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "ext",
                          [vi("x", TensorProto.FLOAT, [4])], [vi("y", TensorProto.FLOAT, [4])],
                          [w])
    save("external_data", g)


def sparse_initializer():
    sp = helper.make_sparse_tensor(
        helper.make_tensor("s", TensorProto.FLOAT, [2], [1.0, 2.0]),
        helper.make_tensor("s_idx", TensorProto.INT64, [2, 2], [0, 1, 2, 3]), [3, 4])
    g = helper.make_graph([helper.make_node("Add", ["x", "s"], ["y"])], "sparse",
                          [vi("x", TensorProto.FLOAT, [3, 4])], [vi("y", TensorProto.FLOAT, [3, 4])])
    g.sparse_initializer.append(sp)
    save("sparse_initializer", g)


def ir3_inputs_with_initializers():
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], transB=0, alpha=2.0)],
                          "ir3", [vi("x", TensorProto.FLOAT, [1, 2]), vi("w", TensorProto.FLOAT, [2, 3])],
                          [vi("y", TensorProto.FLOAT, [1, 3])], [w])
    save("ir3_initializer_inputs", g, [helper.make_opsetid("", 6)], ir=3)


def constants():
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("v", TensorProto.FLOAT, [1], [9.0]),
        helper.make_tensor("i", TensorProto.INT64, [1], [2]), [5])
    nodes = [
        helper.make_node("Constant", [], ["c_f"], value_float=1.5),
        helper.make_node("Constant", [], ["c_fs"], value_floats=[1.0, 2.0]),
        helper.make_node("Constant", [], ["c_i"], value_int=7),
        helper.make_node("Constant", [], ["c_is"], value_ints=[3, 1]),
        helper.make_node("Constant", [], ["c_s"], value_string="hello"),
        helper.make_node("Constant", [], ["c_ss"], value_strings=["a", "b"]),
        helper.make_node("Constant", [], ["c_sp"], sparse_value=sparse),
        helper.make_node("Constant", [], ["c_t"],
                         value=helper.make_tensor("t", TensorProto.DOUBLE, [2, 1], [0.5, -0.5])),
        helper.make_node("Add", ["c_f", "c_fs"], ["y"]),
    ]
    g = helper.make_graph(nodes, "constants", [], [vi("y", TensorProto.FLOAT, [2])])
    save("constants", g)


def dtypes():
    inits = []
    for dt, npdt in ((TensorProto.DOUBLE, np.float64), (TensorProto.INT8, np.int8),
                     (TensorProto.UINT16, np.uint16), (TensorProto.BOOL, np.bool_),
                     (TensorProto.FLOAT16, np.float16), (TensorProto.INT32, np.int32),
                     (TensorProto.UINT64, np.uint64)):
        inits.append(numpy_helper.from_array(np.zeros((2, 2), npdt), "i%d" % dt))
    inits.append(helper.make_tensor("bf", TensorProto.BFLOAT16, [2], [1.0, 2.0]))
    inits.append(helper.make_tensor("c64", TensorProto.COMPLEX64, [1], [1 + 2j]))
    inits.append(helper.make_tensor("str", TensorProto.STRING, [2], [b"x", b"yz"]))
    inits.append(helper.make_tensor("i32data", TensorProto.INT32, [3], [1, -2, 3]))
    inits.append(helper.make_tensor("u64data", TensorProto.UINT64, [2], [1, 2**63]))
    inits.append(helper.make_tensor("f64data", TensorProto.DOUBLE, [2], [0.25, 1e300]))
    inits.append(helper.make_tensor("f16data", TensorProto.FLOAT16, [2], [1.0, 0.5]))
    inits.append(helper.make_tensor("empty", TensorProto.FLOAT, [0, 3], []))
    inits.append(helper.make_tensor("scalar", TensorProto.FLOAT, [], [3.0]))
    nodes = [helper.make_node("Cast", ["i11"], ["y"], to=TensorProto.FLOAT)]
    g = helper.make_graph(nodes, "dtypes", [], [vi("y", TensorProto.FLOAT, [2, 2])], inits)
    save("dtypes", g)


def function():
    f = helper.make_function("local", "Square", ["a"], ["b"],
                             [helper.make_node("Mul", ["a", "a"], ["b"])], OPSET)
    g = helper.make_graph([helper.make_node("Square", ["x"], ["y"], domain="local")], "fn",
                          [vi("x", TensorProto.FLOAT, [3])], [vi("y", TensorProto.FLOAT, [3])])
    save("function", g, OPSET + [helper.make_opsetid("local", 1)], functions=[f])


def optional_inputs():
    nodes = [
        helper.make_node("Split", ["x", ""], ["a", "b"], axis=0),
        helper.make_node("Dropout", ["a", "", ""], ["d", ""]),
        helper.make_node("Resize", ["b", "", "scales"], ["r"], mode="nearest"),
        helper.make_node("Concat", ["d", "r"], ["y"], axis=0),
    ]
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [2], [1.0, 1.0])
    g = helper.make_graph(nodes, "optional", [vi("x", TensorProto.FLOAT, [4, 2])],
                          [vi("y", TensorProto.FLOAT, [4, 2])], [scales])
    save("optional_inputs", g)


def huge_shapes():
    """Element counts that overflow int64 and a ConstantOfShape of 2^40 floats."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1 << 20, 1 << 20])
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["big"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
        helper.make_node("Shape", ["big"], ["s"]),
        helper.make_node("Expand", ["x", "s"], ["y"]),
    ]
    g = helper.make_graph(nodes, "huge", [vi("x", TensorProto.FLOAT, [1 << 40, 1 << 40, 1 << 40])],
                          [vi("y", TensorProto.FLOAT, None)], [shape])
    save("huge_shapes", g)


def shape_chain():
    """Shape/Gather/Concat/Reshape arithmetic that shape inference folds."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["ns"], axis=0),
        helper.make_node("Reshape", ["x", "ns"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0]),
        helper.make_node("ReduceSum", ["t", "axes"], ["y"], keepdims=0),
    ]
    inits = [helper.make_tensor("zero", TensorProto.INT64, [], [0]),
             helper.make_tensor("axes", TensorProto.INT64, [1], [0]),
             helper.make_tensor("minus1", TensorProto.INT64, [1], [-1])]
    g = helper.make_graph(nodes, "shape_chain", [vi("x", TensorProto.FLOAT, ["B", 3, 4])],
                          [vi("y", TensorProto.FLOAT, None)], inits)
    save("shape_chain", g)


def main():
    os.makedirs(OUT, exist_ok=True)
    for make in (vit_block, attribute_kinds, external_data, sparse_initializer,
                 ir3_inputs_with_initializers, constants, dtypes, function,
                 optional_inputs, huge_shapes, shape_chain):
        make()
    print("wrote", len(os.listdir(OUT)), "seeds to", OUT)


if __name__ == "__main__":
    main()
