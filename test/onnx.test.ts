import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { smoothGrad } from '../src/attribution/methods.js';
import { hessianEigen } from '../src/curvature/eigen.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import { loadOnnx, onnxToSpec } from '../src/io/onnx.js';
import { encodeSafetensors } from '../src/io/safetensors.js';
import { loadModel, type Model } from '../src/graph/model.js';
import { ModelProto } from '../src/io/onnx-schema.js';
import { SmoothgeoError } from '../src/errors.js';
import { BACKENDS, cpuEngine, relL2 } from './helpers.js';

/**
 * The ONNX oracle (test/fixtures/onnx, copied from shared/oracle/onnx; its README): models exported by
 * torch.onnx.export with float64 reference values. Tolerances from that README: 1e-4 relative L2 on
 * logits, gradients, HVPs and the given-noise SmoothGrad; 1e-3 relative on the Hessian's extreme eigenvalues.
 */
const DIR = join(import.meta.dirname, 'fixtures', 'onnx');
const TOL = 1e-4;
const backends = BACKENDS;

for (const name of ['resnet_small', 'mixed_onnx']) {
  const onnx = new Uint8Array(readFileSync(join(DIR, `${name}.onnx`)));
  const json = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8'));
  const ref = parseSafetensors(new Uint8Array(readFileSync(join(DIR, `${name}.safetensors`)))).tensors;
  const t = (k: string) => ref.get(k)!;
  const logit = { kind: 'logit' as const, target: json.target as number[] };
  const ce = { kind: 'crossEntropy' as const, labels: json.labels as number[] };
  for (const [backend, engine] of backends) {
    describe(`ONNX ${name} on ${backend}`, () => {
      let model: Model;
      it('loads with the PyTorch parameter names', async () => {
        model = await loadOnnx(await engine(), onnx);
        expect(model.inputShape).toEqual(json.input);
        expect(model.classes).toBe(10);
        expect(Object.keys(model.parameters)).toContain(name === 'resnet_small' ? 'b2.short.1.weight' : 'bn.weight');
        expect(Object.keys(model.parameters)).not.toContain('bn.running_mean');
      });
      it('logits', async () => {
        expect(relL2((await model.forward(t('x'))).data, t('logits').data)).toBeLessThan(TOL);
      });
      it('input gradients and HVPs of the logit and of the cross-entropy', async () => {
        const x = t('x'),
          v = t('v');
        expect(relL2((await model.inputGradient(x, logit)).data, t('grad_logit').data)).toBeLessThan(TOL);
        expect(relL2((await model.inputGradient(x, ce)).data, t('grad_ce').data)).toBeLessThan(TOL);
        expect(relL2((await model.inputHvp(x, v, logit)).data, t('hvp_logit').data)).toBeLessThan(TOL);
        expect(relL2((await model.inputHvp(x, v, ce)).data, t('hvp_ce').data)).toBeLessThan(TOL);
      });
      it('SmoothGrad with the given noise', async () => {
        const r = await smoothGrad(model, t('x'), { target: json.target, noise: t('sg_noise') });
        expect(relL2(r.attributions.data, t('smoothgrad_given_noise').data)).toBeLessThan(TOL);
      });
      it('λ_max and λ_min of the cross-entropy input Hessian by Lanczos within 1e-3', async () => {
        const hi = await hessianEigen(model, t('x'), ce, { which: 'largest', seed: 1 });
        const lo = await hessianEigen(model, t('x'), ce, { which: 'smallest', seed: 1 });
        (json.hessian_ce as { lambda_max: number; lambda_min: number }[]).forEach((w, b) => {
          expect(Math.abs(hi.values[b][0] - w.lambda_max) / Math.abs(w.lambda_max)).toBeLessThan(1e-3);
          expect(Math.abs(lo.values[b][0] - w.lambda_min) / Math.abs(w.lambda_min)).toBeLessThan(1e-3);
        });
      });
    });
  }
}

describe('bad ONNX files are refused with an error naming what is wrong', () => {
  const bytes = new Uint8Array(readFileSync(join(DIR, 'mixed_onnx.onnx')));
  // A decoded copy to edit, then encoded again (protobufjs), so each case breaks exactly one thing.
  const edit = (f: (m: any) => void): Uint8Array => {
    const m: any = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, arrays: true, defaults: true });
    f(m);
    return ModelProto.encode(ModelProto.fromObject(m)).finish();
  };
  const refuses = async (b: Uint8Array, code: string, re: RegExp, options = {}) => {
    const e = await loadOnnx(await cpuEngine(), b, options).then(
      () => null,
      (err: unknown) => err as SmoothgeoError,
    );
    expect(e, 'loadOnnx accepted the file').toBeInstanceOf(SmoothgeoError);
    expect(e!.code).toBe(code);
    expect(e!.message).toMatch(re);
  };
  it('a truncated file', () =>
    refuses(bytes.slice(0, bytes.length - 100), 'INVALID_ONNX', /not a valid ONNX model.*truncated/));
  it('a file past maxBytes', () => refuses(bytes, 'LIMIT_EXCEEDED', /more than maxBytes = 1000/, { maxBytes: 1000 }));
  it('an opset outside 11 to 17', () =>
    refuses(
      edit((m) => {
        m.opsetImport[0].version = 9;
      }),
      'INVALID_ONNX',
      /opset is 9; supported: 11 to 17/,
    ));
  it('an unsupported operator, naming the node and the supported list', () =>
    refuses(
      edit((m) => {
        m.graph.node[3].opType = 'Erf';
      }),
      'INVALID_ONNX',
      /node '\/Sigmoid' \(Erf\): operator Erf is not supported; supported operators: Conv, Gemm/,
    ));
  it('an undefined input name', () =>
    refuses(
      edit((m) => {
        m.graph.node[3].input = ['nowhere'];
      }),
      'INVALID_ONNX',
      /node '\/Sigmoid' \(Sigmoid\): input 'nowhere' is not defined/,
    ));
  it('a cycle', () =>
    refuses(
      edit((m) => {
        m.graph.node[1].input[0] = '/Add_output_0';
      }),
      'INVALID_ONNX',
      /the graph has a cycle through nodes '\/fc1\/Gemm' \(Gemm\)/,
    ));
  it('external-data tensors', () =>
    refuses(
      edit((m) => {
        m.graph.initializer[0].dataLocation = 1;
      }),
      'INVALID_ONNX',
      /initializer 'fc1.weight': external-data tensors are not supported/,
    ));
  it('non-float32 tensors', () =>
    refuses(
      edit((m) => {
        m.graph.initializer[0].dataType = 11;
      }),
      'INVALID_ONNX',
      /initializer 'fc1.weight': element type 11 is not supported; the model must be float32/,
    ));
  it('training-mode batch norm', () =>
    refuses(
      edit((m) => {
        m.graph.node[2].output.push('saved_mean');
      }),
      'INVALID_ONNX',
      /BatchNormalization\): training-mode batch normalization/,
    ));
  it('a training graph', () =>
    refuses(
      edit((m) => {
        m.trainingInfo = [new Uint8Array([0])];
      }),
      'INVALID_ONNX',
      /training graph/,
    ));
  it('a shape mismatch between a layer and its weight', () =>
    refuses(
      edit((m) => {
        m.graph.initializer[0].dims = [32, 63];
        m.graph.initializer[0].rawData = m.graph.initializer[0].rawData.slice(0, 32 * 63 * 4);
      }),
      'INVALID_ONNX',
      /node '\/fc1\/Gemm' \(Gemm\): needs A \[batch, K\] and B \[N, K\], got \[batch, 64\] and \[32,63\]/,
    ));
  it('a shape mismatch between a batch norm and its weight', () =>
    refuses(
      edit((m) => {
        const w = m.graph.initializer.find((t: any) => t.name === 'bn.weight');
        w.dims = [31];
        w.rawData = w.rawData.slice(0, 31 * 4);
      }),
      'INVALID_SPEC',
      /weight 'bn.weight' has shape \[31\] but the spec needs \[32\]/,
    ));
});

describe('a residual network with batch norm written in the JSON spec == its ONNX export', () => {
  it("resnet_small.spec.json with the ONNX file's weights gives the same numbers as loadOnnx (float64)", async () => {
    const spec = JSON.parse(readFileSync(join(DIR, 'resnet_small.spec.json'), 'utf8'));
    const onnx = new Uint8Array(readFileSync(join(DIR, 'resnet_small.onnx')));
    const { weights } = onnxToSpec(onnx);
    // The weights as a user would save a state_dict: safetensors under the PyTorch names.
    const file = encodeSafetensors(Object.fromEntries(weights));
    const engine = await cpuEngine();
    const [fromSpec, fromOnnx] = [await loadModel(engine, spec, file), await loadOnnx(engine, onnx)];
    expect(fromSpec.parameters).toEqual(fromOnnx.parameters);
    const ref = parseSafetensors(new Uint8Array(readFileSync(join(DIR, 'resnet_small.safetensors')))).tensors;
    const x = ref.get('x')!,
      v = ref.get('v')!,
      ce = { kind: 'crossEntropy' as const, labels: [7, 1] };
    // The same float64 operations in the same order: equal to rounding.
    expect(relL2((await fromSpec.forward(x)).data, (await fromOnnx.forward(x)).data)).toBeLessThan(1e-12);
    expect(relL2((await fromSpec.inputHvp(x, v, ce)).data, (await fromOnnx.inputHvp(x, v, ce)).data)).toBeLessThan(
      1e-12,
    );
    const [gs, go] = [await fromSpec.paramGradient(x, ce), await fromOnnx.paramGradient(x, ce)];
    for (const k of Object.keys(go)) expect(relL2(gs[k].data, go[k].data), k).toBeLessThan(1e-12);
    // And both match PyTorch.
    expect(relL2((await fromSpec.forward(x)).data, ref.get('logits')!.data)).toBeLessThan(TOL);
  });
});

describe('constants that torch.onnx.export renamed (folded batch norm: onnx::Conv_193)', () => {
  it("load under the node's name and give the same logits", async () => {
    const bytes = new Uint8Array(readFileSync(join(DIR, 'mixed_onnx.onnx')));
    const m: any = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, arrays: true, defaults: true });
    for (const [from, to] of [
      ['fc1.weight', 'onnx::Gemm_7'],
      ['fc1.bias', 'onnx::Gemm_8'],
    ]) {
      m.graph.initializer.find((t: any) => t.name === from).name = to;
      for (const n of m.graph.node) n.input = n.input.map((i: string) => (i === from ? to : i));
    }
    const renamed = await loadOnnx(await cpuEngine(), ModelProto.encode(ModelProto.fromObject(m)).finish());
    const original = await loadOnnx(await cpuEngine(), bytes);
    expect(Object.keys(renamed.parameters)).toContain('fc1.Gemm.weight');
    const x = parseSafetensors(new Uint8Array(readFileSync(join(DIR, 'mixed_onnx.safetensors')))).tensors.get('x')!;
    expect(relL2((await renamed.forward(x)).data, (await original.forward(x)).data)).toBeLessThan(1e-12);
  });
});
