// A minimal ONNX model writer: just enough of the protobuf wire format and of onnx.proto
// (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto) to hand
// small single-op graphs to onnxruntime-node, so the benchmark needs no `onnx` package.
// Field numbers are those of onnx/onnx.proto (proto2); only the fields used here appear.

/** Node attributes, tagged by their ONNX attribute type. */
export type OnnxAttribute = { int: number } | { float: number } | { ints: readonly number[] };

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, OnnxAttribute>>;
  /** Operator set domain; '' (the default) is the standard ai.onnx domain. */
  domain?: string;
}

/** A float32 graph input or output with a fixed shape. */
export interface OnnxValueInfo {
  name: string;
  dims: readonly number[];
}

/** A constant tensor baked into the graph: float32 weights, or int64 shapes for Reshape. */
export interface OnnxInitializer {
  name: string;
  dims: readonly number[];
  data: Float32Array | BigInt64Array;
}

export interface OnnxGraph {
  nodes: readonly OnnxNode[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  initializers?: readonly OnnxInitializer[];
  /** ai.onnx opset version imported by the model. */
  opset: number;
  /** Extra operator set domains the nodes use, e.g. { 'com.microsoft': 1 }. */
  extraOpsets?: Readonly<Record<string, number>>;
}

// TensorProto.DataType and AttributeProto.AttributeType values.
const FLOAT = 1;
const INT64 = 7;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

// ONNX IR version 10 goes with opsets up to 21.
const IR_VERSION = 10;

/** Appends protobuf fields to a growing byte list. */
class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];

  /** Varint of a non-negative or negative integer (negatives as 64-bit two's complement). */
  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v !== 0n);
    this.chunks.push(Uint8Array.from(bytes));
  }

  private tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  int(field: number, value: number): this {
    this.tag(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.chunks.push(bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(value.length);
    this.chunks.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

function writeAttribute(w: ProtoWriter, name: string, attribute: OnnxAttribute): void {
  w.string(1, name); // AttributeProto.name
  if ('int' in attribute) w.int(3, attribute.int).int(20, ATTR_INT);
  else if ('float' in attribute) w.float(2, attribute.float).int(20, ATTR_FLOAT);
  else {
    for (const v of attribute.ints) w.int(8, v); // AttributeProto.ints, unpacked as proto2 writes it
    w.int(20, ATTR_INTS);
  }
}

function writeNode(w: ProtoWriter, node: OnnxNode): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(4, node.opType);
  for (const [name, attribute] of Object.entries(node.attributes ?? {})) {
    w.message(5, (a) => writeAttribute(a, name, attribute));
  }
  if (node.domain) w.string(7, node.domain);
}

function writeInitializer(w: ProtoWriter, tensor: OnnxInitializer): void {
  for (const d of tensor.dims) w.int(1, d); // TensorProto.dims
  w.int(2, tensor.data instanceof Float32Array ? FLOAT : INT64); // TensorProto.data_type
  w.string(8, tensor.name);
  // raw_data is little-endian; typed arrays use the host order, little-endian on x86 and arm64.
  w.bytes(9, new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
}

function writeValueInfo(w: ProtoWriter, value: OnnxValueInfo): void {
  w.string(1, value.name);
  w.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.int(1, FLOAT); // TypeProto.Tensor.elem_type
      tensorType.message(2, (shape) => {
        for (const d of value.dims) shape.message(1, (dim) => dim.int(1, d)); // Dimension.dim_value
      });
    }),
  );
}

/** Serialises a graph as ONNX ModelProto bytes, ready for InferenceSession.create. */
export function encodeOnnxModel(graph: OnnxGraph): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, IR_VERSION); // ModelProto.ir_version
  w.string(2, 'latent-diffusion bench'); // producer_name
  w.message(8, (o) => o.string(1, '').int(2, graph.opset)); // opset_import: domain, version
  for (const [domain, version] of Object.entries(graph.extraOpsets ?? {})) {
    w.message(8, (o) => o.string(1, domain).int(2, version));
  }
  w.message(7, (g) => {
    for (const node of graph.nodes) g.message(1, (n) => writeNode(n, node));
    g.string(2, 'bench');
    for (const init of graph.initializers ?? []) g.message(5, (t) => writeInitializer(t, init));
    for (const input of graph.inputs) g.message(11, (v) => writeValueInfo(v, input));
    for (const output of graph.outputs) g.message(12, (v) => writeValueInfo(v, output));
  });
  return w.finish();
}
