#!/usr/bin/env python3
"""Checks models written by `dinoc convert` against the models they were read from.

usage: /usr/bin/python3 tests/onnx/check_converted.py PAIRS_FILE

PAIRS_FILE has one line per model: NAME<TAB>ORIGINAL.onnx<TAB>CONVERTED.onnx.
For each pair the converted model must
  - pass onnx.checker.check_model(full_check=True) (ONNX 1.12: strict shape inference),
  - have IR version 8 and the original's opset imports,
  - have the same nodes in the same order (op_type, domain, inputs, outputs, name),
    each with the same attributes (names, types, values; floats compared bit for bit),
  - have the same initializers (names, data type, dims, values bit for bit; the order
    does not matter) and sparse initializers,
  - have the same graph inputs and outputs (names in order, element types, shapes).
The domain "ai.onnx" is the same as "". Attribute order within a node does not matter.

Prints one line per mismatch, "NAME: what differs" (at most 5 per model, then a
count), and last "N passed, M failed".
The exit status is 0 when every model passed, 1 otherwise, 2 on bad usage.
"""
import struct
import sys

import numpy as np
import onnx
from onnx import AttributeProto, numpy_helper

# A model that differs everywhere prints this many lines, then a count.
MAX_LINES_PER_MODEL = 5


def domain(d):
    return "" if d in ("", "ai.onnx") else d


def f32_bits(x):
    return struct.pack("<f", x)


class Diff:
    def __init__(self, name):
        self.name = name
        self.lines = []

    def add(self, fmt, *args):
        self.lines.append("%s: %s" % (self.name, fmt % args if args else fmt))


def tensor_value(t):
    """(dtype name, shape, bytes or list) of a TensorProto, bit-exact."""
    arr = numpy_helper.to_array(t)
    if arr.dtype == object:  # strings
        return [bytes(v) if not isinstance(v, bytes) else v for v in arr.ravel().tolist()]
    return np.ascontiguousarray(arr).tobytes()


def short(v, limit=80):
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "..."


def compare_tensor(diff, where, a, b):
    if a.name != b.name:
        diff.add("%s: name %r != %r", where, a.name, b.name)
    if a.data_type != b.data_type:
        diff.add("%s: data_type %s != %s", where,
                 onnx.TensorProto.DataType.Name(a.data_type),
                 onnx.TensorProto.DataType.Name(b.data_type))
        return
    if list(a.dims) != list(b.dims):
        diff.add("%s: dims %s != %s", where, list(a.dims), list(b.dims))
        return
    try:
        va, vb = tensor_value(a), tensor_value(b)
    except Exception as e:  # noqa: BLE001 - report whatever numpy_helper refuses
        diff.add("%s: cannot read the values: %s", where, e)
        return
    if va != vb:
        try:
            xa, xb = numpy_helper.to_array(a).ravel(), numpy_helper.to_array(b).ravel()
            first = next(i for i in range(len(xa)) if repr(xa[i]) != repr(xb[i]))
            diff.add("%s: values differ, first at flat index %d: %s != %s", where, first,
                     short(xa[first]), short(xb[first]))
        except (StopIteration, Exception):  # noqa: BLE001
            diff.add("%s: values differ (bit patterns)", where)


def compare_sparse(diff, where, a, b):
    compare_tensor(diff, where + " values", a.values, b.values)
    compare_tensor(diff, where + " indices", a.indices, b.indices)
    if list(a.dims) != list(b.dims):
        diff.add("%s: dims %s != %s", where, list(a.dims), list(b.dims))


def compare_attr(diff, where, a, b):
    if a.type != b.type:
        diff.add("%s: type %s != %s", where, AttributeProto.AttributeType.Name(a.type),
                 AttributeProto.AttributeType.Name(b.type))
        return
    if a.ref_attr_name != b.ref_attr_name:
        diff.add("%s: ref_attr_name %r != %r", where, a.ref_attr_name, b.ref_attr_name)
    t = a.type
    if t == AttributeProto.FLOAT:
        if f32_bits(a.f) != f32_bits(b.f):
            diff.add("%s: %r != %r", where, a.f, b.f)
    elif t == AttributeProto.INT:
        if a.i != b.i:
            diff.add("%s: %d != %d", where, a.i, b.i)
    elif t == AttributeProto.STRING:
        if a.s != b.s:
            diff.add("%s: %r != %r", where, a.s, b.s)
    elif t == AttributeProto.TENSOR:
        compare_tensor(diff, where, a.t, b.t)
    elif t == AttributeProto.GRAPH:
        compare_graph(diff, where, a.g, b.g)
    elif t == AttributeProto.SPARSE_TENSOR:
        compare_sparse(diff, where, a.sparse_tensor, b.sparse_tensor)
    elif t == AttributeProto.TYPE_PROTO:
        if a.tp.SerializeToString() != b.tp.SerializeToString():
            diff.add("%s: %s != %s", where, a.tp, b.tp)
    elif t == AttributeProto.FLOATS:
        if [f32_bits(x) for x in a.floats] != [f32_bits(x) for x in b.floats]:
            diff.add("%s: %s != %s", where, short(list(a.floats)), short(list(b.floats)))
    elif t == AttributeProto.INTS:
        if list(a.ints) != list(b.ints):
            diff.add("%s: %s != %s", where, short(list(a.ints)), short(list(b.ints)))
    elif t == AttributeProto.STRINGS:
        if list(a.strings) != list(b.strings):
            diff.add("%s: %s != %s", where, short(list(a.strings)), short(list(b.strings)))
    elif t == AttributeProto.TENSORS:
        if len(a.tensors) != len(b.tensors):
            diff.add("%s: %d tensors != %d", where, len(a.tensors), len(b.tensors))
        for i, (x, y) in enumerate(zip(a.tensors, b.tensors)):
            compare_tensor(diff, "%s[%d]" % (where, i), x, y)
    elif t == AttributeProto.GRAPHS:
        if len(a.graphs) != len(b.graphs):
            diff.add("%s: %d graphs != %d", where, len(a.graphs), len(b.graphs))
        for i, (x, y) in enumerate(zip(a.graphs, b.graphs)):
            compare_graph(diff, "%s[%d]" % (where, i), x, y)
    elif t == AttributeProto.SPARSE_TENSORS:
        if len(a.sparse_tensors) != len(b.sparse_tensors):
            diff.add("%s: %d sparse tensors != %d", where, len(a.sparse_tensors),
                     len(b.sparse_tensors))
        for i, (x, y) in enumerate(zip(a.sparse_tensors, b.sparse_tensors)):
            compare_sparse(diff, "%s[%d]" % (where, i), x, y)
    elif t == AttributeProto.TYPE_PROTOS:
        if [x.SerializeToString() for x in a.type_protos] != \
                [x.SerializeToString() for x in b.type_protos]:
            diff.add("%s: type protos differ", where)


def compare_node(diff, where, a, b):
    for field in ("op_type", "name"):
        if getattr(a, field) != getattr(b, field):
            diff.add("%s: %s %r != %r", where, field, getattr(a, field), getattr(b, field))
    if domain(a.domain) != domain(b.domain):
        diff.add("%s: domain %r != %r", where, a.domain, b.domain)
    for field in ("input", "output"):
        if list(getattr(a, field)) != list(getattr(b, field)):
            diff.add("%s: %ss %s != %s", where, field, list(getattr(a, field)),
                     list(getattr(b, field)))
    aa = {x.name: x for x in a.attribute}
    ba = {x.name: x for x in b.attribute}
    for name in sorted(aa.keys() - ba.keys()):
        diff.add("%s: attribute %r missing", where, name)
    for name in sorted(ba.keys() - aa.keys()):
        diff.add("%s: extra attribute %r", where, name)
    for name in sorted(aa.keys() & ba.keys()):
        compare_attr(diff, "%s attribute %r" % (where, name), aa[name], ba[name])


def dim_str(d):
    kind = d.WhichOneof("value")
    if kind == "dim_value":
        return str(d.dim_value)
    if kind == "dim_param":
        return d.dim_param
    return "?"


def type_str(tp):
    kind = tp.WhichOneof("value")
    if kind != "tensor_type":
        return "%s:%s" % (kind, tp.SerializeToString().hex())
    tt = tp.tensor_type
    elem = onnx.TensorProto.DataType.Name(tt.elem_type)
    if not tt.HasField("shape"):
        return elem + "[no shape]"
    return "%s[%s]" % (elem, ",".join(dim_str(d) for d in tt.shape.dim))


def compare_value_infos(diff, what, a, b):
    an, bn = [v.name for v in a], [v.name for v in b]
    if an != bn:
        diff.add("%s names %s != %s", what, short(an, 200), short(bn, 200))
        return
    for x, y in zip(a, b):
        if type_str(x.type) != type_str(y.type):
            diff.add("%s %r: type %s != %s", what, x.name, type_str(x.type), type_str(y.type))


def compare_graph(diff, where, a, b):
    prefix = where + ": " if where else ""
    if len(a.node) != len(b.node):
        diff.add("%s%d nodes != %d", prefix, len(a.node), len(b.node))
    for i, (x, y) in enumerate(zip(a.node, b.node)):
        compare_node(diff, "%snode %d (%s %r)" % (prefix, i, x.op_type, x.name), x, y)
    ai = {t.name: t for t in a.initializer}
    bi = {t.name: t for t in b.initializer}
    for name in sorted(ai.keys() - bi.keys()):
        diff.add("%sinitializer %r missing", prefix, name)
    for name in sorted(bi.keys() - ai.keys()):
        diff.add("%sextra initializer %r", prefix, name)
    for name in sorted(ai.keys() & bi.keys()):
        compare_tensor(diff, "%sinitializer %r" % (prefix, name), ai[name], bi[name])
    asp = {t.values.name: t for t in a.sparse_initializer}
    bsp = {t.values.name: t for t in b.sparse_initializer}
    if asp.keys() != bsp.keys():
        diff.add("%ssparse initializers %s != %s", prefix, sorted(asp), sorted(bsp))
    for name in sorted(asp.keys() & bsp.keys()):
        compare_sparse(diff, "%ssparse initializer %r" % (prefix, name), asp[name], bsp[name])
    compare_value_infos(diff, prefix + "graph input", a.input, b.input)
    compare_value_infos(diff, prefix + "graph output", a.output, b.output)


def opsets(m):
    return sorted((domain(o.domain), o.version) for o in m.opset_import)


def check_pair(name, original_path, converted_path):
    diff = Diff(name)
    try:
        original = onnx.load(original_path)
    except Exception as e:  # noqa: BLE001
        diff.add("cannot load the original %s: %s", original_path, e)
        return diff.lines
    try:
        converted = onnx.load(converted_path)
    except Exception as e:  # noqa: BLE001
        diff.add("cannot load the converted %s: %s", converted_path, e)
        return diff.lines
    try:
        onnx.checker.check_model(converted, full_check=True)
    except Exception as e:  # noqa: BLE001
        msg = " ".join(str(e).split())
        diff.add("onnx.checker (full_check): %s", msg[:400])
    if converted.ir_version != 8:
        diff.add("ir_version %d, expected 8", converted.ir_version)
    if opsets(original) != opsets(converted):
        diff.add("opset imports %s != %s", opsets(original), opsets(converted))
    compare_graph(diff, "", original.graph, converted.graph)
    return diff.lines


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    passed = failed = 0
    with open(argv[1], encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                print("%s: bad line %r" % (argv[1], line))
                failed += 1
                continue
            lines = check_pair(*fields)
            for m in lines[:MAX_LINES_PER_MODEL]:
                print(m)
            if len(lines) > MAX_LINES_PER_MODEL:
                print("%s: ... and %d more differences" % (fields[0],
                                                          len(lines) - MAX_LINES_PER_MODEL))
            if lines:
                failed += 1
            else:
                passed += 1
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
