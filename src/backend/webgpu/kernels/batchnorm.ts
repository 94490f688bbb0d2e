// The batch-normalization family (shaders/batchnorm.wgsl), inference mode: the per-channel coefficient table
// (once per call), the elementwise forward (+ tangent) and backward (+ backward2), and the weight gradient
// (one workgroup per channel, a tree sum).
import type { BTensor, ChannelGeom } from '../../backend.js';
import { shapeStr } from '../../../tensor.js';
import { WORKGROUP } from '../prelude.js';
import type { BindingDecl, UniformDecl } from '../program.js';
import { bind, opt, type Recorder } from './recorder.js';
import { SOURCES } from './sources.js';

const inp = (name: string): BindingDecl => ({ name, access: 'read', types: ['f32'] });
const out = (name: string): BindingDecl => ({ name, access: 'read_write', types: ['f32'] });
const GEOMETRY: UniformDecl[] = ['total', 'n', 'channels', 'spatial'].map((name) => ({ name, type: 'u32' as const }));

const COEFFICIENTS = SOURCES.program({
  family: 'batchnorm',
  sections: ['coefficients'],
  uniforms: [
    { name: 'channels', type: 'u32' },
    { name: 'eps', type: 'f32' },
  ],
  bindings: [inp('mean'), inp('variance'), inp('weight'), inp('bias'), inp('wdot'), inp('bdot'), out('coef')],
  consts: ['HAS_WDOT', 'HAS_BDOT'],
  workgroupSize: WORKGROUP.elementwise,
});
const FORWARD = SOURCES.program({
  family: 'batchnorm',
  sections: ['common', 'forward'],
  uniforms: GEOMETRY,
  bindings: [inp('x'), inp('xdot'), inp('coef'), out('y'), out('ydot')],
  consts: ['HAS_XDOT', 'HAS_PDOT'],
  workgroupSize: WORKGROUP.elementwise,
});
const BACKWARD = SOURCES.program({
  family: 'batchnorm',
  sections: ['common', 'backward'],
  uniforms: GEOMETRY,
  bindings: [inp('gy'), inp('gydot'), inp('coef'), out('gx'), out('gxdot')],
  consts: ['HAS_GYDOT', 'HAS_PDOT'],
  workgroupSize: WORKGROUP.elementwise,
});
const WEIGHT_GRAD = SOURCES.program({
  family: 'batchnorm',
  sections: ['common', 'weight_grad'],
  uniforms: GEOMETRY,
  bindings: [inp('x'), inp('xdot'), inp('gy'), inp('gydot'), inp('coef'), out('gw'), out('gwdot')],
  consts: ['HAS_XDOT', 'HAS_GYDOT'],
  workgroupSize: WORKGROUP.elementwise,
});

const geometry = (g: ChannelGeom, total: number) => ({ total, n: g.n, channels: g.channels, spatial: g.spatial });

/** coef[6, C] = (s, t, ṡ, ṫ, mean, 1/√(var + ε)): see shaders/batchnorm.wgsl. */
export function coefficients(
  r: Recorder,
  mean: BTensor,
  variance: BTensor,
  weight: BTensor,
  bias: BTensor,
  weightDot: BTensor | null,
  biasDot: BTensor | null,
  eps: number,
): BTensor {
  const C = mean.size,
    coef = r.alloc([6, C], 'batchnorm coefficients');
  r.run({
    program: COEFFICIENTS,
    label: 'batchnorm coefficients',
    shapes: `${C} channels`,
    consts: { HAS_WDOT: !!weightDot, HAS_BDOT: !!biasDot },
    bindings: [
      bind('mean', mean),
      bind('variance', variance),
      bind('weight', weight),
      bind('bias', bias),
      opt('wdot', weightDot),
      opt('bdot', biasDot),
      bind('coef', coef),
    ],
    uniforms: { channels: C, eps },
    workgroups: r.grid1d(C, COEFFICIENTS.workgroupSize),
  });
  return coef;
}

/** y = x·s + t and its tangent ẋ·s + x·ṡ + ṫ (`paramTangents`: the weight or bias carries a tangent). */
export function forward(
  r: Recorder,
  x: BTensor,
  xdot: BTensor | null,
  coef: BTensor,
  g: ChannelGeom,
  paramTangents: boolean,
) {
  const y = r.alloc(x.shape, 'batchnorm'),
    ydot = xdot || paramTangents ? r.alloc(x.shape, 'batchnorm tangent') : null;
  r.run({
    program: FORWARD,
    label: `batchnorm forward${ydot ? '+tangent' : ''}`,
    shapes: shapeStr(x.shape),
    consts: { HAS_XDOT: !!xdot, HAS_PDOT: paramTangents },
    bindings: [bind('x', x), opt('xdot', xdot), bind('coef', coef), bind('y', y), opt('ydot', ydot)],
    uniforms: geometry(g, y.size),
    workgroups: r.grid1d(y.size, FORWARD.workgroupSize),
  });
  return { y, ydot };
}

/** x̄ = ȳ·s and its tangent ẏ̄·s + ȳ·ṡ. */
export function backward(
  r: Recorder,
  gy: BTensor,
  gydot: BTensor | null,
  coef: BTensor,
  g: ChannelGeom,
  paramTangents: boolean,
) {
  const gx = r.alloc(gy.shape, 'batchnorm backward'),
    gxdot = gydot || paramTangents ? r.alloc(gy.shape, 'batchnorm backward2') : null;
  r.run({
    program: BACKWARD,
    label: `batchnorm backward${gxdot ? '2' : ''}`,
    shapes: shapeStr(gy.shape),
    consts: { HAS_GYDOT: !!gydot, HAS_PDOT: paramTangents },
    bindings: [bind('gy', gy), opt('gydot', gydot), bind('coef', coef), bind('gx', gx), opt('gxdot', gxdot)],
    uniforms: geometry(g, gx.size),
    workgroups: r.grid1d(gx.size, BACKWARD.workgroupSize),
  });
  return { gx, gxdot };
}

/** w̄[c] = Σ ȳ·x̂ and its tangent: one workgroup per channel. */
export function weightGrad(
  r: Recorder,
  x: BTensor,
  xdot: BTensor | null,
  gy: BTensor,
  gydot: BTensor | null,
  coef: BTensor,
  g: ChannelGeom,
) {
  const gw = r.alloc([g.channels], 'batchnorm weight gradient');
  const gwdot = xdot || gydot ? r.alloc([g.channels], 'batchnorm weight gradient tangent') : null;
  r.run({
    program: WEIGHT_GRAD,
    label: 'batchnorm weight gradient',
    shapes: shapeStr(x.shape),
    consts: { HAS_XDOT: !!xdot, HAS_GYDOT: !!gydot },
    bindings: [
      bind('x', x),
      opt('xdot', xdot),
      bind('gy', gy),
      opt('gydot', gydot),
      bind('coef', coef),
      bind('gw', gw),
      opt('gwdot', gwdot),
    ],
    uniforms: geometry(g, x.size),
    workgroups: [g.channels, 1, 1],
  });
  return { gw, gwdot };
}
