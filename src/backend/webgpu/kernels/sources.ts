// The kernel families' WGSL, split into sections once when the module loads (program.ts).
import { FamilySources } from '../program.js';
import { wideKernelWgsl } from './gemm-wide.js';
import gemmSrc from '../../../../shaders/gemm.wgsl';
import convSrc from '../../../../shaders/conv2d.wgsl';
import poolSrc from '../../../../shaders/pool.wgsl';
import pointwiseSrc from '../../../../shaders/pointwise.wgsl';
import lossSrc from '../../../../shaders/loss.wgsl';
import reduceSrc from '../../../../shaders/reduce.wgsl';
import philoxSrc from '../../../../shaders/philox.wgsl';
import finiteSrc from '../../../../shaders/finite.wgsl';
import trainSrc from '../../../../shaders/train.wgsl';
import batchNormSrc from '../../../../shaders/batchnorm.wgsl';
import broadcastSrc from '../../../../shaders/broadcast.wgsl';

export const SOURCES = new FamilySources()
  // The wide GEMM kernel is generated (unrolled) text, appended to the family as section `wide`.
  .add('gemm', `${gemmSrc}\n//! section wide\n${wideKernelWgsl()}`)
  .add('conv2d', convSrc)
  .add('pool', poolSrc)
  .add('pointwise', pointwiseSrc)
  .add('loss', lossSrc)
  .add('reduce', reduceSrc)
  .add('philox', philoxSrc)
  .add('finite', finiteSrc)
  .add('train', trainSrc)
  .add('batchnorm', batchNormSrc)
  .add('broadcast', broadcastSrc);
