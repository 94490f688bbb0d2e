// The loss-head family (shaders/loss.wgsl): one thread per example computes the value, the seed g = scale·∇φ
// and, given a tangent, scale·∇²φ·ż.
import type { BTensor, HeadKind } from '../../backend.js';
import { shapeStr } from '../../../tensor.js';
import { HEAD_CODE, WORKGROUP } from '../prelude.js';
import { bind, opt, type Recorder } from './recorder.js';
import { SOURCES } from './sources.js';

const HEAD = SOURCES.program({
  family: 'loss',
  sections: ['head'],
  uniforms: [
    { name: 'B', type: 'u32' },
    { name: 'K', type: 'u32' },
    { name: 'scale', type: 'f32' },
  ],
  bindings: [
    { name: 'z', access: 'read', types: ['f32'] },
    { name: 'classes', access: 'read', types: ['i32'] },
    { name: 'zdot', access: 'read', types: ['f32'] },
    { name: 'value', access: 'read_write', types: ['f32'] },
    { name: 'g', access: 'read_write', types: ['f32'] },
    { name: 'gdot', access: 'read_write', types: ['f32'] },
  ],
  consts: ['HEAD', 'HAS_TANGENT'],
  workgroupSize: WORKGROUP.row,
});

export function head(r: Recorder, kind: HeadKind, z: BTensor, classes: BTensor, zdot: BTensor | null, scale: number) {
  const [B, K] = z.shape;
  if (kind === 'gaussNewton' && !zdot) throw new Error('gaussNewton head needs a tangent');
  const value = kind === 'gaussNewton' ? null : r.alloc([B], `head ${kind} value`);
  const g = r.alloc([B, K], `head ${kind} seed`);
  const gdot =
    zdot && (kind === 'probability' || kind === 'crossEntropy') ? r.alloc([B, K], `head ${kind} seed tangent`) : null;
  r.run({
    program: HEAD,
    label: `head ${kind}`,
    shapes: shapeStr(z.shape),
    consts: { HEAD: HEAD_CODE[kind], HAS_TANGENT: !!zdot },
    bindings: [
      bind('z', z),
      bind('classes', classes, 'i32'),
      opt('zdot', zdot),
      opt('value', value),
      bind('g', g),
      opt('gdot', gdot),
    ],
    uniforms: { B, K, scale },
    workgroups: r.grid1d(B, HEAD.workgroupSize),
  });
  return { value, g, gdot };
}
