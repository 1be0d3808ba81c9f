// WGSL sources (kernels/webgpu/*.wgsl) and the pipeline cache.
//
// Each op file is compiled as: generated constants + common.wgsl + one reduction file
// (reduce_subgroup.wgsl when the device has `subgroups`, reduce_shared.wgsl otherwise)
// + the op. The generated part also sets the KV cache's storage (KV_STORAGE below):
// its element type kv_t and three helpers kv_store.wgsl and attention.wgsl go through.
// Constants that size per-invocation arrays (ROWS, TOKENS) must be WGSL `const`s, not
// pipeline-overridable constants, so they are generated text.
// Layouts are explicit (not 'auto') so a bind group serves every constant variant
// of its op (decode TOKENS = 1 and prefill TOKENS = 4 share one bind group).

export const SHADER_FILES = [
  'common', 'reduce_shared', 'reduce_subgroup',
  'matvec_f32', 'matvec_f16', 'matvec_q8', 'matvec_q4', 'quantize_q8', 'matvec_q8_xq8', 'matvec_q4_xq8',
  'rmsnorm', 'layernorm', 'rope', 'kv_store', 'attention', 'silu_mul', 'gelu_tanh',
];

/** Where the .wgsl files are served from by default: the repository layout. */
export function defaultShaderBaseUrl() {
  return new URL('../../../kernels/webgpu/', import.meta.url).href;
}

/** Fetches every shader file. @returns {Promise<Record<string,string>>} */
export async function loadShaderSources(baseUrl = defaultShaderBaseUrl()) {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const entries = await Promise.all(SHADER_FILES.map(async (name) => {
    const res = await fetch(`${base}${name}.wgsl`);
    if (!res.ok) throw new Error(`WebGPU: cannot fetch shader ${base}${name}.wgsl (HTTP ${res.status})`);
    return [name, await res.text()];
  }));
  return Object.fromEntries(entries);
}

const U = 'uniform', R = 'read-only-storage', W = 'storage';
// Binding types per op (binding index = position).
const LAYOUTS = {
  matvec: [U, U, R, R, R, W, R],  // params, step, weights, scales, x, y, bias
  matvec_xq8: [U, U, R, R, R, R, W, R],  // params, step, weights, scales, xq, xs, y, bias
  quantize_q8: [U, U, R, W, W],   // params, step, x, xq, xs
  rmsnorm: [U, U, R, W, R],       // params, step, src, dst, w
  rope: [U, U, W, R],             // params, step, buf, cos_sin
  kv_store: [U, U, R, R, W, W],   // params, step, k, v, k_cache, v_cache
  attention: [U, U, R, R, R, W, W],  // params, step, q, k_cache, v_cache, scores, out
  gated: [U, U, W, R],            // params, step, gate, up (silu_mul, gelu_tanh)
  layernorm: [U, U, R, W, R, R],  // params, step, src, dst, w, b
};
const LAYOUT_OF = {
  matvec_f32: 'matvec', matvec_f16: 'matvec', matvec_q8: 'matvec', matvec_q4: 'matvec',
  matvec_q8_xq8: 'matvec_xq8', matvec_q4_xq8: 'matvec_xq8', quantize_q8: 'quantize_q8',
  rmsnorm: 'rmsnorm', rope: 'rope', kv_store: 'kv_store', attention: 'attention', silu_mul: 'gated',
  gelu_tanh: 'gated', layernorm: 'layernorm',
};

export const WORKGROUP_SIZE = 64;

// How the KV cache is stored, as WGSL: kv_t is the array element; KV_PAIRS says kv_store writes
// two values per invocation; kv_pack(a, b) makes the element holding a (and b, when paired);
// kv_word(i) is the element holding value i; kv_value(word, i) widens value i of it to f32.
//   'f32'        f32 values
//   'f16'        f16 values (needs the device feature shader-f16)
//   'f16-packed' IEEE halves two per u32 (pack2x16float / unpack2x16float, any device): the same
//                bytes as 'f16', since pack2x16float puts value 2i in the low half of word i
const KV_STORAGE = {
  f32: ['alias kv_t = f32;', 'const KV_PAIRS: bool = false;',
    'fn kv_pack(a: f32, b: f32) -> kv_t { return a; }', 'fn kv_word(i: u32) -> u32 { return i; }',
    'fn kv_value(w: kv_t, i: u32) -> f32 { return w; }'],
  f16: ['alias kv_t = f16;', 'const KV_PAIRS: bool = false;',
    'fn kv_pack(a: f32, b: f32) -> kv_t { return f16(a); }', 'fn kv_word(i: u32) -> u32 { return i; }',
    'fn kv_value(w: kv_t, i: u32) -> f32 { return f32(w); }'],
  'f16-packed': ['alias kv_t = u32;', 'const KV_PAIRS: bool = true;',
    'fn kv_pack(a: f32, b: f32) -> kv_t { return pack2x16float(vec2<f32>(a, b)); }',
    'fn kv_word(i: u32) -> u32 { return i / 2u; }', 'fn kv_value(w: kv_t, i: u32) -> f32 { return f16_at(w, i); }'],
};
export const KV_STORAGES = Object.keys(KV_STORAGE);

export class PipelineCache {
  /**
   * @param {GPUDevice} device
   * @param {Record<string,string>} sources  from loadShaderSources
   * @param {{subgroups: boolean, kvStorage?: 'f32'|'f16'|'f16-packed'}} options
   *   kvStorage: how the KV cache is stored (KV_STORAGE); 'f16' needs the device feature shader-f16.
   */
  constructor(device, sources, { subgroups, kvStorage = 'f32' }) {
    if (!KV_STORAGE[kvStorage]) throw new Error(`WebGPU: unknown KV storage '${kvStorage}'`);
    this.device = device;
    this.sources = sources;
    this.subgroups = Boolean(subgroups);
    this.kvStorage = kvStorage;
    this.layouts = new Map();
    this.pipelines = new Map();
  }

  /** The bind group layout of an op shader (shared by its constant variants). */
  bindGroupLayout(op) {
    const kind = LAYOUT_OF[op];
    if (!kind) throw new Error(`WebGPU: unknown op shader '${op}'`);
    let layout = this.layouts.get(kind);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        label: `kite.${kind}`,
        entries: LAYOUTS[kind].map((type, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type },
        })),
      });
      this.layouts.set(kind, layout);
    }
    return layout;
  }

  /** The full WGSL text of an op with its generated constants. */
  source(op, consts = {}) {
    const c = { WG: WORKGROUP_SIZE, ROWS: 1, TOKENS: 1, HALF_IS_BF16: false, ...consts };
    const lines = [];
    if (this.kvStorage === 'f16') lines.push('enable f16;');
    if (this.subgroups) lines.push('enable subgroups;');
    lines.push(`// generated by web/src/webgpu/shaders.js for ${op} ${JSON.stringify(consts)}`);
    lines.push(`// KV cache storage '${this.kvStorage}' (kv_store, attention)`, ...KV_STORAGE[this.kvStorage]);
    lines.push(`const WG: u32 = ${c.WG}u;`, `const ROWS: u32 = ${c.ROWS}u;`, `const TOKENS: u32 = ${c.TOKENS}u;`,
      `const HALF_IS_BF16: bool = ${c.HALF_IS_BF16 ? 'true' : 'false'};`);
    return [lines.join('\n'), this.sources.common,
      this.subgroups ? this.sources.reduce_subgroup : this.sources.reduce_shared, this.sources[op]].join('\n');
  }

  /** A compute pipeline for op with the given constants, compiled once. */
  get(op, consts = {}) {
    const key = `${op}|${JSON.stringify(consts)}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      const module = this.device.createShaderModule({ label: `kite.${op}`, code: this.source(op, consts) });
      pipeline = this.device.createComputePipeline({
        label: `kite.${key}`,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.bindGroupLayout(op)] }),
        compute: { module, entryPoint: 'main' },
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /** Compilation errors of every op shader (tests call this to fail with the WGSL message). */
  async checkCompilation() {
    const errors = [];
    for (const op of Object.keys(LAYOUT_OF)) {
      const module = this.device.createShaderModule({ code: this.source(op, { ROWS: 8, TOKENS: 4 }) });
      const info = await module.getCompilationInfo();
      for (const m of info.messages) {
        if (m.type === 'error') errors.push(`${op}:${m.lineNum}:${m.linePos}: ${m.message}`);
      }
    }
    return errors;
  }
}
