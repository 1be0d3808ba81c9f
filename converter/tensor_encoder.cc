// Output bytes are written in host order: Kite targets little-endian machines only, as the format is.
#include "converter/tensor_encoder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/quant_formats.h"
#include "kernels/quantize.h"

namespace kite {
namespace {

// About 16 MB of f32 per block: large enough to amortize calls, small next to any model.
constexpr int64_t kBlockElements = int64_t{4} << 20;
constexpr float kMaxHalf = 65504.0f;

void Accumulate(const float* w, const float* converted, int64_t n, ErrorStats* stats) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = w[i];
    const double e = x - static_cast<double>(converted[i]);
    stats->sum_sq_error += e * e;
    stats->sum_sq_weight += x * x;
  }
}

void AccumulateExact(const float* w, int64_t n, ErrorStats* stats) {
  for (int64_t i = 0; i < n; ++i) stats->sum_sq_weight += static_cast<double>(w[i]) * w[i];
}

}  // namespace

double ErrorStats::relative_rms() const {
  if (sum_sq_weight > 0.0) return std::sqrt(sum_sq_error / sum_sq_weight);
  return sum_sq_error > 0.0 ? std::numeric_limits<double>::infinity() : 0.0;
}

Status EncodeTensor(const SourceTensor& source, const TensorSpec& spec, ArtifactWriter* writer, ErrorStats* stats,
                    const std::function<void(uint64_t)>& on_bytes, SourceLayout layout, int64_t offset) {
  const std::string what = source.file + ": tensor '" + source.name + "'";
  if (source.dtype == SourceDType::kOther) return InvalidArgument(what + " has unsupported dtype " + source.dtype_name);
  if (spec.shape.empty()) return Internal(what + ": empty spec shape");
  int64_t spec_elements = 1;
  for (int64_t d : spec.shape) spec_elements *= d;
  switch (layout) {
    case SourceLayout::kSame:
      if (source.shape != spec.shape) return Internal(what + ": the spec's shape differs");
      break;
    case SourceLayout::kConv1D:
      // spec [rows, in] from source [in, out_total] columns [offset, offset + rows)
      if (spec.shape.size() != 2 || source.shape.size() != 2 || source.shape[0] != spec.shape[1] || offset < 0 ||
          offset + spec.shape[0] > source.shape[1]) {
        return Internal(what + ": Conv1D columns out of range");
      }
      break;
    case SourceLayout::kSlice:
      if (spec.shape.size() != 1 || source.shape.size() != 1 || offset < 0 || offset + spec.shape[0] > source.shape[0]) {
        return Internal(what + ": slice out of range");
      }
      break;
  }
  // Rows are everything but the last dimension; a 1-D tensor is one row.
  const int64_t cols = spec.shape.back();
  const int64_t rows = spec_elements / cols;
  const int64_t rows_per_block = std::max<int64_t>(1, kBlockElements / cols);
  const bool copy_bytes = layout == SourceLayout::kSame &&
                          ((spec.dtype == DType::kF32 && source.dtype == SourceDType::kF32) ||
                           (spec.dtype == DType::kF16 && source.dtype == SourceDType::kF16));
  std::vector<float> column;  // kConv1D: one source row's slice
  // Reads spec rows [row0, row0 + n_rows) as f32 into w: [n_rows][cols].
  auto read_rows = [&](int64_t row0, int64_t n_rows, float* w) {
    if (layout == SourceLayout::kSame) {
      ReadAsF32(source, row0 * cols, n_rows * cols, w);
    } else if (layout == SourceLayout::kSlice) {
      ReadAsF32(source, offset + row0 * cols, n_rows * cols, w);
    } else {
      // out[r][c] = source[c][offset + row0 + r]: each source row gives one column of the block.
      const int64_t out_total = source.shape[1];
      column.resize(static_cast<size_t>(n_rows));
      for (int64_t c = 0; c < cols; ++c) {
        ReadAsF32(source, c * out_total + offset + row0, n_rows, column.data());
        for (int64_t r = 0; r < n_rows; ++r) w[r * cols + c] = column[r];
      }
    }
  };

  std::vector<float> w, converted;
  std::vector<uint16_t> halves;
  std::vector<int8_t> q8;
  std::vector<uint8_t> q4;
  std::vector<float> q8_scales;      // whole tensor: [rows]
  std::vector<uint16_t> q4_scales;   // whole tensor: [rows][groups]
  const int64_t groups = spec.dtype == DType::kQ4 ? Q4GroupsPerRow(cols, spec.group_size) : 0;
  if (spec.dtype == DType::kQ8) q8_scales.resize(static_cast<size_t>(rows));
  if (spec.dtype == DType::kQ4) q4_scales.resize(static_cast<size_t>(rows * groups));

  for (int64_t row0 = 0; row0 < rows; row0 += rows_per_block) {
    const int64_t n_rows = std::min(rows_per_block, rows - row0);
    const int64_t n = n_rows * cols;
    w.resize(static_cast<size_t>(n));
    read_rows(row0, n_rows, w.data());
    for (int64_t i = 0; i < n; ++i) {
      if (!std::isfinite(w[i])) {
        const int64_t e = row0 * cols + i;
        return InvalidArgument(what + " element " + std::to_string(e) + " (row " + std::to_string(e / cols) +
                               ", column " + std::to_string(e % cols) + ") is " + (std::isnan(w[i]) ? "NaN" : "inf"));
      }
    }
    const uint8_t* out = nullptr;
    uint64_t out_bytes = 0;
    if (copy_bytes) {
      // Same format in and out: the bytes go through untouched (bit-exact by construction).
      const uint64_t element_bytes = spec.dtype == DType::kF32 ? 4 : 2;
      out = source.data + static_cast<uint64_t>(row0 * cols) * element_bytes;
      out_bytes = static_cast<uint64_t>(n) * element_bytes;
      AccumulateExact(w.data(), n, stats);
    } else {
      converted.resize(static_cast<size_t>(n));
      switch (spec.dtype) {
        case DType::kF32:
          out = reinterpret_cast<const uint8_t*>(w.data());
          out_bytes = static_cast<uint64_t>(n) * 4;
          AccumulateExact(w.data(), n, stats);  // widening F16/BF16 is exact
          break;
        case DType::kF16:
          halves.resize(static_cast<size_t>(n));
          for (int64_t i = 0; i < n; ++i) {
            // Values past f16's range would become inf and poison every activation they touch.
            if (std::fabs(w[i]) > kMaxHalf) {
              return InvalidArgument(what + " holds " + std::to_string(w[i]) + ", beyond f16's range (65504); " +
                                     "convert it at f32, e.g. --override '" + source.name + "=f32'");
            }
            halves[i] = kernels::FloatToHalf(w[i]);
            converted[i] = kernels::HalfToFloat(halves[i]);
          }
          out = reinterpret_cast<const uint8_t*>(halves.data());
          out_bytes = static_cast<uint64_t>(n) * 2;
          Accumulate(w.data(), converted.data(), n, stats);
          break;
        case DType::kQ8: {
          const int64_t row_bytes = Q8RowBytes(cols);
          q8.resize(static_cast<size_t>(n_rows * row_bytes));
          float* scales = q8_scales.data() + row0;
          kernels::QuantizeRowsQ8(w.data(), n_rows, cols, q8.data(), scales);
          kernels::DequantizeRowsQ8(q8.data(), scales, n_rows, cols, converted.data());
          out = reinterpret_cast<const uint8_t*>(q8.data());
          out_bytes = static_cast<uint64_t>(n_rows * row_bytes);
          Accumulate(w.data(), converted.data(), n, stats);
          break;
        }
        case DType::kQ4: {
          const int64_t row_bytes = Q4RowBytes(cols, spec.group_size);
          q4.resize(static_cast<size_t>(n_rows * row_bytes));
          uint16_t* scales = q4_scales.data() + row0 * groups;
          kernels::QuantizeRowsQ4(w.data(), n_rows, cols, spec.group_size, q4.data(), scales);
          kernels::DequantizeRowsQ4(q4.data(), scales, n_rows, cols, spec.group_size, converted.data());
          out = q4.data();
          out_bytes = static_cast<uint64_t>(n_rows * row_bytes);
          Accumulate(w.data(), converted.data(), n, stats);
          break;
        }
        default:
          return Internal(what + ": cannot convert to " + DTypeName(spec.dtype));
      }
    }
    KITE_RETURN_IF_ERROR(writer->AppendData(out, out_bytes));
    if (on_bytes) on_bytes(out_bytes);
  }
  // Scales follow the data (see kernels/quant_formats.h); they are small: one per row or group.
  if (!q8_scales.empty()) {
    KITE_RETURN_IF_ERROR(writer->AppendScales(q8_scales.data(), q8_scales.size() * sizeof(float)));
    if (on_bytes) on_bytes(q8_scales.size() * sizeof(float));
  }
  if (!q4_scales.empty()) {
    KITE_RETURN_IF_ERROR(writer->AppendScales(q4_scales.data(), q4_scales.size() * sizeof(uint16_t)));
    if (on_bytes) on_bytes(q4_scales.size() * sizeof(uint16_t));
  }
  return writer->EndTensor();
}

}  // namespace kite
