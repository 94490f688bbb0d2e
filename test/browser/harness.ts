// Test harness: serves a directory over http://127.0.0.1 and opens a page in headless Chromium with
// WebGPU on SwiftShader (Vulkan on the CPU), so the library can be tested on a real `navigator.gpu`.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, isAbsolute, join, relative } from 'node:path';
import puppeteer, { type Page } from 'puppeteer-core';

export interface BrowserSession {
  page: Page;
  url: string;
  close(): Promise<void>;
}

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Found by trial on a GPU-less Debian machine (Chromium 156, as root); puppeteer itself adds
// --headless=new, --no-first-run, --disable-sync, --disable-background-networking and a fresh temp profile.
export const CHROMIUM_ARGS = [
  '--no-sandbox', // Chromium refuses to start as root with the sandbox on.
  '--enable-unsafe-webgpu', // WebGPU is not enabled on Linux by default: without it requestAdapter() gives null.
  '--use-vulkan=swiftshader', // Dawn's Vulkan backend on SwiftShader; without it requestAdapter() never settles.
  // With GPU compositing on, the page's first GPU channel sometimes dies during startup ("A valid external
  // Instance reference no longer exists") and requestAdapter() gives null (~1 run in 6); compute is unaffected.
  '--disable-gpu-compositing',
];

// For pages that draw with WebGPU on a canvas: the canvas's swap chain needs a shared-image backing that the
// compositor can read. With software compositing (--disable-gpu-compositing) the canvas is silently left
// out of the page (a blank rectangle in screenshots); with GPU compositing on GL the GPU process finds no
// backing for 'WebgpuSwapChainTexture' and dies ("Instance dropped in popErrorScope"). Compositing on
// Vulkan (SwiftShader), which needs both flags below, has one (found by trial, Chromium 156).
export const CHROMIUM_RENDER_ARGS = [
  ...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu-compositing'),
  '--enable-features=Vulkan',
  '--use-angle=vulkan',
];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.wgsl': 'text/wgsl', // registered with IANA by the WGSL spec
};

/** Static file server for `root` on 127.0.0.1 (a secure context, which WebGPU requires) on an ephemeral port. */
async function serve(root: string, headers: Record<string, string> = {}): Promise<{ server: Server; url: string }> {
  const realRoot = await realpath(root);
  const server = createServer(async (req, res) => {
    const send = (status: number, body: string) => res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    let file: string;
    try {
      // URL parsing drops `..` segments; decoding may bring back `../` (%2e%2e%2f), so check again after resolving.
      const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      if (pathname.includes('\0')) return send(400, 'bad path');
      file = await realpath(join(realRoot, pathname)); // realpath also follows symlinks out of root, caught below
    } catch {
      // Chromium asks for /favicon.ico on every page; answer quietly instead of logging a 404 for it.
      return req.url === '/favicon.ico' ? res.writeHead(204).end() : send(404, 'not found');
    }
    const rel = relative(realRoot, file);
    if (rel.startsWith('..') || isAbsolute(rel)) return send(403, 'outside root');
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) return send(404, 'not found');
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-store',
      ...headers,
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/**
 * Serves `root` (every response with `headers` added, e.g. COOP/COEP for cross-origin isolation), launches
 * Chromium with WebGPU on SwiftShader (and `args`) and opens `${url}/${pagePath}`.
 */
export async function openPage(
  root: string,
  pagePath: string,
  args = CHROMIUM_ARGS,
  headers: Record<string, string> = {},
): Promise<BrowserSession> {
  const { server, url } = await serve(root, headers);
  const closeServer = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections(); // don't wait for keep-alive sockets to time out
      server.close(() => resolve());
    });
  const browser = await puppeteer
    .launch({ executablePath: CHROMIUM_PATH, headless: true, args })
    .catch(async (err: Error) => {
      await closeServer();
      // Never skip: a GPU test that cannot start a browser must fail, saying why.
      throw new Error(`Could not launch Chromium at ${CHROMIUM_PATH} (set CHROMIUM_PATH to override): ${err.message}`, {
        cause: err,
      });
    });
  const close = async () => {
    await browser.close().catch(() => {});
    await closeServer();
  };
  try {
    const page = await browser.newPage();
    page.on('console', (msg) => console.log(`[browser] ${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) =>
      console.error(`[browser] page error: ${err instanceof Error ? err.message : String(err)}`),
    );
    const response = await page.goto(`${url}/${pagePath.replace(/^\/+/, '')}`);
    if (!response?.ok()) throw new Error(`GET ${pagePath} answered ${response?.status() ?? 'nothing'}`);
    return { page, url, close };
  } catch (err) {
    await close();
    throw err;
  }
}
