// libFuzzer target: experiment spec text -> parse_json + parse_spec (field checks, grid expansion,
// model and shape validation). Seeds: fuzz/corpus/spec (the shipped experiments/ and small specs).
#include <cstdint>
#include <string>

#include "core/file.hpp"
#include "exp/spec.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_clean([&] {
    auto j = sgdbench::parse_json(text, "fuzz.json", sgdbench::ErrorKind::Spec);
    sgdbench::parse_spec(j, fuzz::scratch() + "/fuzz.json");
  });
  return 0;
}
