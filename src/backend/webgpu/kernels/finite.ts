// The non-finite check (shaders/finite.wgsl): marks an i32 flag with a stage number when a tensor holds an
// Infinity or a NaN, so a call learns in its one readback where one first appeared.
import type { BTensor } from '../../backend.js';
import { shapeStr } from '../../../tensor.js';
import { WORKGROUP } from '../prelude.js';
import { bind, type Recorder } from './recorder.js';
import { SOURCES } from './sources.js';

const CHECK = SOURCES.program({
  family: 'finite',
  sections: ['check'],
  uniforms: [
    { name: 'total', type: 'u32' },
    { name: 'stage', type: 'u32' },
  ],
  bindings: [
    // Read as its own dtype: the test is on the bits of an f32 (i32 tensors never hold a non-finite value,
    // but a stray check of one must still compile).
    { name: 't', access: 'read', types: ['f32', 'i32'] },
    { name: 'flags', access: 'read_write', types: ['i32'] },
  ],
  consts: [],
  workgroupSize: WORKGROUP.elementwise,
});

export function checkFinite(r: Recorder, t: BTensor, flags: BTensor, stage: number): void {
  r.run({
    program: CHECK,
    label: 'check finite',
    shapes: `${t.label} ${shapeStr(t.shape)}`,
    consts: {},
    bindings: [bind('t', t, t.dtype), bind('flags', flags, 'i32')],
    uniforms: { total: t.size, stage },
    workgroups: r.grid1d(t.size, CHECK.workgroupSize),
  });
}
