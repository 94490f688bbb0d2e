// The torchvision ResNet-18 architecture as a smoothgeo spec, its weight shapes and deterministic random
// weights: shared by bench/resnet18.mjs and test/resnet18.test.ts.

/** The torchvision ResNet-18 as a smoothgeo spec (batch norm kept, 1000 classes). */
export function resnet18Spec(size = 224, classes = 1000) {
  /** @type {Record<string, unknown>[]} */
  const layers = [
    { type: 'conv2d', name: 'conv1', out: 64, kernel: 7, stride: 2, padding: 3, bias: false },
    { type: 'batchnorm2d', name: 'bn1' },
    { type: 'relu' },
    { type: 'maxpool2d', kernel: 3, stride: 2, padding: 1, id: 'stem' },
  ];
  let prev = 'stem',
    inC = 64;
  for (const [stage, out] of [
    [1, 64],
    [2, 128],
    [3, 256],
    [4, 512],
  ]) {
    for (const block of [0, 1]) {
      const p = `layer${stage}.${block}`,
        stride = stage > 1 && block === 0 ? 2 : 1;
      layers.push(
        { type: 'conv2d', name: `${p}.conv1`, out, kernel: 3, stride, padding: 1, bias: false, inputs: [prev] },
        { type: 'batchnorm2d', name: `${p}.bn1` },
        { type: 'relu' },
        { type: 'conv2d', name: `${p}.conv2`, out, kernel: 3, padding: 1, bias: false },
        { type: 'batchnorm2d', name: `${p}.bn2`, id: `${p}.main` },
      );
      let shortcut = prev;
      if (stride !== 1 || inC !== out) {
        layers.push(
          { type: 'conv2d', name: `${p}.downsample.0`, out, kernel: 1, stride, bias: false, inputs: [prev] },
          { type: 'batchnorm2d', name: `${p}.downsample.1`, id: `${p}.short` },
        );
        shortcut = `${p}.short`;
      }
      layers.push({ type: 'add', inputs: [`${p}.main`, shortcut] }, { type: 'relu', id: `${p}.out` });
      prev = `${p}.out`;
      inC = out;
    }
  }
  layers.push({ type: 'globalavgpool2d' }, { type: 'flatten' }, { type: 'dense', name: 'fc', out: classes });
  return { input: [3, size, size], layers };
}

/** Deterministic random weights of the right shapes (He-scaled, so activations stay O(1)); variances positive. */
export function randomWeights(params) {
  let a = 12345;
  const rnd = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 32 - 0.5;
  };
  const out = {};
  for (const [name, shape] of Object.entries(params)) {
    const n = shape.reduce((p, d) => p * d, 1),
      fanIn = shape.length > 1 ? n / shape[0] : 1;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (name.endsWith('running_var')) data[i] = 1 + 0.2 * rnd();
      else if (name.endsWith('running_mean') || name.endsWith('.bias')) data[i] = 0.1 * rnd();
      else if (shape.length === 1) data[i] = 1 + 0.2 * rnd();
      else data[i] = rnd() * Math.sqrt(24 / fanIn);
    }
    out[name] = { shape, data };
  }
  return out;
}

/** Every weight's shape (parameters and batch-norm buffers, PyTorch layouts), read off the spec. */
export function weightShapes(spec) {
  const shapes = {};
  let c = spec.input[0];
  const channels = new Map([['input', c]]);
  spec.layers.forEach((l, i) => {
    if (l.inputs) c = channels.get(l.inputs[0]);
    if (l.type === 'conv2d') {
      shapes[`${l.name}.weight`] = [l.out, c, l.kernel, l.kernel];
      c = l.out;
    }
    if (l.type === 'batchnorm2d')
      for (const k of ['weight', 'bias', 'running_mean', 'running_var']) shapes[`${l.name}.${k}`] = [c];
    if (l.type === 'dense') {
      shapes[`${l.name}.weight`] = [l.out, c];
      shapes[`${l.name}.bias`] = [l.out];
      c = l.out;
    }
    if (l.id) channels.set(l.id, c);
    void i;
  });
  return shapes;
}
