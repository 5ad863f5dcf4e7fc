// libFuzzer target: bytes -> every CIFAR-10 binary batch of a directory (data_batch_1..5.bin,
// test_batch.bin), read with read_cifar10_dir. Seeds: fuzz/corpus/cifar (records of 3073 bytes).
#include <cstdint>
#include <string>

#include "data/dataset.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (const char* f : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                        "data_batch_5.bin", "test_batch.bin"})
    fuzz::write_file(f, data, size);
  fuzz::expect_clean([&] {
    sgdbench::Dataset ds;
    sgdbench::read_cifar10_dir(fuzz::scratch(), ds);
  });
  return 0;
}
