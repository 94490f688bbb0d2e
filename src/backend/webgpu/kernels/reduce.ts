// Channel sums (shaders/reduce.wgsl channel_sum): the bias gradients of dense, conv2d and batch norm, cut into
// chunks of K = n·spatial by channelSumPlan (shape only) so that a long sum runs on many workgroups.
import type { BTensor } from '../../backend.js';
import { shapeStr } from '../../../tensor.js';
import { channelSumPlan, KPAR_LANES } from '../gemm-plan.js';
import { bind, opt, type Recorder } from './recorder.js';
import { SOURCES } from './sources.js';

const u32 = (...names: string[]) => names.map((name) => ({ name, type: 'u32' as const }));
const channelSumProgram = (main: string) =>
  SOURCES.program({
    family: 'reduce',
    sections: ['channel_sum', main],
    uniforms: u32('n', 'channels', 'spatial', 'chunk', 'chunks'),
    bindings: [
      { name: 't', access: 'read', types: ['f32'] },
      { name: 'out', access: 'read_write', types: ['f32'] },
      { name: 'partial', access: 'read_write', types: ['f32'] },
    ],
    consts: ['ACCUMULATE', 'SPLIT'],
    workgroupSize: KPAR_LANES,
  });
const CHUNKS = channelSumProgram('channel_sum_chunks');
const PARTIALS = channelSumProgram('channel_sum_partials');

/** out[c] (+)= Σ_{n,s} t[n, c, s]: a workgroup per channel and chunk, then one per channel adds the chunks. */
export function channelSum(r: Recorder, t: BTensor, channels: number, spatial: number, into?: BTensor | null): BTensor {
  const { out, accumulate } = r.output(into, [channels], 'channel sum');
  const n = t.size / (channels * spatial);
  const { chunk, chunks } = channelSumPlan(n * spatial);
  const partial = chunks > 1 ? r.alloc([chunks, channels], 'channel sum partials') : null;
  const shapes = `${shapeStr(t.shape)} over ${channels} channels`;
  const uniforms = { n, channels, spatial, chunk, chunks };
  const bindings = [bind('t', t), bind('out', out), opt('partial', partial)];
  r.run({
    program: CHUNKS,
    label: `channel sum [${chunks > 1 ? `${chunks} chunks of ${chunk}` : 'one chunk'}]`,
    shapes,
    consts: { ACCUMULATE: accumulate, SPLIT: chunks > 1 },
    bindings,
    uniforms,
    workgroups: [channels, chunks, 1],
  });
  if (partial) {
    r.run({
      program: PARTIALS,
      label: `channel sum [sum of ${chunks} chunks]`,
      shapes,
      consts: { ACCUMULATE: accumulate, SPLIT: true },
      bindings,
      uniforms,
      workgroups: [channels, 1, 1],
    });
    r.release(partial);
  }
  return out;
}
