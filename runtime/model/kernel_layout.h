// Rearranging a model's weights, in place, into its kernel set's own Q4 layout (transposed groups,
// kernels/quant_formats.h, read by GemmKernels::gemm_q4_transposed). The Engine decides when that
// is allowed (Engine::RearrangeWeightsForKernels); this does the bytes.
#pragma once

namespace kite {

class Model;

// Transposes the Q4 bytes of the matrices in model.KernelLayoutMatrices() that are not yet marked,
// once per tensor (tied matrices share their bytes), and marks every Matrix naming them
// (Matrix::q4_transposed). Matrices with an odd row count or an Inf or NaN group scale stay as
// stored (that kernel takes row pairs and finite scales only). The weights must be writable memory the caller owns, and no session may
// be running. Returns how many tensors it rearranged: 0 when the kernel set has no
// gemm_q4_transposed (the bytes are left alone) or every matrix was already marked.
int RearrangeQ4ForKernels(Model& model);

}  // namespace kite
