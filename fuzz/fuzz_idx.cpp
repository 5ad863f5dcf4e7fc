// libFuzzer target: bytes -> an IDX file (MNIST format, raw or gzip: the reader sniffs) read as
// images (rank 3) and as labels (rank 1). Seeds: fuzz/corpus/idx (small valid files, raw and gz).
#include <cstdint>

#include "data/dataset.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fuzz::write_file("input.idx", data, size);
  fuzz::expect_clean([&] { sgdbench::read_idx(path, 3); });
  fuzz::expect_clean([&] { sgdbench::read_idx(path, 1); });
  fuzz::expect_clean([&] { sgdbench::read_idx_dims(path, 3); });
  return 0;
}
