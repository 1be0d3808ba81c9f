// Launch settings for headless Chromium's WebGPU on Mesa's lavapipe (llvmpipe), whose adapter has
// `shader-f16` (Chromium's SwiftShader has not). Used by run.mjs --adapter lavapipe.
//
// Three pieces, all local and test-only (README.md beside this file says why each is needed):
//  1. kite_lavapipe_layer.c, compiled here with cc into <work>/layer (needs libvulkan-dev's
//     vulkan/vk_layer.h), enabled with VK_INSTANCE_LAYERS;
//  2. VK_ICD_FILENAMES pointing at lavapipe's ICD (mesa-vulkan-drivers);
//  3. a copy of /usr/lib/chromium without SwiftShader's Vulkan ICD (hard links where the file
//     system allows, else a plain copy): Chromium takes the first usable Vulkan adapter and its
//     bundled SwiftShader would come first.
// Chromium flags: Skia on Vulkan (Chromium offers Vulkan WebGPU adapters only then) through ANGLE.

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const LAYER_NAME = 'VK_LAYER_KITE_lavapipe_webgpu';
const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';
const VK_LAYER_HEADER = '/usr/include/vulkan/vk_layer.h';
export const LAVAPIPE_ARGS = ['--use-gl=angle', '--use-angle=vulkan', '--enable-features=Vulkan', '--use-vulkan=native',
  '--ignore-gpu-blocklist', '--disable-gpu-sandbox', '--disable-vulkan-surface'];

function newer(a, b) {
  return !fs.existsSync(b) || fs.statSync(a).mtimeMs > fs.statSync(b).mtimeMs;
}

function buildLayer(dir) {
  const src = path.join(here, 'kite_lavapipe_layer.c');
  const lib = path.join(dir, 'libkite_lavapipe_layer.so');
  fs.mkdirSync(dir, { recursive: true });
  if (newer(src, lib)) {
    execFileSync(process.env.CC || 'cc', ['-O2', '-shared', '-fPIC', '-fvisibility=hidden', '-Wall', '-Wextra', '-Werror',
      '-o', lib, src, '-lpthread'], { stdio: 'inherit' });
  }
  fs.writeFileSync(path.join(dir, 'kite_lavapipe_layer.json'), JSON.stringify({
    file_format_version: '1.1.2',
    layer: {
      name: LAYER_NAME, type: 'GLOBAL', library_path: './libkite_lavapipe_layer.so', api_version: '1.3.0',
      implementation_version: '1', description: 'Kite tests: lavapipe as a Chromium WebGPU adapter',
      functions: { vkNegotiateLoaderLayerInterfaceVersion: 'vkNegotiateLoaderLayerInterfaceVersion' },
    },
  }, null, 2));
}

// /usr/lib/chromium minus SwiftShader's Vulkan ICD. Chromium finds its resources next to the real
// path of its executable, so the binary itself must be a file in the copy (a hard link is one).
function chromiumWithoutSwiftShader(chromiumDir, dir) {
  const marker = path.join(dir, '.source');
  const stamp = `${chromiumDir} ${fs.statSync(path.join(chromiumDir, 'chromium')).mtimeMs}`;
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === stamp) return path.join(dir, 'chromium');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(chromiumDir)) {
    if (name === 'libvk_swiftshader.so' || name === 'vk_swiftshader_icd.json') continue;
    const from = path.join(chromiumDir, name), to = path.join(dir, name);
    if (fs.statSync(from).isDirectory()) {
      fs.cpSync(from, to, { recursive: true });
      continue;
    }
    try {
      fs.linkSync(from, to);
    } catch {  // another file system, or not allowed to link another user's file
      fs.copyFileSync(from, to);
      fs.chmodSync(to, fs.statSync(from).mode);
    }
  }
  fs.writeFileSync(marker, stamp);
  return path.join(dir, 'chromium');
}

/**
 * @param {string} workDir  where the layer and the Chromium copy go (reused when current)
 * @returns {{ok: true, executablePath: string, env: object, args: string[]} | {ok: false, reason: string}}
 */
export function lavapipeLaunch(workDir, chromiumDir = '/usr/lib/chromium') {
  if (!fs.existsSync(LAVAPIPE_ICD)) return { ok: false, reason: `${LAVAPIPE_ICD} is missing (apt-get install mesa-vulkan-drivers)` };
  if (!fs.existsSync(VK_LAYER_HEADER)) return { ok: false, reason: `${VK_LAYER_HEADER} is missing (apt-get install libvulkan-dev)` };
  if (!fs.existsSync(path.join(chromiumDir, 'chromium'))) return { ok: false, reason: `${chromiumDir}/chromium is missing (apt-get install chromium)` };
  const layerDir = path.join(workDir, 'layer');
  buildLayer(layerDir);
  const executablePath = chromiumWithoutSwiftShader(chromiumDir, path.join(workDir, 'chromium'));
  const env = { ...process.env, VK_ICD_FILENAMES: LAVAPIPE_ICD, VK_LAYER_PATH: layerDir, VK_INSTANCE_LAYERS: LAYER_NAME };
  return { ok: true, executablePath, env, args: LAVAPIPE_ARGS };
}
