#!/usr/bin/env node
// Builds web/dist: compiles the TypeScript sources twice (the page-side API against the DOM
// library, the worker against the WebWorker library; both emit into dist/) and copies the
// WebGPU backend (plain JS modules in src/webgpu/) to dist/webgpu/.
//
//   node tools/build.mjs            (npm run build)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(web, 'node_modules/typescript/bin/tsc');
if (!fs.existsSync(tsc)) {
  console.error('build.mjs: typescript is not installed: run `npm install --ignore-scripts` in web/ first');
  process.exit(1);
}
for (const project of ['tsconfig.json', 'tsconfig.worker.json']) {
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(web, project)], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build.mjs: tsc -p ${project} failed`);
    process.exit(r.status ?? 1);
  }
}
const src = path.join(web, 'src/webgpu');
const dst = path.join(web, 'dist/webgpu');
fs.rmSync(dst, { recursive: true, force: true });
if (fs.existsSync(src)) {
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(src)) {
    if (/\.(js|mjs|d\.ts)$/.test(f)) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  }
  // The shaders travel with the backend (the worker points it at dist/webgpu/wgsl/).
  const wgsl = path.resolve(web, '../kernels/webgpu');
  fs.mkdirSync(path.join(dst, 'wgsl'), { recursive: true });
  for (const f of fs.existsSync(wgsl) ? fs.readdirSync(wgsl) : []) {
    if (f.endsWith('.wgsl')) fs.copyFileSync(path.join(wgsl, f), path.join(dst, 'wgsl', f));
  }
}
console.log(`built ${path.relative(process.cwd(), path.join(web, 'dist')) || 'dist'}` +
  (fs.existsSync(path.join(dst, 'index.js')) ? ' (with the WebGPU backend)' : ' (no WebGPU backend in src/webgpu)'));
