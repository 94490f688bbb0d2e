import { Engine } from '../engine.js';
import { fail } from '../errors.js';
import { Model } from '../graph/model.js';
import { buildGraph, type ModelSpec } from '../graph/spec.js';
import { graphOpFromSpec } from '../ops/index.js';
import type { LayerSpec } from '../ops/op.js';
import type { Tensor } from '../tensor.js';
import { options as validateOptions, show } from '../validate.js';
import { attrsOf, floatOf, fold, FOLDABLE_OPS, valuesOf, type Const, type OnnxNode } from './onnx-fold.js';
import { ModelProto } from './onnx-schema.js';

/**
 * ONNX import: the graph becomes a JSON spec (layers with ids and inputs) and its initializers the
 * weights, under their ONNX names (the PyTorch names when exported by torch.onnx.export), then loads as
 * `loadModel` does. Values computed from constants alone are folded at load (onnx-fold.ts). Anything the
 * importer cannot express exactly is refused with the operator and node named — never approximated.
 */
export const SUPPORTED_ONNX_OPS = [
  'Conv',
  'Gemm (transB, alpha, beta)',
  'MatMul (2-D, constant right operand)',
  'Add',
  'Sub',
  'Mul',
  'Div (by a constant)',
  'Relu',
  'Sigmoid',
  'Tanh',
  'Softplus',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'BatchNormalization',
  'Concat (axis 1)',
  'Flatten',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  'Dropout',
  'Constant',
  'on constants only: Shape, Gather, Cast, Slice, Neg, Sqrt',
] as const;
const OPSETS = [11, 17];
/** Default cap on the file size: a hostile file cannot make the decoder allocate more than about this. */
export const DEFAULT_MAX_ONNX_BYTES = 512 * 1024 * 1024;
const FLOAT = 1;
/** Largest number of nodes accepted (the topological sort and folding are at most quadratic in it). */
export const MAX_ONNX_NODES = 100_000;

export interface OnnxOptions {
  /** Largest file accepted, in bytes (default 512 MiB); folded constants are capped at the same size. */
  maxBytes?: number;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- protobufjs objects are untyped */
type Node = OnnxNode;

function bad(message: string): never {
  return fail('INVALID_ONNX', message);
}

const unsupported = (n: Node, why: string): never =>
  bad(`node '${n.name}' (${n.opType}): ${why}; supported operators: ${SUPPORTED_ONNX_OPS.join(', ')}`);

/** Loads an ONNX model (opsets 11 to 17, float32) as a Model on `engine`. */
export async function loadOnnx(
  engine: Engine,
  bytes: Uint8Array | ArrayBuffer,
  options: OnnxOptions = {},
): Promise<Model> {
  if (!(engine instanceof Engine))
    fail('INVALID_ARGUMENT', `loadOnnx: engine must be an Engine from createEngine(), got ${show(engine)}`);
  const o = validateOptions('loadOnnx', options, ['maxBytes']);
  const maxBytes = o.maxBytes === undefined ? DEFAULT_MAX_ONNX_BYTES : (o.maxBytes as number);
  if (!Number.isInteger(maxBytes) || maxBytes <= 0)
    fail('INVALID_ARGUMENT', `loadOnnx: maxBytes must be a positive integer, got ${show(o.maxBytes)}`);
  const { spec, weights } = onnxToSpec(bytes, maxBytes);
  return new Model(engine, buildGraph(spec), weights);
}

/** The spec and weights of an ONNX file (exported for tests and tools). */
export function onnxToSpec(
  bytes: Uint8Array | ArrayBuffer,
  maxBytes = DEFAULT_MAX_ONNX_BYTES,
): { spec: ModelSpec; weights: Map<string, Tensor> } {
  const buf = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
  if (!(buf instanceof Uint8Array))
    fail('INVALID_ARGUMENT', `loadOnnx: bytes must be a Uint8Array or ArrayBuffer, got ${show(bytes)}`);
  if (buf.length > maxBytes)
    fail('LIMIT_EXCEEDED', `loadOnnx: the file has ${buf.length} bytes, more than maxBytes = ${maxBytes}`);
  let m: any;
  try {
    m = ModelProto.toObject(ModelProto.decode(buf), { longs: Number, defaults: true, arrays: true });
  } catch (e) {
    bad(`the file is not a valid ONNX model (protobuf decoding failed: ${(e as Error).message}); is it truncated?`);
  }
  if (!m.graph || !m.graph.node.length) bad('the file holds no ONNX graph (no nodes): not an ONNX model, or truncated');
  if (m.graph.node.length > MAX_ONNX_NODES)
    fail('LIMIT_EXCEEDED', `loadOnnx: the graph has ${m.graph.node.length} nodes, more than ${MAX_ONNX_NODES}`);
  if (m.trainingInfo.length) bad('the model is a training graph (training_info is set); export it in eval mode');
  const opset = m.opsetImport.find((s: any) => s.domain === '' || s.domain === 'ai.onnx');
  if (!opset || opset.version < OPSETS[0] || opset.version > OPSETS[1]) {
    bad(`the model's ONNX opset is ${opset ? opset.version : 'missing'}; supported: ${OPSETS[0]} to ${OPSETS[1]}`);
  }
  const g = m.graph;
  const maxElements = Math.floor(maxBytes / 4);
  const readTensor = (t: any, what: string) => tensorOf(t, what, maxBytes);

  // Constants: initializers, Constant nodes and everything folded from them.
  const consts = new Map<string, Const>();
  for (const t of g.initializer) consts.set(t.name, readTensor(t, `initializer '${t.name}'`));
  if (g.sparseInitializer.length) bad('sparse initializers are not supported');

  const inputs = g.input.filter((v: any) => !consts.has(v.name));
  if (inputs.length !== 1)
    bad(
      `the graph must have exactly one input besides its initializers, got ${inputs.length}: ${inputs.map((v: any) => v.name).join(', ')}`,
    );
  const input = inputs[0];
  const tt = input.type?.tensorType;
  if (!tt || tt.elemType !== FLOAT)
    bad(`graph input '${input.name}' must be a float32 tensor, got element type ${tt?.elemType}`);
  const dims: number[] = (tt.shape?.dim ?? []).map((d: any, i: number) => (i === 0 ? 1 : d.dimValue));
  if (!(dims.length === 2 || dims.length === 4) || dims.slice(1).some((d) => !Number.isInteger(d) || d <= 0)) {
    bad(
      `graph input '${input.name}' must be [batch, C, H, W] or [batch, features] with fixed sizes after the batch, got ${show((tt.shape?.dim ?? []).map((d: any) => d.dimParam || d.dimValue))}`,
    );
  }
  if (g.output.length !== 1) bad(`the graph must have exactly one output (the logits), got ${g.output.length}`);

  const nodes: Node[] = topoSort(g.node, new Set([input.name, ...consts.keys()]));
  // Value name → spec id ('input' for the graph input), and each id's per-example shape.
  const ids = new Map<string, string>([[input.name, 'input']]);
  const shapes = new Map<string, readonly number[]>([['input', dims.slice(1)]]);
  const layers: LayerSpec[] = [];
  const weights = new Map<string, Tensor>();
  const where = (n: Node) => `node '${n.name}' (${n.opType})`;
  const valueOf = (n: Node, name: string): string => {
    const id = ids.get(name);
    if (id === undefined)
      bad(
        `${where(n)}: input '${name}' is ${consts.has(name) ? 'a constant where a computed value is expected' : 'not defined'}`,
      );
    return id;
  };
  const shapeOfValue = (n: Node, name: string) => shapes.get(valueOf(n, name))!;
  const constOf = (n: Node, name: string, what: string): Tensor => {
    const t = consts.get(name);
    if (!t) bad(`${where(n)}: its ${what} '${name}' must be a constant (an initializer)`);
    if (t.int) bad(`${where(n)}: its ${what} '${name}' is an integer tensor; the model must be float32 (ONNX type 1)`);
    return { shape: t.shape, data: floatOf(t, `${where(n)}: its ${what} '${name}'`) };
  };
  const emit = (n: Node, layer: Record<string, unknown>, reads: string[]) => {
    const id = `v${layers.length}`;
    const ins = reads.map((r) => valueOf(n, r));
    // The op itself checks the layer against its input shapes now, so that a mismatch names the node.
    const op = graphOpFromSpec(
      layer as LayerSpec,
      ins.map((i) => shapes.get(i)!),
      where(n),
    );
    layers.push({ ...layer, id, inputs: ins } as unknown as LayerSpec);
    ids.set(n.output[0], id);
    shapes.set(id, op.outShape);
  };
  const alias = (n: Node, from: string) => ids.set(n.output[0], valueOf(n, from));
  const param = (layerName: string, key: string, t: Tensor) => {
    weights.set(`${layerName}.${key}`, t);
  };
  const taken = new Set<string>();
  // Parameters are named `${layer}.${key}`. torch.onnx.export keeps a module's names (`layer1.0.conv1.weight`)
  // unless it folded constants into new tensors (batch norm folded into a convolution: `onnx::Conv_193`);
  // those get the node's name instead (`/layer1/layer1.0/conv1/Conv` → `layer1.layer1.0.conv1.Conv`).
  const layerName = (n: Node, names: string[], keys: string[]): string => {
    const p = names[0].endsWith(`.${keys[0]}`) ? names[0].slice(0, -keys[0].length - 1) : '';
    if (p && /^[A-Za-z_][\w.]*$/.test(p) && names.every((nm, i) => nm === `${p}.${keys[i]}`) && !taken.has(p)) {
      taken.add(p);
      return p;
    }
    let name = n.name
      .replace(/[^\w.]+/g, '.')
      .replace(/^[.]+|[.]+$/g, '')
      .replace(/\.{2,}/g, '.');
    if (!/^[A-Za-z_]/.test(name)) name = `node_${name}`;
    for (let i = 2; taken.has(name) || !/^[A-Za-z_][\w.]*$/.test(name); i++) name = `node_${nodeIndex.get(n)}_${i}`;
    taken.add(name);
    return name;
  };
  // A constant operand of an elementwise layer is a parameter under its own ONNX name; a constant that
  // several nodes read becomes one parameter per use (`name`, `name.2`, …), whose gradients sum to its own.
  const constantParam = (n: Node, name: string): string => {
    let full = name;
    for (let i = 2; weights.has(full) || !/^\S{1,256}$/.test(full); i++)
      full = `${/^\S{1,240}$/.test(name) ? name : `node_${nodeIndex.get(n)}`}.${i}`;
    weights.set(full, constOf(n, name, 'constant operand'));
    return full;
  };
  const nodeIndex = new Map(nodes.map((n, i) => [n, i]));
  const consumers = new Map<string, Node[]>();
  for (const n of nodes) for (const i of n.input) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const skip = new Set<Node>();
  const fullShape = (name: string) => {
    const id = ids.get(name);
    return id === undefined ? undefined : [NaN, ...shapes.get(id)!];
  };

  for (const n of nodes) {
    if (skip.has(n)) continue;
    if (n.domain !== '' && n.domain !== 'ai.onnx')
      bad(
        `${where(n)}: operator domain '${n.domain}' is not supported; supported operators: ${SUPPORTED_ONNX_OPS.join(', ')}`,
      );
    if (n.opType === 'Dropout') dropoutInference(n, consts);
    // Constant subgraphs first: a node whose inputs are all constants becomes a constant.
    const folded =
      (FOLDABLE_OPS as readonly string[]).includes(n.opType) || n.opType === 'Dropout'
        ? fold(
            n.opType === 'Dropout' ? { ...n, opType: 'Identity', input: [n.input[0]] } : n,
            consts,
            fullShape,
            opset.version,
            maxElements,
            readTensor,
          )
        : null;
    if (folded) {
      consts.set(n.output[0], folded);
      continue;
    }
    const a = attrsOf(n);
    const X = n.input[0];
    switch (n.opType) {
      case 'Identity':
      case 'Dropout':
        alias(n, X);
        break;
      case 'Conv': {
        const W = constOf(n, n.input[1], 'weight');
        const hasBias = n.input.length > 2 && n.input[2] !== '';
        const name = layerName(n, hasBias ? [n.input[1], n.input[2]] : [n.input[1]], ['weight', 'bias']);
        const dilation = a.dilations?.ints ?? [1, 1];
        if (dilation.length !== 2 || W.shape.length !== 4)
          bad(`${where(n)}: only 2-D convolutions are supported, got dilations ${show(dilation)}`);
        autoPad(n, a);
        const pads = symmetricPads(n, a.pads?.ints ?? [0, 0, 0, 0]);
        emit(
          n,
          {
            type: 'conv2d',
            name,
            out: W.shape[0],
            kernel: [W.shape[2], W.shape[3]],
            stride: a.strides?.ints ?? [1, 1],
            padding: pads,
            dilation,
            groups: a.group?.i ?? 1,
            bias: hasBias,
          },
          [X],
        );
        param(name, 'weight', W);
        if (hasBias) param(name, 'bias', constOf(n, n.input[2], 'bias'));
        break;
      }
      case 'Gemm': {
        // y = alpha·x·op(B) + beta·C. PyTorch's Linear is transB = 1, alpha = beta = 1: B and C are then the
        // layer's weight and bias as they are. Otherwise the dense layer's weight alpha·op(B)ᵀ and bias beta·C
        // are new tensors, named after the node.
        if ((a.transA?.i ?? 0) !== 0)
          unsupported(n, 'Gemm with transA = 1 is not supported (the batch must stay the rows of A)');
        const transB = (a.transB?.i ?? 0) === 1,
          alpha = a.alpha?.f ?? 1,
          beta = a.beta?.f ?? 1;
        const B = constOf(n, n.input[1], 'weight');
        const xs = shapeOfValue(n, X);
        if (B.shape.length !== 2 || xs.length !== 1 || B.shape[transB ? 1 : 0] !== xs[0])
          bad(
            `${where(n)}: needs A [batch, K] and B ${transB ? '[N, K]' : '[K, N]'}, got [batch, ${xs.join(', ')}] and ${show(B.shape)}`,
          );
        const N = B.shape[transB ? 0 : 1],
          K = xs[0];
        const hasBias = n.input.length > 2 && n.input[2] !== '';
        const plain = transB && alpha === 1 && beta === 1;
        const name = plain
          ? layerName(n, hasBias ? [n.input[1], n.input[2]] : [n.input[1]], ['weight', 'bias'])
          : layerName(n, [`${n.name}.weight`], ['weight']);
        emit(n, { type: 'dense', name, out: N, bias: hasBias }, [X]);
        const W = new Float32Array(N * K);
        for (let o = 0; o < N; o++)
          for (let k = 0; k < K; k++) W[o * K + k] = alpha * (transB ? B.data[o * K + k] : B.data[k * N + o]);
        param(name, 'weight', plain ? B : { shape: [N, K], data: W });
        if (hasBias) {
          const C = constOf(n, n.input[2], 'bias');
          const size = C.data.length;
          if (!(C.shape.length <= 2 && (size === N || size === 1) && C.shape.slice(0, -1).every((d) => d === 1)))
            bad(`${where(n)}: bias C must be [${N}], [1, ${N}] or a scalar, got ${show(C.shape)}`);
          const bias = Float32Array.from({ length: N }, (_, o) => beta * C.data[size === 1 ? 0 : o]);
          param(name, 'bias', plain && C.shape.length === 1 && size === N ? C : { shape: [N], data: bias });
        }
        break;
      }
      case 'MatMul': {
        // x [batch, K] · B [K, N] is a dense layer with weight Bᵀ [N, K] (PyTorch's layout), no bias.
        if (consts.has(X)) unsupported(n, 'MatMul of a constant by a computed value is not supported');
        if (!consts.has(n.input[1]))
          unsupported(n, 'MatMul of two computed values is not supported (only by a constant right operand)');
        const Bc = constOf(n, n.input[1], 'right operand');
        const xs = shapeOfValue(n, X);
        if (xs.length !== 1 || consts.get(n.input[1])!.shape.length !== 2)
          unsupported(
            n,
            `only a 2-D MatMul [batch, K] · [K, N] is supported, got [batch, ${xs.join(', ')}] · ${show(consts.get(n.input[1])!.shape)}`,
          );
        const [K, N] = Bc.shape;
        const Wt = new Float32Array(K * N);
        for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) Wt[j * K + k] = Bc.data[k * N + j];
        const name = layerName(n, [`${n.name}.weight`], ['weight']);
        emit(n, { type: 'dense', name, out: N, bias: false }, [X]);
        param(name, 'weight', { shape: [N, K], data: Wt });
        break;
      }
      case 'BatchNormalization': {
        if ((a.training_mode?.i ?? 0) !== 0 || n.output.filter((x) => x).length > 1)
          bad(`${where(n)}: training-mode batch normalization; export in eval mode`);
        const keys = ['weight', 'bias', 'running_mean', 'running_var'];
        const name = layerName(n, n.input.slice(1, 5), keys);
        emit(
          n,
          { type: shapeOfValue(n, X).length === 3 ? 'batchnorm2d' : 'batchnorm1d', name, eps: a.epsilon?.f ?? 1e-5 },
          [X],
        );
        keys.forEach((k, i) => param(name, k, constOf(n, n.input[i + 1], k)));
        break;
      }
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh':
      case 'Softplus':
        emit(n, { type: n.opType.toLowerCase() }, [X]);
        break;
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        if (n.opType === 'Mul' && softplusBeta(n, consts, consumers, skip, emit)) break;
        const type = n.opType.toLowerCase();
        const [c0, c1] = [consts.has(n.input[0]), consts.has(n.input[1])];
        if (!c0 && !c1) {
          if (type === 'mul' || type === 'div')
            unsupported(n, `${n.opType} of two computed values is not supported (only with a constant operand)`);
          emit(n, { type }, [n.input[0], n.input[1]]);
          break;
        }
        if (c0 && type === 'div') unsupported(n, 'Div of a constant by a computed value is not supported');
        const [x, c] = c0 ? [n.input[1], n.input[0]] : [n.input[0], n.input[1]];
        const shape = consts.get(c)!.shape;
        const layer: Record<string, unknown> = { type, param: constantParam(n, c), shape };
        if (c0 && type === 'sub') layer.constantFirst = true;
        // Before emitting: the constant's weight is named, and its shape checked by the layer.
        emit(n, layer, [x]);
        break;
      }
      case 'Concat': {
        if ((a.axis?.i ?? 0) !== 1) bad(`${where(n)}: only axis = 1 (channels) is supported, got ${a.axis?.i}`);
        if (n.input.some((i) => consts.has(i)))
          bad(`${where(n)}: Concat of a constant is not supported (only of computed values)`);
        emit(n, { type: 'concat' }, n.input);
        break;
      }
      case 'GlobalAveragePool':
        emit(n, { type: 'globalavgpool2d' }, [X]);
        break;
      case 'Flatten': {
        if ((a.axis?.i ?? 1) !== 1) bad(`${where(n)}: only axis = 1 is supported, got ${a.axis.i}`);
        emit(n, { type: 'flatten' }, [X]);
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        autoPad(n, a);
        const padding = symmetricPads(n, a.pads?.ints ?? [0, 0, 0, 0]);
        if ((a.dilations?.ints ?? [1, 1]).some((d: number) => d !== 1)) bad(`${where(n)}: dilations are not supported`);
        if (n.output.length > 1 && n.output[1]) bad(`${where(n)}: the Indices output is not supported`);
        if (!a.kernel_shape || a.kernel_shape.ints.length !== 2) bad(`${where(n)}: needs a 2-D kernel_shape`);
        const layer: Record<string, unknown> = {
          type: n.opType === 'MaxPool' ? 'maxpool2d' : 'avgpool2d',
          kernel: a.kernel_shape.ints,
          stride: a.strides?.ints ?? [1, 1],
          padding,
          ceilMode: (a.ceil_mode?.i ?? 0) === 1,
        };
        // ONNX's default is count_include_pad = 0 (PyTorch's is True; torch.onnx.export writes it explicitly).
        if (n.opType === 'AveragePool') layer.countIncludePad = (a.count_include_pad?.i ?? 0) === 1;
        emit(n, layer, [X]);
        break;
      }
      case 'Reshape': {
        const s = consts.get(n.input[1]);
        if (!s) bad(`${where(n)}: the shape must be a constant (or folded from constants and Shape)`);
        reshapeTo(n, valuesOf(s), shapeOfValue(n, X));
        break;
      }
      case 'Squeeze':
      case 'Unsqueeze': {
        const xs = shapeOfValue(n, X);
        const raw =
          opset.version >= 13
            ? n.input[1]
              ? consts.get(n.input[1])
                ? valuesOf(consts.get(n.input[1])!)
                : bad(`${where(n)}: the axes must be a constant`)
              : null
            : (a.axes?.ints ?? null);
        const full = [NaN, ...xs];
        const rank = n.opType === 'Squeeze' ? full.length : full.length + (raw?.length ?? 0);
        if (!raw && n.opType === 'Unsqueeze') bad(`${where(n)}: needs axes`);
        const axes = (raw ?? full.flatMap((d, i) => (d === 1 ? [i] : []))).map((v: number) => {
          const r = v < 0 ? v + rank : v;
          if (!Number.isInteger(r) || r < 0 || r >= rank) bad(`${where(n)}: axis ${v} is outside rank ${rank}`);
          if (r === 0) bad(`${where(n)}: axis 0 is the batch, which cannot be ${n.opType.toLowerCase()}d`);
          return r;
        });
        let out: number[];
        if (n.opType === 'Squeeze') {
          if (axes.some((i: number) => full[i] !== 1)) bad(`${where(n)}: cannot squeeze an axis whose size is not 1`);
          out = full.filter((_, i) => !axes.includes(i));
        } else {
          out = [];
          for (let i = 0, j = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : full[j++]);
        }
        reshapeTo(n, [0, ...out.slice(1)], xs);
        break;
      }
      default:
        unsupported(
          n,
          (FOLDABLE_OPS as readonly string[]).includes(n.opType)
            ? `operator ${n.opType} is supported on constants only, and an input here is computed from the model input`
            : `operator ${n.opType} is not supported`,
        );
    }
  }
  const out = ids.get(g.output[0].name);
  if (!out || out !== layers.at(-1)?.id) bad(`the graph output '${g.output[0].name}' must be the value computed last`);
  return { spec: { input: dims.slice(1), layers }, weights };

  /** A reshape of value X to an ONNX target shape (batch first: NaN (folded from Shape), 0 or -1). */
  function reshapeTo(n: Node, target: number[], xs: readonly number[]): void {
    if (target.length < 2 || !(Number.isNaN(target[0]) || target[0] === 0 || target[0] === -1))
      bad(
        `${where(n)}: only a shape that keeps the batch first (-1, 0 or the input's own batch size from Shape) is supported, got ${show(target.map((d) => (Number.isNaN(d) ? 'batch' : d)))}`,
      );
    const rest = target.slice(1).map((d, i) => (d === 0 ? xs[i] : d));
    const total = xs.reduce((p, d) => p * d, 1);
    const known = rest.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
    if (target[0] === -1 && rest.includes(-1)) bad(`${where(n)}: two -1 sizes in ${show(target)}`);
    const sizes = rest.map((d) => (d === -1 ? total / known : d));
    if (rest.filter((d) => d === -1).length > 1 || sizes.some((d) => !Number.isInteger(d) || d <= 0))
      bad(
        `${where(n)}: cannot reshape [batch, ${xs.join(', ')}] to ${show(target.map((d) => (Number.isNaN(d) ? 'batch' : d)))}`,
      );
    if (sizes.length === xs.length && sizes.every((d, i) => d === xs[i])) alias(n, n.input[0]);
    else emit(n, { type: 'reshape', shape: sizes }, [n.input[0]]);
  }
}

/** Dropout is the identity at inference; one with a mask output or training_mode set is a training graph. */
function dropoutInference(n: Node, consts: ReadonlyMap<string, Const>): void {
  const training = n.input[2] ? consts.get(n.input[2]) : null;
  if ((n.output.length > 1 && n.output[1]) || (n.input[2] && (!training || valuesOf(training).some((v) => v !== 0))))
    bad(
      `node '${n.name}' (Dropout): a Dropout with a mask output or training_mode is a training graph; export in eval mode`,
    );
}

/** torch exports softplus(β) as Mul(x, β) → Softplus → Div(·, β): one softplus layer when the pattern matches. */
function softplusBeta(
  n: Node,
  consts: ReadonlyMap<string, Const>,
  consumers: ReadonlyMap<string, Node[]>,
  skip: Set<Node>,
  emit: (n: Node, layer: Record<string, unknown>, reads: string[]) => void,
): boolean {
  const beta = scalarConst(consts, n.input[1]);
  const sp = only(consumers.get(n.output[0]));
  const div = sp && sp.opType === 'Softplus' ? only(consumers.get(sp.output[0])) : null;
  if (
    beta === null ||
    consts.has(n.input[0]) ||
    !sp ||
    sp.opType !== 'Softplus' ||
    !div ||
    div.opType !== 'Div' ||
    div.input[0] !== sp.output[0] ||
    scalarConst(consts, div.input[1]) !== beta ||
    !(beta > 0)
  )
    return false;
  emit({ ...div, input: [n.input[0]] }, { type: 'softplus', beta }, [n.input[0]]);
  skip.add(sp);
  skip.add(div);
  return true;
}

function only<T>(xs: T[] | undefined): T | null {
  return xs && xs.length === 1 ? xs[0] : null;
}

function autoPad(n: Node, a: Record<string, any>): void {
  const mode = a.auto_pad ? new TextDecoder().decode(a.auto_pad.s) : 'NOTSET';
  if (mode !== 'NOTSET' && mode !== '')
    bad(`node '${n.name}' (${n.opType}): auto_pad ${mode} is not supported; export with explicit pads`);
}

function symmetricPads(n: Node, pads: number[]): [number, number] {
  if (pads.length !== 4 || pads[0] !== pads[2] || pads[1] !== pads[3])
    bad(`node '${n.name}' (${n.opType}): only symmetric 2-D pads are supported, got ${show(pads)}`);
  return [pads[0], pads[1]];
}

function scalarConst(consts: ReadonlyMap<string, Const>, name: string): number | null {
  const t = consts.get(name);
  return t && !t.int && t.data.length === 1 ? t.data[0] : null;
}

/**
 * A TensorProto as a constant: float32 data, or int64/int32 integers (shapes, axes, indices). Other element
 * types and external data are refused; sizes are checked against maxBytes before anything is allocated.
 */
function tensorOf(t: any, what: string, maxBytes: number): Const {
  if (t.dataLocation === 1 || t.externalData.length)
    bad(
      `${what}: external-data tensors are not supported; save the model with its weights inside (save_as_external_data=False)`,
    );
  const shape: number[] = t.dims;
  const n = shape.reduce((p, d) => p * d, 1);
  const width = t.dataType === 7 ? 8 : 4;
  if (shape.some((d) => !Number.isInteger(d) || d < 0) || n * width > maxBytes)
    bad(`${what}: dims ${show(shape)} are invalid or larger than maxBytes`);
  if (t.dataType === FLOAT) {
    let data: Float32Array;
    if (t.rawData.length) {
      if (t.rawData.length !== 4 * n)
        bad(`${what}: raw data has ${t.rawData.length} bytes, dims ${show(shape)} need ${4 * n}`);
      data = new Float32Array(n);
      const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.length);
      for (let i = 0; i < n; i++) data[i] = view.getFloat32(4 * i, true);
    } else {
      if (t.floatData.length !== n) bad(`${what}: has ${t.floatData.length} values, dims ${show(shape)} need ${n}`);
      data = Float32Array.from(t.floatData);
    }
    return { shape, data, int: false };
  }
  if (t.dataType === 7 || t.dataType === 6) {
    // Integers of shapes, axes and indices: exact as doubles below 2^53.
    const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.length);
    if (t.rawData.length && t.rawData.length !== width * n)
      bad(`${what}: raw data has ${t.rawData.length} bytes, dims ${show(shape)} need ${width * n}`);
    const vals: number[] = t.rawData.length
      ? Array.from({ length: n }, (_, i) =>
          width === 8 ? Number(view.getBigInt64(8 * i, true)) : view.getInt32(4 * i, true),
        )
      : Array.from(t.dataType === 7 ? t.int64Data : t.int32Data);
    if (vals.length !== n) bad(`${what}: has ${vals.length} values, dims ${show(shape)} need ${n}`);
    return { shape, data: vals, int: true };
  }
  return bad(`${what}: element type ${t.dataType} is not supported; the model must be float32 (ONNX type 1)`);
}

/** Nodes in an order where each reads only what is computed before it; a cycle or an undefined name is an error. */
function topoSort(nodes: Node[], known: Set<string>): Node[] {
  const have = new Set(known);
  const out: Node[] = [];
  let rest = nodes.map((n) => ({ ...n, input: [...n.input], output: [...n.output] }));
  const produced = new Set(rest.flatMap((n) => n.output));
  for (const n of rest) {
    for (const i of n.input)
      if (i !== '' && !have.has(i) && !produced.has(i))
        bad(`node '${n.name}' (${n.opType}): input '${i}' is not defined by any node, initializer or graph input`);
  }
  while (rest.length) {
    const ready = rest.filter((n) => n.input.every((i) => i === '' || have.has(i)));
    if (!ready.length)
      bad(
        `the graph has a cycle through node${rest.length > 1 ? 's' : ''} ${rest
          .slice(0, 8)
          .map((n) => `'${n.name}' (${n.opType})`)
          .join(', ')}`,
      );
    for (const n of ready) {
      out.push(n);
      for (const o of n.output) have.add(o);
    }
    rest = rest.filter((n) => !ready.includes(n));
  }
  return out;
}
