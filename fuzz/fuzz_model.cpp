// libFuzzer target: model description text -> parse_model + build_network on 1x28x28 and 3x32x32
// (layer fields, shapes, oneDNN primitive creation). Seeds: fuzz/corpus/model (models/*.json).
#include <cstdint>
#include <string>

#include "core/file.hpp"
#include "model/model_desc.hpp"
#include "model/network.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean([&] {
    auto j = sgdbench::parse_json(text, "fuzz_model.json", sgdbench::ErrorKind::Model);
    auto desc = sgdbench::parse_model(j, "fuzz_model.json", "", "fuzz");
    for (auto shape : {sgdbench::Shape({1, 28, 28}), sgdbench::Shape({3, 32, 32})})
      fuzz::expect_clean([&] { sgdbench::build_network(desc, shape, 10); });
  });
  return 0;
}
