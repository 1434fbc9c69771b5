// This file is part of the explain module. It is subject to the license terms in the LICENSE file
// found in the top-level directory of this distribution (Apache License 2.0).
// A minimal ONNX (protobuf) writer for fuzz_model: a ModelProto with one graph of nodes, float/int64
// initializers and float inputs/outputs, encoded by hand (varints and length-delimited fields, the field
// numbers of onnx.proto). Enough to build well-formed models; no reader.
#ifndef EXPLAIN_FUZZ_ONNX_WRITER_HPP
#define EXPLAIN_FUZZ_ONNX_WRITER_HPP

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace onnxw {

/** Protocol buffer wire encoding into a byte string. */
class Proto
{
public:
    const std::string& bytes() const { return b_; }

    Proto& varint(int field, uint64_t v) { key(field, 0); raw(v); return *this; }
    Proto& sint(int field, int64_t v) { return varint(field, (uint64_t)v); }  // int64 fields: two's complement
    Proto& f32(int field, float v)
    {
        key(field, 5);
        char c[4];
        std::memcpy(c, &v, 4);
        b_.append(c, 4);
        return *this;
    }
    Proto& str(int field, const std::string& s) { key(field, 2); raw(s.size()); b_ += s; return *this; }
    Proto& msg(int field, const Proto& p) { return str(field, p.bytes()); }

private:
    void key(int field, int wire) { raw((uint64_t)field << 3 | (uint64_t)wire); }
    void raw(uint64_t v)
    {
        while (v >= 0x80)
        {
            b_ += (char)(v | 0x80);
            v >>= 7;
        }
        b_ += (char)v;
    }
    std::string b_;
};

enum { FLOAT = 1, INT64 = 7 };

/** AttributeProto (name 1, f 2, i 3, s 4, floats 7, ints 8, type 20). */
inline Proto attrInt(const std::string& name, int64_t v) { return Proto().str(1, name).sint(3, v).varint(20, 2); }
inline Proto attrFloat(const std::string& name, float v) { return Proto().str(1, name).f32(2, v).varint(20, 1); }
inline Proto attrString(const std::string& name, const std::string& v) { return Proto().str(1, name).str(4, v).varint(20, 3); }
inline Proto attrInts(const std::string& name, const std::vector<int64_t>& v)
{
    Proto p;
    p.str(1, name);
    for (int64_t x : v)
        p.sint(8, x);
    return p.varint(20, 7);
}

/** TensorProto (dims 1, data_type 2, name 8, raw_data 9). */
inline Proto floatTensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values)
{
    Proto p;
    for (int64_t d : dims)
        p.sint(1, d);
    p.varint(2, FLOAT).str(8, name);
    return p.str(9, std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}
inline Proto int64Tensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int64_t>& values)
{
    Proto p;
    for (int64_t d : dims)
        p.sint(1, d);
    p.varint(2, INT64).str(8, name);
    return p.str(9, std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t)));
}

/** ValueInfoProto of a float tensor (name 1, type 2 -> TypeProto.tensor_type 1 -> elem_type 1, shape 2). */
inline Proto valueInfo(const std::string& name, const std::vector<int64_t>& dims)
{
    Proto shape;
    for (int64_t d : dims)
        shape.msg(1, Proto().sint(1, d));
    Proto tensor;
    tensor.varint(1, FLOAT).msg(2, shape);
    return Proto().str(1, name).msg(2, Proto().msg(1, tensor));
}

/** NodeProto (input 1, output 2, name 3, op_type 4, attribute 5). */
struct Node
{
    std::string op;
    std::vector<std::string> inputs, outputs;
    std::vector<Proto> attrs;

    Proto encode(const std::string& name) const
    {
        Proto p;
        for (const std::string& s : inputs)
            p.str(1, s);
        for (const std::string& s : outputs)
            p.str(2, s);
        p.str(3, name).str(4, op);
        for (const Proto& a : attrs)
            p.msg(5, a);
        return p;
    }
};

/** GraphProto (node 1, name 2, initializer 5, input 11, output 12) in a ModelProto (ir_version 1,
    producer_name 2, graph 7, opset_import 8). */
struct Graph
{
    std::vector<Node> nodes;
    std::vector<Proto> initializers;
    std::vector<Proto> inputs, outputs;

    std::string model(int opset) const
    {
        Proto g;
        for (size_t i = 0; i < nodes.size(); i++)
            g.msg(1, nodes[i].encode(nodes[i].op + "_" + std::to_string(i)));
        g.str(2, "fuzz");
        for (const Proto& t : initializers)
            g.msg(5, t);
        for (const Proto& v : inputs)
            g.msg(11, v);
        for (const Proto& v : outputs)
            g.msg(12, v);
        Proto m;
        m.varint(1, 7).str(2, "explain-fuzz").msg(7, g).msg(8, Proto().str(1, "").varint(2, (uint64_t)opset));
        return m.bytes();
    }
};

} // namespace onnxw

#endif
