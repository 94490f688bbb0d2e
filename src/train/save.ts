import { encodeSafetensors } from '../io/safetensors.js';
import type { Model } from '../graph/model.js';
import { fail } from '../errors.js';

/**
 * The model's weights as safetensors bytes with PyTorch names and layouts (`conv1.weight` [out, in, kh, kw],
 * `fc.weight` [out, in]), F32, no prefix: `loadModel(engine, spec, bytes)` and `safetensors.torch.load_file`
 * read it as is. `metadata` (string → string) goes into the header's __metadata__.
 */
export function saveModel(model: Model, options: { metadata?: Record<string, string> } = {}): Uint8Array {
  if (!model || typeof (model as Model).getWeights !== 'function')
    fail('INVALID_ARGUMENT', 'saveModel: expected a Model (from loadModel or initModel)');
  return encodeSafetensors(model.getWeights(), options.metadata);
}
