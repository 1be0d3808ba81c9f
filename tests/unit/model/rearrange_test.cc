// Weights rearranged for a kernel set's own layout (Engine::RearrangeWeightsForKernels, Q4 in
// transposed groups, kernels/quant_formats.h): only an engine loaded from memory may do it, a set
// without such a kernel leaves the bytes alone, and MatMul / DequantizeRow read a marked matrix
// through the set's transposed kernel and the transposed decoding. The relaxed wasm set, the one with
// such a kernel, is checked end to end by tests/wasm/relaxed_parity_test.cjs.
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/gemm.h"
#include "kernels/quant_formats.h"
#include "kernels/quantize.h"
#include "runtime/backend/cpu/cpu_matmul.h"
#include "runtime/core/thread_pool.h"
#include "tests/unit/model/model_test_util.h"
#include "tests/unit/model/transposed_reference_kernels.h"

namespace kite {
namespace testing {
namespace {

TEST(RearrangeWeights, OnlyForAnEngineLoadedFromMemory) {
  const std::string path = ConvertDir(SharedPath("models/stories260K/hf"), "rearrange_q4", QuantScheme::kQ4);
  ASSERT_FALSE(path.empty());
  auto mapped = Load(path);
  ASSERT_NE(mapped, nullptr);
  auto refused = mapped->RearrangeWeightsForKernels();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("model_data"), std::string::npos) << refused.status().ToString();

  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<uint8_t> before = bytes;
  EngineOptions options;
  options.model_data = bytes.data();
  options.model_size = bytes.size();
  auto engine = Engine::Load(options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto rearranged = engine.value()->RearrangeWeightsForKernels();
  ASSERT_TRUE(rearranged.ok()) << rearranged.status().ToString();
  // No native set reads another Q4 layout: nothing to do, nothing touched.
  EXPECT_EQ(rearranged.value(), 0);
  EXPECT_EQ(engine.value()->rearranged_tensors(), 0);
  EXPECT_TRUE(bytes == before);
}

TEST(RearrangeWeights, MarkedMatricesGoThroughTheTransposedKernelAndDecoding) {
  const int64_t n = 38, k = 600, group = 32;  // 19 blocks: 4 whole groups and 3 blocks left
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(n * k), x(2 * k);
  for (float& v : w) v = normal(rng);
  for (float& v : x) v = normal(rng);
  std::vector<uint8_t> stored(n * Q4RowBytes(k, group));
  std::vector<uint16_t> scales(n * Q4GroupsPerRow(k, group));
  kernels::QuantizeRowsQ4(w.data(), n, k, group, stored.data(), scales.data());
  std::vector<uint8_t> transposed = stored;
  kernels::TransposeQ4Groups(transposed.data(), n, k, group);

  Matrix plain;
  plain.dtype = DType::kQ4, plain.data = stored.data(), plain.scales = scales.data();
  plain.rows = n, plain.cols = k, plain.group_size = group;
  plain.bytes = stored.size() + scales.size() * 2;
  Matrix marked = plain;
  marked.data = transposed.data();
  marked.q4_transposed = true;

  std::vector<float> row_plain(k), row_marked(k);
  for (int64_t r : {0, 17, 36, 37}) {
    DequantizeRow(plain, r, row_plain.data());
    DequantizeRow(marked, r, row_marked.data());
    EXPECT_EQ(row_plain, row_marked) << "row " << r;
  }

  // What MatMul calls for a marked matrix must see transposed bytes.
  const kernels::GemmKernels set = ReferenceKernelsWithTransposedQ4();
  ThreadPool pool(1);
  MatMulScratch scratch;
  scratch.Reserve(2, k);
  for (int64_t m : {1, 2}) {
    std::vector<float> y_plain(m * n), y_marked(m * n);
    MatMul(set, pool, scratch, plain, x.data(), m, y_plain.data(), n);
    MatMul(set, pool, scratch, marked, x.data(), m, y_marked.data(), n);
    EXPECT_EQ(y_plain, y_marked) << "m = " << m;
  }
}

}  // namespace
}  // namespace testing
}  // namespace kite
