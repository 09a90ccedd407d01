// A small ONNX graph builder over the protobuf schema of the npm package `onnx-proto` (protobufjs):
// initializers (raw little-endian data), nodes with typed attributes, inputs/outputs with symbolic
// dims, opset import and metadata, encoded to the bytes of an .onnx file by the protobuf library.
import { endianness } from "node:os";
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** ONNX tensor element types used here (TensorProto.DataType values). */
export const OnnxType = { float: 1, int32: 6, int64: 7, bool: 9 } as const;
export type OnnxElemType = (typeof OnnxType)[keyof typeof OnnxType];

/** A graph the builder was asked to make that ONNX would reject (duplicate names, bad shapes). */
export class OnnxBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OnnxBuildError";
  }
}

/** A node attribute with its ONNX type made explicit (a JS number alone does not say int or float). */
export type OnnxAttr =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "ints"; value: readonly number[] }
  | { kind: "floats"; value: readonly number[] }
  | { kind: "string"; value: string };

export const attr = {
  int: (value: number): OnnxAttr => ({ kind: "int", value }),
  float: (value: number): OnnxAttr => ({ kind: "float", value }),
  ints: (value: readonly number[]): OnnxAttr => ({ kind: "ints", value }),
  floats: (value: readonly number[]): OnnxAttr => ({ kind: "floats", value }),
  string: (value: string): OnnxAttr => ({ kind: "string", value }),
};

/** A dimension: a fixed size or a symbolic name ("batch", "sequence"). */
export type OnnxDim = number | string;

/** Tensor data an initializer can hold. */
export type OnnxTensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

export interface OnnxModelOptions {
  /** Default opset of the ai.onnx domain (default 17: LayerNormalization is there, ReduceMean still takes axes as an attribute). */
  opset?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  /** model.metadata_props: string key/value pairs onnxruntime exposes as custom metadata. */
  metadata?: Record<string, string>;
}

/** IR version 8 (ONNX 1.12/1.13) goes with opsets 17 and 18. */
const IR_VERSION = 8;

const ATTR_TYPE = onnx.AttributeProto.AttributeType;

function elemTypeOf(data: OnnxTensorData): OnnxElemType {
  if (data instanceof Float32Array) return OnnxType.float;
  if (data instanceof BigInt64Array) return OnnxType.int64;
  if (data instanceof Int32Array) return OnnxType.int32;
  return OnnxType.bool;
}

function valueInfo(name: string, elemType: OnnxElemType, dims: readonly OnnxDim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function attributeProto(name: string, a: OnnxAttr): onnxProto.onnx.IAttributeProto {
  switch (a.kind) {
    case "int": return { name, type: ATTR_TYPE.INT, i: a.value };
    case "float": return { name, type: ATTR_TYPE.FLOAT, f: a.value };
    case "ints": return { name, type: ATTR_TYPE.INTS, ints: [...a.value] };
    case "floats": return { name, type: ATTR_TYPE.FLOATS, floats: [...a.value] };
    case "string": return { name, type: ATTR_TYPE.STRING, s: Buffer.from(a.value, "utf8") };
  }
}

/**
 * Builds one ONNX graph: add inputs, initializers and nodes in topological order, then outputs,
 * and encode. Names must be unique; {@link OnnxGraphBuilder.node} invents output names when not given.
 */
export class OnnxGraphBuilder {
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly inits: onnxProto.onnx.ITensorProto[] = [];
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;
  /** Bytes of initializer data so far (protobuf files stop at 2 GiB). */
  initializerBytes = 0;

  constructor(readonly graphName: string) {}

  private claim(name: string): string {
    if (this.names.has(name)) throw new OnnxBuildError(`ONNX graph "${this.graphName}": the name "${name}" is already used`);
    this.names.add(name);
    return name;
  }

  /** A fresh value name with this stem. */
  fresh(stem: string): string {
    let n = `${stem}_${this.counter++}`;
    while (this.names.has(n)) n = `${stem}_${this.counter++}`;
    return n;
  }

  /** Declares a graph input. */
  input(name: string, elemType: OnnxElemType, dims: readonly OnnxDim[]): string {
    this.inputs.push(valueInfo(this.claim(name), elemType, dims));
    return name;
  }

  /** Declares an existing value as a graph output (its name must already be produced by a node). */
  output(name: string, elemType: OnnxElemType, dims: readonly OnnxDim[]): string {
    if (!this.names.has(name)) throw new OnnxBuildError(`ONNX graph "${this.graphName}": output "${name}" is produced by no node`);
    this.outputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /**
   * A constant tensor stored in the file (raw little-endian bytes, as this machine holds them); returns
   * its name. The data is referenced, not copied: do not change it before {@link OnnxGraphBuilder.encode}.
   */
  initializer(name: string, data: OnnxTensorData, dims: readonly number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new OnnxBuildError(`ONNX initializer "${name}": ${data.length} values for dims [${dims.join(", ")}] (${n} expected)`);
    if (data.BYTES_PER_ELEMENT > 1 && endianness() !== "LE") throw new OnnxBuildError("ONNX raw tensor data is little-endian; writing it on a big-endian machine is not supported");
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.inits.push({ name: this.claim(name), dims: [...dims], dataType: elemTypeOf(data), rawData: bytes });
    this.initializerBytes += bytes.length;
    return name;
  }

  /** A small int64 constant (shapes, axes), shared between nodes that ask for the same values. */
  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i64:${dims.join("x")}:${values.join(",")}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.initializer(this.fresh("const_i64"), BigInt64Array.from(values, (v) => BigInt(v)), dims);
      this.constCache.set(key, name);
    }
    return name;
  }

  /** A small float32 constant (scalars: dims []), shared like {@link OnnxGraphBuilder.int64}. */
  float(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `f32:${dims.join("x")}:${values.join(",")}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.initializer(this.fresh("const_f32"), Float32Array.from(values), dims);
      this.constCache.set(key, name);
    }
    return name;
  }

  /**
   * Adds a node. `inputs` may contain "" for an omitted optional input. `outputs` is a count
   * (names invented from the op type) or explicit names. Returns the output names.
   */
  node(opType: string, inputs: readonly string[], outputs: number | readonly string[] = 1, attrs: Record<string, OnnxAttr> = {}): string[] {
    for (const i of inputs) {
      if (i !== "" && !this.names.has(i)) throw new OnnxBuildError(`ONNX node ${opType}: input "${i}" is not defined yet (nodes must be added in order)`);
    }
    const outs = typeof outputs === "number" ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : [...outputs];
    for (const o of outs) this.claim(o);
    this.nodes.push({
      name: `${opType}_${this.nodes.length}`, opType, input: [...inputs], output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attributeProto(k, v)),
    });
    return outs;
  }

  /** Shorthand for a node with one output. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, OnnxAttr> = {}, output?: string): string {
    return this.node(opType, inputs, output ? [output] : 1, attrs)[0];
  }

  /** Number of nodes so far. */
  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The encoded ModelProto (the bytes of an .onnx file). */
  encode(opts: OnnxModelOptions = {}): Uint8Array {
    if (this.outputs.length === 0) throw new OnnxBuildError(`ONNX graph "${this.graphName}" has no outputs`);
    // protobuf messages are limited to 2 GiB; weights beyond that need ONNX external data (not written here).
    if (this.initializerBytes > 2 ** 31 - 2 ** 24) {
      throw new OnnxBuildError(`ONNX graph "${this.graphName}": ${(this.initializerBytes / 2 ** 30).toFixed(2)} GiB of weights exceed the 2 GiB limit of one .onnx protobuf file`);
    }
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: "", version: opts.opset ?? 17 }],
      producerName: opts.producerName ?? "",
      producerVersion: opts.producerVersion ?? "",
      docString: opts.docString ?? "",
      graph: { name: this.graphName, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** Decodes .onnx bytes (for checks and tests): the ModelProto as protobufjs objects. */
export function decodeOnnxModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
