#!/usr/bin/env node
// Dev server for the Kite web package: serves web/ (demo, dist), the wasm runtime builds and a
// models folder from 127.0.0.1 only, with the headers a cross-origin isolated page needs
// (COOP/COEP, so SharedArrayBuffer and the pthreads build work) and application/wasm.
//
//   node web/tools/serve.mjs [--port 8080] [--runtime DIR] [--threads-runtime DIR] [--models DIR]
//                            [--mount /prefix/=DIR ...] [--no-isolation]
//
// Mounts: /            -> web/
//         /wasm/       -> --runtime (the single-thread kite.mjs + kite.wasm)
//         /wasm-threads/ -> --threads-runtime (the pthreads build)
//         /models/     -> --models (default: <repo>/models)
// --no-isolation leaves COOP/COEP out (to see how the demo reports a page without threads).
// Also importable: `startServer(options)` resolves to { url, port, close() } (tests use it).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = path.resolve(here, '..');
const repo = path.resolve(webDir, '..');

export const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.kite': 'application/octet-stream',
  '.gguf': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.d.ts': 'text/plain; charset=utf-8',
};

/** The first folder of `candidates` that holds kite.mjs (relative to the repo), or the first one. */
function firstRuntime(candidates) {
  for (const c of candidates) {
    const dir = path.resolve(repo, c);
    if (fs.existsSync(path.join(dir, 'kite.mjs'))) return dir;
  }
  return path.resolve(repo, candidates[0]);
}

export function defaultMounts() {
  return {
    '/wasm/': firstRuntime(['web/wasm', 'build-wasm/platforms/wasm', 'build-wasm-st/platforms/wasm']),
    '/wasm-threads/': firstRuntime(['web/wasm-threads', 'build-wasm-threads/platforms/wasm', 'build-wasm-mt/platforms/wasm',
      'build-wasm-pthreads/platforms/wasm']),
    '/models/': path.resolve(repo, 'models'),
  };
}

/**
 * options: { port = 0 (any free port), mounts: { '/prefix/': dir }, isolation = true, log = false }
 * The longest matching prefix wins; '/' is web/ unless given.
 */
export function startServer(options = {}) {
  const mounts = { '/': webDir, ...defaultMounts(), ...(options.mounts ?? {}) };
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const isolation = options.isolation ?? true;
  const server = http.createServer((req, res) => {
    const headers = {
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Cross-Origin-Resource-Policy': 'same-origin',
    };
    if (isolation) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    } catch {
      return send(400, 'bad request\n');
    }
    if (pathname.includes('\0')) return send(400, 'bad request\n');
    const prefix = prefixes.find((p) => pathname === p.replace(/\/$/, '') || pathname.startsWith(p));
    const root = path.resolve(mounts[prefix]);
    let file = path.resolve(root, '.' + path.posix.normalize('/' + pathname.slice(prefix.length)));
    if (file !== root && !file.startsWith(root + path.sep)) return send(403, 'forbidden\n');
    let stat;
    try {
      stat = fs.statSync(file);
      if (stat.isDirectory()) {
        if (!pathname.endsWith('/')) {
          res.writeHead(301, { ...headers, Location: pathname + '/' });
          return res.end();
        }
        file = path.join(file, 'index.html');
        stat = fs.statSync(file);
      }
    } catch {
      if (options.log) console.error(`404 ${pathname}`);
      return send(404, `not found: ${pathname}\n`);
    }
    const ext = file.endsWith('.d.ts') ? '.d.ts' : path.extname(file).toLowerCase();
    res.writeHead(200, {
      ...headers,
      'Content-Type': MIME[ext] ?? 'application/octet-stream',
      'Content-Length': stat.size,
    });
    if (req.method === 'HEAD') return res.end();
    fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
    if (options.log) console.error(`200 ${pathname} (${stat.size} B)`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}/`,
        port,
        mounts,
        close: () => new Promise((r) => {
          server.closeAllConnections?.();
          server.close(() => r());
        }),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      runtime: { type: 'string' },
      'threads-runtime': { type: 'string' },
      models: { type: 'string' },
      mount: { type: 'string', multiple: true, default: [] },
      'no-isolation': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: node web/tools/serve.mjs [--port N] [--runtime DIR] [--threads-runtime DIR] [--models DIR] ' +
      '[--mount /prefix/=DIR ...] [--no-isolation] [--quiet]');
    process.exit(0);
  }
  const mounts = {};
  if (values.runtime) mounts['/wasm/'] = path.resolve(values.runtime);
  if (values['threads-runtime']) mounts['/wasm-threads/'] = path.resolve(values['threads-runtime']);
  if (values.models) mounts['/models/'] = path.resolve(values.models);
  for (const m of values.mount) {
    const eq = m.indexOf('=');
    if (eq <= 0) {
      console.error(`serve.mjs: --mount wants /prefix/=DIR, got '${m}'`);
      process.exit(2);
    }
    let prefix = m.slice(0, eq);
    if (!prefix.startsWith('/')) prefix = '/' + prefix;
    if (!prefix.endsWith('/')) prefix += '/';
    mounts[prefix] = path.resolve(m.slice(eq + 1));
  }
  const port = Number.parseInt(values.port, 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('serve.mjs: --port must be 0..65535');
    process.exit(2);
  }
  try {
    const s = await startServer({ port, mounts, isolation: !values['no-isolation'], log: !values.quiet });
    for (const [prefix, dir] of Object.entries(s.mounts)) {
      console.log(`  ${prefix.padEnd(16)} ${dir}${fs.existsSync(dir) ? '' : '  (missing)'}`);
    }
    console.log(`serving ${s.url} (demo: ${s.url}demo/)${values['no-isolation'] ? ' without COOP/COEP' : ''}`);
  } catch (e) {
    console.error(`serve.mjs: ${e.message}`);
    process.exit(1);
  }
}
