// The layer kind declarations (see registry.hpp). Adding a layer: its files in src/layers/, a
// reference in src/reference/, one entry here, a twin in tools/torch_models.py.
#include "layers/registry.hpp"

#include "layers/avg_pool2d.hpp"
#include "layers/batch_norm.hpp"
#include "layers/conv2d.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/flatten.hpp"
#include "layers/global_avg_pool.hpp"
#include "layers/max_pool2d.hpp"
#include "layers/relu.hpp"

namespace sgdbench {

using json = nlohmann::json;
using F = FieldDecl;

namespace {
constexpr double kMaxUnits = 1 << 20, kMaxKernel = 1 << 12;

int64_t i64(const json& f, const char* k) { return f.at(k).get<int64_t>(); }

// conv "padding": an integer, "valid" (0) or "same" (stride 1 and an odd kernel: (k-1)/2).
int64_t conv_padding(const json& f) {
  const json& p = f.at("padding");
  if (p.is_number()) return p.get<int64_t>();
  if (p.get<std::string>() == "valid") return 0;
  int64_t k = i64(f, "kernel");
  SGD_CHECK(i64(f, "stride") == 1 && k % 2 == 1, Model,
            "padding \"same\" needs stride 1 and an odd kernel (got stride ", i64(f, "stride"), ", kernel ", k, ")");
  return (k - 1) / 2;
}
}  // namespace

const std::vector<LayerKind>& layer_kinds() {
  static const std::vector<LayerKind> kinds = {
      {{"conv",
        "2-D convolution (cross-correlation) over a CxHxW image, square kernel; PyTorch nn.Conv2d",
        {F::integer("out", nullptr, 1, kMaxUnits, "output channels"),
         F::integer("kernel", nullptr, 1, kMaxKernel, "kernel size (square)"),
         F::integer("stride", 1, 1, kMaxKernel, "stride"),
         F::int_or_word("padding", 0, 0, kMaxKernel, {"same", "valid"},
                        "zero padding on each side; \"same\" keeps H and W (stride 1, odd kernel)"),
         F::boolean("bias", true, "learnable bias per output channel")}},
       [](const std::string& name, const json& f, int64_t) -> std::unique_ptr<Layer> {
         return std::make_unique<Conv2d>(name, i64(f, "out"), i64(f, "kernel"), i64(f, "stride"), conv_padding(f),
                                         f.at("bias").get<bool>());
       }},
      {{"dense",
        "fully connected layer y = Wx + b on a vector (put a flatten after images); PyTorch nn.Linear",
        {F::int_or_word("out", nullptr, 1, kMaxUnits, {"classes"}, "output features; \"classes\": the data set's"),
         F::boolean("bias", true, "learnable bias")}},
       [](const std::string& name, const json& f, int64_t classes) -> std::unique_ptr<Layer> {
         int64_t out = f.at("out").is_string() ? classes : i64(f, "out");
         return std::make_unique<Dense>(name, out, f.at("bias").get<bool>());
       }},
      {{"relu", "rectified linear unit max(x, 0), any shape", {}},
       [](const std::string& name, const json&, int64_t) -> std::unique_ptr<Layer> {
         return std::make_unique<Relu>(name);
       }},
      {{"max_pool",
        "max pooling over square windows of a CxHxW image, no padding, floor output size; nn.MaxPool2d",
        {F::integer("kernel", nullptr, 1, kMaxKernel, "window size (square)"),
         F::integer("stride", 0, 0, kMaxKernel, "stride (0: the window size)")}},
       [](const std::string& name, const json& f, int64_t) -> std::unique_ptr<Layer> {
         return std::make_unique<MaxPool2d>(name, i64(f, "kernel"), i64(f, "stride"));
       }},
      {{"avg_pool",
        "average pooling over square windows, zero padding counted (PyTorch nn.AvgPool2d default), floor "
        "output size",
        {F::integer("kernel", nullptr, 1, kMaxKernel, "window size (square)"),
         F::integer("stride", 0, 0, kMaxKernel, "stride (0: the window size)"),
         F::integer("padding", 0, 0, kMaxKernel, "zero padding on each side (at most half the window)")}},
       [](const std::string& name, const json& f, int64_t) -> std::unique_ptr<Layer> {
         return std::make_unique<AvgPool2d>(name, i64(f, "kernel"), i64(f, "stride"), i64(f, "padding"));
       }},
      {{"global_avg_pool", "mean over H and W per channel: CxHxW -> Cx1x1 (follow it by a flatten)", {}},
       [](const std::string& name, const json&, int64_t) -> std::unique_ptr<Layer> {
         return std::make_unique<GlobalAvgPool>(name);
       }},
      {{"batch_norm",
        "batch normalisation over channels (CxHxW input, nn.BatchNorm2d) or features (vector input, "
        "nn.BatchNorm1d): batch statistics in training, running statistics in evaluation; learnable "
        "gamma (1) and beta (0), not weight-decayed by default",
        {F::number("momentum", 0.1, 0, 1, "running statistics: r = (1 - momentum) r + momentum batch_stat"),
         F::number("eps", 1e-5, 0, 1, "added to the variance", true)}},
       [](const std::string& name, const json& f, int64_t) -> std::unique_ptr<Layer> {
         return std::make_unique<BatchNorm>(name, f.at("momentum").get<double>(), f.at("eps").get<double>());
       }},
      {{"dropout",
        "inverted dropout: in training zeroes each element with probability rate, scales the rest by "
        "1/(1-rate); identity in evaluation",
        {F::number("rate", 0.5, 0, 1, "probability of dropping an element", false, true)}},
       [](const std::string& name, const json& f, int64_t) -> std::unique_ptr<Layer> {
         return std::make_unique<Dropout>(name, f.at("rate").get<double>());
       }},
      {{"flatten", "C,H,W into one vector in PyTorch's C,H,W order (moves no data)", {}},
       [](const std::string& name, const json&, int64_t) -> std::unique_ptr<Layer> {
         return std::make_unique<Flatten>(name);
       }},
  };
  return kinds;
}

const LayerKind* find_layer_kind(const std::string& name) {
  for (auto& k : layer_kinds())
    if (k.decl.name == name) return &k;
  return nullptr;
}

std::vector<std::string> layer_kind_names() {
  std::vector<std::string> n;
  for (auto& k : layer_kinds()) n.push_back(k.decl.name);
  return n;
}

}  // namespace sgdbench
