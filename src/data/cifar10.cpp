// CIFAR-10 binary version: data_batch_1..5.bin and test_batch.bin, records of 1 label byte and
// 3072 image bytes (3 x 32 x 32, channel-major: already NCHW).
#include <sys/stat.h>

#include <fstream>

#include "core/error.hpp"
#include "data/dataset.hpp"

namespace sgdbench {

namespace {
constexpr int64_t kImage = 3 * 32 * 32, kRecord = kImage + 1;
constexpr int64_t kMaxBatchBytes = int64_t(1) << 30;  // 1 GiB: read whole, so bounded

void read_batch(const std::string& path, Split& s) {
  require_regular_file(path, "CIFAR-10 batch");
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) SGD_THROW(Data, path, ": cannot open");
  int64_t size = int64_t(f.tellg());
  if (size > kMaxBatchBytes)
    SGD_THROW(Data, path, ": ", size, " bytes, more than the limit of ", kMaxBatchBytes,
              " for one batch file (a CIFAR-10 batch holds 10,000 records: 30,730,000 bytes)");
  if (size % kRecord != 0)
    SGD_THROW(Data, path, ": size ", size,
              " is not a multiple of the 3073-byte record (truncated or not CIFAR-10 binary)");
  f.seekg(0);
  std::vector<uint8_t> buf(static_cast<size_t>(size));
  if (!f.read(reinterpret_cast<char*>(buf.data()), size)) SGD_THROW(Data, path, ": read error");
  int64_t n = size / kRecord;
  size_t base = s.labels.size();
  s.labels.resize(base + size_t(n));
  s.images.resize((base + size_t(n)) * kImage);
  for (int64_t i = 0; i < n; ++i) {
    uint8_t label = buf[size_t(i * kRecord)];
    if (label >= 10) SGD_THROW(Data, path, ": record ", i, " has label ", int(label), ", out of range [0, 10)");
    s.labels[base + size_t(i)] = label;
    std::copy_n(buf.begin() + i * kRecord + 1, kImage, s.images.begin() + int64_t(base + size_t(i)) * kImage);
  }
}
}  // namespace

void read_cifar10_dir(const std::string& dir, Dataset& ds) {
  struct stat st {};
  const std::string expected =
      "expected data_batch_1.bin .. data_batch_5.bin and test_batch.bin (CIFAR-10 binary version, "
      "the cifar-10-binary.tar.gz archive, extracted) in " +
      dir;
  if (dir.empty()) SGD_THROW(Data, "cifar10: no directory given (--data-dir or the spec's data.dir); ", expected);
  if (stat(dir.c_str(), &st) != 0) SGD_THROW(Data, dir, ": data directory not found; ", expected);
  if (!S_ISDIR(st.st_mode)) SGD_THROW(Data, dir, ": is a file; ", expected);
  for (int b = 1; b <= 5; ++b) {
    std::string p = dir + "/data_batch_" + std::to_string(b) + ".bin";
    if (lstat(p.c_str(), &st) != 0) SGD_THROW(Data, p, ": not found; ", expected);
    read_batch(p, ds.train);
  }
  std::string t = dir + "/test_batch.bin";
  if (lstat(t.c_str(), &st) != 0) SGD_THROW(Data, t, ": not found; ", expected);
  read_batch(t, ds.test);
  ds.shape = Shape{3, 32, 32};
}

}  // namespace sgdbench
