import { fail } from '../errors.js';
import { show } from '../validate.js';
import { Activation } from './activation.js';
import { Conv2d } from './conv2d.js';
import { Dense } from './dense.js';
import { Flatten } from './flatten.js';
import { isJoin, type GraphOp, type JoinOp, type LayerSpec, type Op } from './op.js';
import { AvgPool2d, GlobalAvgPool2d, MaxPool2d } from './pool2d.js';
import { Add } from './add.js';
import { Concat } from './concat.js';
import { Reshape } from './reshape.js';
import { BatchNorm } from './batchnorm.js';
import { ConstBinary } from './elementwise.js';

type Factory = (layer: LayerSpec, inShape: readonly number[], where: string) => Op;
type JoinFactory = (layer: LayerSpec, inShapes: readonly (readonly number[])[], where: string) => JoinOp;

// A Map, not an object literal: the key is user text, and a plain object would also "know" constructor,
// toString, __proto__ and every other inherited name.
const FACTORIES: ReadonlyMap<string, Factory> = new Map<string, Factory>([
  ['dense', Dense.fromSpec],
  ['conv2d', Conv2d.fromSpec],
  ['maxpool2d', MaxPool2d.fromSpec],
  ['avgpool2d', AvgPool2d.fromSpec],
  ['relu', Activation.fromSpec],
  ['softplus', Activation.fromSpec],
  ['tanh', Activation.fromSpec],
  ['sigmoid', Activation.fromSpec],
  ['flatten', Flatten.fromSpec],
  ['reshape', Reshape.fromSpec],
  ['globalavgpool2d', GlobalAvgPool2d.fromSpec],
  ['batchnorm2d', BatchNorm.fromSpec],
  ['batchnorm1d', BatchNorm.fromSpec],
]);
const JOIN_FACTORIES: ReadonlyMap<string, JoinFactory> = new Map<string, JoinFactory>([
  ['add', Add.fromSpec],
  ['sub', Add.fromSpec],
  ['concat', Concat.fromSpec],
]);

export const LAYER_TYPES = [...FACTORIES.keys(), ...JOIN_FACTORIES.keys(), 'mul', 'div'];
/** Elementwise types: with a constant operand (`param`) one input, else (add, sub) two inputs. */
const ELEMENTWISE = new Set(['add', 'sub', 'mul', 'div']);

/** A single-input op (the per-op test matrix builds these directly). */
export function opFromSpec(layer: LayerSpec, inShape: readonly number[], where: string): Op {
  const op = graphOpFromSpec(layer, [inShape], where);
  if (isJoin(op)) fail('INVALID_SPEC', `${where}: a ${layer.type} layer takes several inputs`);
  return op;
}

/** An op of the graph: `inShapes` are the shapes of the values the layer reads, in its `inputs` order. */
export function graphOpFromSpec(layer: LayerSpec, inShapes: readonly (readonly number[])[], where: string): GraphOp {
  if (ELEMENTWISE.has(layer.type) && (layer.param !== undefined || layer.type === 'mul' || layer.type === 'div')) {
    if (layer.param === undefined)
      fail(
        'INVALID_SPEC',
        `${where}: a ${layer.type} layer needs a constant operand ('param' and 'shape'); ${layer.type} of two computed values is not supported`,
      );
    if (inShapes.length !== 1)
      fail(
        'INVALID_SPEC',
        `${where}: a ${layer.type} layer with a constant 'param' takes exactly 1 input, got ${inShapes.length}`,
      );
    return ConstBinary.fromSpec(layer, inShapes[0], where);
  }
  const join = JOIN_FACTORIES.get(layer.type);
  if (join) return join(layer, inShapes, where);
  const make = FACTORIES.get(layer.type);
  if (!make)
    fail('INVALID_SPEC', `${where}: unknown layer type ${show(layer.type)}; known types: ${LAYER_TYPES.join(', ')}`);
  if (inShapes.length !== 1)
    fail('INVALID_SPEC', `${where}: a ${layer.type} layer takes exactly 1 input, got ${inShapes.length} 'inputs'`);
  return make(layer, inShapes[0], where);
}

export type { Op, JoinOp, GraphOp } from './op.js';
export { isJoin } from './op.js';
