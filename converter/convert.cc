#include "converter/convert.h"

#include <filesystem>

#include "converter/hf_config.h"
#include "converter/hf_extras.h"
#include "converter/model_tensors.h"
#include "converter/safetensors.h"
#include "converter/tokenizer/hf_tokenizer.h"
#include "runtime/artifact/artifact_writer.h"
#include "runtime/core/file.h"

namespace kite {
namespace {

Status LoadTokenizer(const std::string& dir, const ModelConfig& config, TokenizerSpec* out) {
  auto spec = LoadHfTokenizer(dir);
  if (!spec.ok()) {
    const Status& s = spec.status();
    // No tokenizer files, or a kind kite cannot read: the weights can still be converted.
    if (s.code() == StatusCode::kNotFound || s.code() == StatusCode::kUnsupported) {
      return Status(s.code(), s.message() + "; pass --no-tokenizer to convert the weights without a tokenizer");
    }
    return s;
  }
  *out = std::move(spec).value();
  // Every id the tokenizer produces must index the embedding table.
  if (out->vocab.size() > config.vocab_size) {
    return InvalidArgument(dir + ": the tokenizer has " + std::to_string(out->vocab.size()) +
                           " tokens but config.json's vocab_size is " + std::to_string(config.vocab_size));
  }
  return Status::Ok();
}

// Renaming the artifact over a file of the checkpoint would destroy the input.
Status CheckOutputIsNotAnInput(const std::string& dir, const std::string& output) {
  std::error_code ec;
  if (!std::filesystem::exists(output, ec)) return Status::Ok();
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (std::filesystem::equivalent(entry.path(), output, ec)) {
      return InvalidArgument(output + " is a file of the checkpoint being converted; choose another output path");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ConversionReport> ConvertCheckpoint(const ConvertOptions& options, const ConvertProgressFn& progress) {
  ConversionReport report;
  report.output_path = options.output_path;
  report.scheme = options.scheme;
  auto warn = [&](const std::string& message) {
    report.warnings.push_back(message);
    if (progress) {
      ConvertEvent e;
      e.kind = ConvertEvent::Kind::kWarning;
      e.message = message;
      progress(e);
    }
  };
  const std::string& dir = options.input_dir;
  if (options.output_path.empty()) return InvalidArgument("no output path given");

  // 1. Everything is read and checked before anything is written.
  KITE_ASSIGN_OR_RETURN(QuantPolicy policy, QuantPolicy::Create(options.scheme, options.group_size, options.overrides));
  KITE_ASSIGN_OR_RETURN(ModelConfig config, LoadHfConfig(dir));
  KITE_RETURN_IF_ERROR(CheckOutputIsNotAnInput(dir, options.output_path));
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCheckpoint> checkpoint, SafetensorsCheckpoint::OpenDir(dir));
  std::vector<std::string> tensor_warnings;
  std::vector<ExpectedTensor> plan;
  KITE_RETURN_IF_ERROR(CheckCheckpointTensors(config, *checkpoint, &tensor_warnings, &plan));
  for (const std::string& w : tensor_warnings) warn(w);

  ArtifactMetadata metadata;
  metadata.producer = kConverterProducer;
  if (options.include_tokenizer) {
    KITE_RETURN_IF_ERROR(LoadTokenizer(dir, config, &metadata.tokenizer));
    metadata.has_tokenizer = true;
  }
  std::vector<std::string> template_warnings;
  KITE_RETURN_IF_ERROR(LoadChatTemplate(dir, &metadata.chat_template, &template_warnings));
  for (const std::string& w : template_warnings) warn(w);
  KITE_RETURN_IF_ERROR(LoadGenerationConfig(dir, &metadata.generation, &config));
  metadata.config = config;

  std::vector<TensorSpec> specs;
  bool any_q4 = false;
  for (const ExpectedTensor& e : plan) {
    specs.push_back(policy.Choose(e.name, e.shape));
    any_q4 = any_q4 || specs.back().dtype == DType::kQ4;
  }
  for (const std::string& unused : policy.UnusedOverrides()) {
    warn("override '" + unused + "' matches no 2-D tensor of this model");
  }
  report.group_size = any_q4 ? policy.group_size() : 0;
  metadata.quantization.scheme = QuantSchemeName(options.scheme);
  metadata.quantization.group_size = static_cast<uint32_t>(report.group_size);

  // 2. Stream the weights. The writer removes its temporary file on any failure.
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<ArtifactWriter> writer,
                        ArtifactWriter::Create(options.output_path, metadata, specs));
  uint64_t bytes_total = 0;
  for (size_t i = 0; i < specs.size(); ++i) bytes_total += writer->sizes(i).data_bytes + writer->sizes(i).scales_bytes;
  uint64_t bytes_done = 0;
  report.tensors.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const SourceTensor& source = *checkpoint->Find(plan[i].source);
    report.tensors.emplace_back();
    TensorReport& t = report.tensors.back();
    t.name = specs[i].name;
    t.shape = specs[i].shape;
    t.dtype = specs[i].dtype;
    t.group_size = specs[i].group_size;
    // A fused source (GPT-2's c_attn) feeds several tensors: count each its share.
    int64_t elements = 1;
    for (int64_t d : t.shape) elements *= d;
    t.source_bytes = source.elements() > 0 ? source.bytes / static_cast<uint64_t>(source.elements()) * elements : 0;
    t.bytes = writer->sizes(i).data_bytes + writer->sizes(i).scales_bytes;
    ConvertEvent event;
    event.tensor_index = i;
    event.num_tensors = specs.size();
    event.tensor = &t;
    event.bytes_total = bytes_total;
    auto on_bytes = [&](uint64_t n) {
      bytes_done += n;
      if (!progress) return;
      event.kind = ConvertEvent::Kind::kTensorProgress;
      event.bytes_done = bytes_done;
      progress(event);
    };
    KITE_RETURN_IF_ERROR(EncodeTensor(source, specs[i], writer.get(), &t.error, on_bytes, plan[i].layout, plan[i].offset));
    report.total_error.Add(t.error);
    report.source_bytes += t.source_bytes;
    if (progress) {
      event.kind = ConvertEvent::Kind::kTensorDone;
      event.bytes_done = bytes_done;
      progress(event);
    }
  }
  writer->metadata().quantization.relative_rms_error = static_cast<float>(report.total_error.relative_rms());
  KITE_RETURN_IF_ERROR(writer->Finish());

  report.config = config;
  report.output_bytes = writer->file_bytes();
  report.has_tokenizer = metadata.has_tokenizer;
  report.has_chat_template = !metadata.chat_template.source.empty();
  return report;
}

}  // namespace kite
