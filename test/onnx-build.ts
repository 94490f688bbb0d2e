// Builds small ONNX models in tests: a graph described in a few lines, encoded with protobufjs from the same
// schema the importer decodes (src/io/onnx-schema.ts). No PyTorch needed; the tests compare loadOnnx
// against the same network written in the JSON spec.
import { ModelProto } from '../src/io/onnx-schema.js';

export type Attr = { i: number } | { f: number } | { ints: number[] } | { s: string } | { t: TensorDef };
export interface TensorDef {
  dims: number[];
  data: number[];
  /** int64 (shapes, axes, indices) instead of float32. */
  int?: boolean;
}
export interface NodeDef {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attrs?: Record<string, Attr>;
}
export interface GraphDef {
  opset?: number;
  /** [batch, …]; a string is a symbolic (dynamic) dimension. */
  input: { name: string; dims: (number | string)[] };
  output: string;
  initializers?: Record<string, TensorDef>;
  nodes: NodeDef[];
}

const ATTR_TYPE = { f: 1, i: 2, s: 3, t: 4, ints: 7 } as const;

export function tensorProto(name: string, t: TensorDef) {
  return t.int
    ? { name, dims: t.dims, dataType: 7, int64Data: t.data }
    : { name, dims: t.dims, dataType: 1, floatData: t.data };
}

function attrProto(name: string, a: Attr) {
  const key = Object.keys(a)[0] as keyof typeof ATTR_TYPE;
  const value =
    key === 't'
      ? tensorProto('', (a as { t: TensorDef }).t)
      : key === 's'
        ? new TextEncoder().encode((a as { s: string }).s)
        : (a as Record<string, unknown>)[key];
  return { name, type: ATTR_TYPE[key], [key]: value };
}

/** The ONNX bytes of `g`. */
export function buildOnnx(g: GraphDef): Uint8Array {
  const m = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: g.opset ?? 13 }],
    producerName: 'smoothgeo test',
    graph: {
      name: 'test',
      node: g.nodes.map((n, i) => ({
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? `/${n.op}_${i}`,
        opType: n.op,
        domain: '',
        attribute: Object.entries(n.attrs ?? {}).map(([k, a]) => attrProto(k, a)),
      })),
      initializer: Object.entries(g.initializers ?? {}).map(([k, t]) => tensorProto(k, t)),
      input: [
        {
          name: g.input.name,
          type: {
            tensorType: {
              elemType: 1,
              shape: { dim: g.input.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
            },
          },
        },
      ],
      output: [{ name: g.output }],
    },
  };
  return ModelProto.encode(ModelProto.fromObject(m)).finish();
}
