import { fail } from '../errors.js';
import { show } from '../validate.js';
import { Activation } from './activation.js';
import { Conv2d } from './conv2d.js';
import { Dense } from './dense.js';
import { Flatten } from './flatten.js';
import type { LayerSpec, Op } from './op.js';
import { AvgPool2d, MaxPool2d } from './pool2d.js';

type Factory = (layer: LayerSpec, inShape: readonly number[], where: string) => Op;

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
]);

export const LAYER_TYPES = [...FACTORIES.keys()];

export function opFromSpec(layer: LayerSpec, inShape: readonly number[], where: string): Op {
  const make = FACTORIES.get(layer.type);
  if (!make)
    fail('INVALID_SPEC', `${where}: unknown layer type ${show(layer.type)}; known types: ${LAYER_TYPES.join(', ')}`);
  return make(layer, inShape, where);
}

export type { Op } from './op.js';
