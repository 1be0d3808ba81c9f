// Declarations every Kite WebGPU op shares; web/src/webgpu/shaders.js prepends this
// file (after the generated constants) to each op shader.

// Per-forward values, written once before each submit (web/src/webgpu/forward_graph.js).
struct Step {
  pos: u32,       // position of the first token of this batch
  n_tokens: u32,  // tokens in this batch (M)
  pad0: u32,
  pad1: u32,
}

// Shared by the matvec_* shaders: y[t][row] (+)= W[row] . x[t] (+ bias[row]).
struct MatvecParams {
  n_rows: u32,          // rows of this weight part
  k: u32,               // logical columns (K)
  x_stride: u32,        // floats between tokens in x
  y_stride: u32,        // floats between tokens in y
  row_words: u32,       // u32 words per stored row (q8, q4)
  groups_per_row: u32,  // q4 scale groups per row
  flags: u32,           // MV_BIAS | MV_ACCUMULATE | MV_ONE_TOKEN
  y_row_offset: u32,    // first output row of this part (weights split at maxStorageBufferBindingSize)
}
const MV_BIAS: u32 = 1u;        // add bias[y_row_offset + row]
const MV_ACCUMULATE: u32 = 2u;  // y += result (residual connection) instead of y = result
const MV_ONE_TOKEN: u32 = 4u;   // token row 0 only (the output head: the final norm wrote the last token there)

// Signed byte i (0..3) of a little-endian u32 word, as f32.
fn i8_at(word: u32, i: u32) -> f32 {
  return f32(extractBits(bitcast<i32>(word), i * 8u, 8u));
}

// Element e of an array of IEEE halves packed two per u32 (shader-f16 is optional:
// unpack2x16float decodes them on every adapter).
fn f16_at(word: u32, e: u32) -> f32 {
  let pair = unpack2x16float(word);
  return select(pair.x, pair.y, (e & 1u) == 1u);
}

// bf16 element e of a packed pair: the high half of an f32.
fn bf16_at(word: u32, e: u32) -> f32 {
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (e & 1u) == 1u));
}

// tanh that is exactly +-1 where the correctly rounded f32 tanh is (|x| > 9: 1 - tanh(9) < 2^-25),
// as the CPU's std::tanh gives: implementations may compute tanh through exp, which overflows to
// inf / inf = NaN for large |x| or leaves 1 - tanh a few ULPs off 0 (Gemma's GeGLU then gives
// a small nonzero value for a large negative gate where the CPU gives 0).
fn tanh_f32(x: f32) -> f32 {
  return select(tanh(x), sign(x), abs(x) > 9.0);
}
