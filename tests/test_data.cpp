// Data sets: IDX (raw and gzip) and CIFAR-10 readers on small files made here, every kind of bad
// file, synthetic data, splits, preprocessing and the batcher's seeded order.
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.hpp"
#include "data/batcher.hpp"
#include "data/dataset.hpp"
#include "helpers.hpp"

using namespace sgdbench;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path =
        fs::temp_directory_path() / ("sgdbench_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& f) const { return (path / f).string(); }
};

std::vector<uint8_t> idx_bytes(std::vector<uint32_t> dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b{0, 0, 8, uint8_t(dims.size())};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes, bool gz = false) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f);
    if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// Writes a tiny MNIST-format directory: n_train/n_test images of h x w, labels i % 10.
void write_mnist(const TempDir& d, int n_train, int n_test, int h, int w, bool gz) {
  auto images = [&](int n) {
    std::vector<uint8_t> v(size_t(n * h * w));
    for (size_t i = 0; i < v.size(); ++i) v[i] = uint8_t((i * 7) % 256);
    return idx_bytes({uint32_t(n), uint32_t(h), uint32_t(w)}, v);
  };
  auto labels = [&](int n) {
    std::vector<uint8_t> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v[size_t(i)] = uint8_t(i % 10);
    return idx_bytes({uint32_t(n)}, v);
  };
  std::string ext = gz ? ".gz" : "";
  write_file(d / ("train-images-idx3-ubyte" + ext), images(n_train), gz);
  write_file(d / ("train-labels-idx1-ubyte" + ext), labels(n_train), gz);
  write_file(d / ("t10k-images-idx3-ubyte" + ext), images(n_test), gz);
  write_file(d / ("t10k-labels-idx1-ubyte" + ext), labels(n_test), gz);
}

// Runs f, requires an Error(Data) whose message contains every needle.
template <class F>
void require_data_error(F f, std::vector<std::string> needles) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Data);
    for (auto& n : needles) CHECK_THAT(e.what(), Catch::Matchers::Contains(n));
    return;
  }
  FAIL("expected a data error containing " << needles[0]);
}

// Loads data set `name` from `dir`.
Dataset load_from(const std::string& name, const std::string& dir) {
  DataConfig c;
  c.name = name;
  c.dir = dir;
  return load_dataset(c);
}
Dataset load_mnist_dir(const std::string& dir) { return load_from("mnist", dir); }

}  // namespace

TEST_CASE("IDX directory loads from raw and gzip files", "[data][idx]") {
  const bool gz = GENERATE(false, true);
  TempDir d;
  write_mnist(d, 30, 12, 5, 4, gz);
  auto ds = load_mnist_dir(d.path.string());
  CHECK(ds.shape == Shape{1, 5, 4});
  CHECK(ds.classes == 10);
  REQUIRE(ds.train.size() == 30);
  REQUIRE(ds.test.size() == 12);
  CHECK(ds.train.labels[13] == 3);
  CHECK(ds.train.images[41] == uint8_t((41 * 7) % 256));
  CHECK(ds.checksum.size() == 16);
}

TEST_CASE("bad IDX files are clear data errors", "[data][idx][bad]") {
  TempDir d;
  write_mnist(d, 20, 10, 4, 4, false);
  const std::string img = d / "train-images-idx3-ubyte", lab = d / "train-labels-idx1-ubyte";
  auto good_img = read_bytes(img);
  auto good_lab = read_bytes(lab);
  auto load = [&] { load_mnist_dir(d.path.string()); };

  SECTION("missing file") {
    fs::remove(lab);
    require_data_error(load, {"train-labels-idx1-ubyte", "not found"});
  }
  SECTION("wrong magic number") {
    auto b = good_img;
    b[2] = 0x09;
    write_file(img, b);
    require_data_error(load, {img, "wrong magic number"});
  }
  SECTION("header dimensions disagree with the file size (too long)") {
    auto b = good_img;
    b.push_back(1);
    write_file(img, b);
    require_data_error(load, {img, "disagree with the file size"});
  }
  SECTION("truncated at every offset, raw and gzip") {
    for (bool gz : {false, true}) {
      if (gz) fs::remove(img);
      std::string path = gz ? img + ".gz" : img;
      for (size_t cut = 1; cut < good_img.size(); cut += (cut < 24 ? 1 : 37)) {
        write_file(path, std::vector<uint8_t>(good_img.begin(), good_img.begin() + int64_t(cut)), gz);
        CAPTURE(gz, cut);
        require_data_error(load, {path, "truncated"});
      }
      fs::remove(path);
    }
  }
  SECTION("corrupt gzip stream") {
    fs::remove(img);
    write_file(img + ".gz", good_img, true);
    auto b = read_bytes(img + ".gz");
    for (size_t i = 12; i < b.size() - 8; ++i) b[i] ^= 0x5A;  // garble the deflate data
    write_file(img + ".gz", b);
    require_data_error(load, {img + ".gz", "gzip"});
  }
  SECTION("gzip stream cut short") {
    fs::remove(img);
    write_file(img + ".gz", good_img, true);
    auto b = read_bytes(img + ".gz");
    b.resize(b.size() / 2);
    write_file(img + ".gz", b);
    require_data_error(load, {img + ".gz"});
  }
  SECTION("label out of range") {
    auto b = good_lab;
    b[8 + 5] = 10;
    write_file(lab, b);
    require_data_error(load, {lab, "label 10 at index 5 is out of range"});
  }
  SECTION("image count differs from label count") {
    std::vector<uint8_t> l(19, 1);
    write_file(lab, idx_bytes({19}, l));
    require_data_error(load, {"19 labels", "20 images"});
  }
  SECTION("empty file") {
    write_file(img, {});
    require_data_error(load, {img, "empty file"});
  }
  SECTION("the directory is a file") {
    require_data_error([&] { load_mnist_dir(img); }, {img, "is a file"});
  }
  SECTION("a file is a directory") {
    fs::remove(lab);
    fs::create_directory(lab);
    require_data_error(load, {lab, "is a directory"});
  }
  SECTION("implausible header dimension") {
    auto b = good_img;
    b[4] = 0x7f;  // 2 billion images
    write_file(img, b);
    require_data_error(load, {img});
  }
}

namespace {
void write_cifar(const TempDir& d, int per_batch, int bad_label_at = -1) {
  auto batch = [&](int seed) {
    std::vector<uint8_t> b;
    for (int i = 0; i < per_batch; ++i) {
      b.push_back(uint8_t(i == bad_label_at ? 10 : (i + seed) % 10));
      for (int j = 0; j < 3072; ++j) b.push_back(uint8_t((i * 3 + j + seed) % 251));
    }
    return b;
  };
  for (int k = 1; k <= 5; ++k) write_file(d / ("data_batch_" + std::to_string(k) + ".bin"), batch(k));
  write_file(d / "test_batch.bin", batch(0));
}
Dataset load_cifar(const std::string& dir) { return load_from("cifar10", dir); }
}  // namespace

TEST_CASE("CIFAR-10 binary batches load, bad ones are clear errors", "[data][cifar]") {
  TempDir d;
  write_cifar(d, 4);
  auto ds = load_cifar(d.path.string());
  CHECK(ds.shape == Shape{3, 32, 32});
  CHECK(ds.train.size() == 20);
  CHECK(ds.test.size() == 4);
  CHECK(ds.train.labels[4] == 2);  // batch 2, record 0
  CHECK(ds.train.images[3072 * 5 + 7] == uint8_t((3 + 7 + 2) % 251));

  SECTION("missing directory names the files and the archive") {
    require_data_error([&] { load_cifar(d / "nope"); },
                       {"data_batch_1.bin", "test_batch.bin", "cifar-10-binary.tar.gz"});
  }
  SECTION("missing batch") {
    fs::remove(d / "data_batch_3.bin");
    require_data_error([&] { load_cifar(d.path.string()); }, {"data_batch_3.bin", "not found"});
  }
  SECTION("truncated batch") {
    auto b = read_bytes(d / "data_batch_2.bin");
    for (size_t cut : {size_t(1), size_t(3000), b.size() - 1}) {
      write_file(d / "data_batch_2.bin", std::vector<uint8_t>(b.begin(), b.begin() + int64_t(cut)));
      require_data_error([&] { load_cifar(d.path.string()); }, {"data_batch_2.bin", "3073"});
    }
  }
  SECTION("label out of range") {
    write_cifar(d, 4, 2);
    require_data_error([&] { load_cifar(d.path.string()); }, {"data_batch_1.bin", "record 2 has label 10"});
  }
  SECTION("empty batch") {
    write_file(d / "test_batch.bin", {});
    require_data_error([&] { load_cifar(d.path.string()); }, {"test_batch.bin", "empty"});
  }
  SECTION("no directory given") {
    require_data_error([&] { load_cifar(""); }, {"no directory given"});
  }
}

TEST_CASE("synthetic data: seeded, balanced, any shape", "[data][synthetic]") {
  DataConfig c;
  c.name = "synthetic";
  c.synthetic_shape = Shape{3, 8, 6};
  c.synthetic_train = 100;
  c.synthetic_test = 30;
  c.synthetic_classes = 4;
  auto a = load_dataset(c), b = load_dataset(c);
  CHECK(a.shape == c.synthetic_shape);
  CHECK(a.train.images == b.train.images);
  CHECK(a.checksum == b.checksum);
  CHECK(std::count(a.train.labels.begin(), a.train.labels.end(), 3) == 25);
  c.synthetic_seed = 2;
  CHECK(load_dataset(c).checksum != a.checksum);
  c.synthetic_shape = Shape{0, 8, 8};
  require_data_error([&] { load_dataset(c); }, {"synthetic"});
}

TEST_CASE("validation split, limits and preprocessing", "[data][split]") {
  DataConfig c;
  c.name = "synthetic";
  c.synthetic_train = 200;
  c.synthetic_classes = 5;
  c.synthetic_shape = Shape{2, 4, 4};
  c.validation = 50;
  c.seed = 9;
  auto ds = load_dataset(c);
  CHECK(ds.train.size() == 150);
  CHECK(ds.validation.size() == 50);
  auto again = load_dataset(c);
  CHECK(again.validation.images == ds.validation.images);
  c.seed = 10;
  CHECK(load_dataset(c).validation.images != ds.validation.images);

  c.validation = 0;
  c.limit = 23;
  c.limit_mode = "stratified";
  auto st = load_dataset(c);
  REQUIRE(st.train.size() == 23);
  for (int k = 0; k < 5; ++k) {
    auto cnt = std::count(st.train.labels.begin(), st.train.labels.end(), k);
    CHECK(cnt == (k < 3 ? 5 : 4));
  }
  c.limit_mode = "first";
  CHECK(load_dataset(c).train.labels ==
        std::vector<int32_t>({0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2}));
  c.limit_mode = "sorted";
  require_data_error([&] { load_dataset(c); }, {"limit_mode"});

  c.limit = 0;
  c.limit_mode = "first";
  c.preprocess = "standardize";
  auto sd = load_dataset(c);
  REQUIRE(sd.pre.mean.size() == 2);
  // After preprocessing, each channel of the train split has mean 0 and std 1.
  std::vector<float> x(size_t(sd.train.size() * 32));
  std::vector<int32_t> y(size_t(sd.train.size()));
  std::vector<int64_t> idx(size_t(sd.train.size()));
  std::iota(idx.begin(), idx.end(), 0);
  Batcher::gather(sd.train, 32, sd.pre, idx.data(), sd.train.size(), x.data(), y.data());
  for (int ch = 0; ch < 2; ++ch) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < sd.train.size(); ++i)
      for (int j = 0; j < 16; ++j) {
        double v = x[size_t(i * 32 + ch * 16 + j)];
        s += v;
        s2 += v * v;
      }
    double n = double(sd.train.size() * 16);
    CHECK(std::fabs(s / n) < 1e-4);
    CHECK(std::fabs(s2 / n - 1) < 1e-3);
  }
  c.preprocess = "whiten";
  require_data_error([&] { load_dataset(c); }, {"unknown preprocess 'whiten'"});
}

TEST_CASE("batcher: seeded order per epoch, every sample once, last partial batch kept", "[data][batcher]") {
  DataConfig c;
  c.name = "synthetic";
  c.synthetic_train = 103;
  c.synthetic_shape = Shape{1, 2, 2};
  auto ds = load_dataset(c);
  auto epoch_order = [&](uint64_t seed, int64_t epoch) {
    Batcher b(ds.train, ds.shape, ds.pre, 10, true, seed);
    b.start_epoch(epoch);
    return b.order();
  };
  CHECK(epoch_order(1, 3) == epoch_order(1, 3));
  CHECK(epoch_order(1, 3) != epoch_order(1, 4));
  CHECK(epoch_order(1, 3) != epoch_order(2, 3));

  Batcher b(ds.train, ds.shape, ds.pre, 10, true, 5);
  CHECK(b.batches_per_epoch() == 11);
  std::vector<float> x(40);
  std::vector<int32_t> y(10);
  std::multiset<float> seen_first_pixel;
  std::vector<int64_t> sizes;
  b.start_epoch(0);
  while (int64_t n = b.next(x.data(), y.data())) sizes.push_back(n);
  CHECK(sizes.size() == 11);
  CHECK(sizes.back() == 3);
  std::vector<int64_t> sorted = b.order();
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) CHECK(sorted[i] == int64_t(i));
  // The batch holds exactly the samples of the order, preprocessed (x/255).
  b.start_epoch(1);
  b.next(x.data(), y.data());
  for (int i = 0; i < 10; ++i) {
    int64_t s = b.order()[size_t(i)];
    CHECK(y[size_t(i)] == ds.train.labels[size_t(s)]);
    CHECK(x[size_t(i * 4 + 2)] == Approx(ds.train.images[size_t(s * 4 + 2)] / 255.0f));
  }
  Batcher drop(ds.train, ds.shape, ds.pre, 10, false, 5, true);
  CHECK(drop.batches_per_epoch() == 10);
  int64_t total = 0;
  while (int64_t n = drop.next(x.data(), y.data())) total += n;
  CHECK(total == 100);
}

// next() asks for the following batch's images ahead (this rank's slice, its first 256 KiB) and
// gathers a batch it asked for on one thread below 1M elements: neither may change what lands
// where. Oracle: each sample of the epoch's order, converted by hand, for every batch of every
// rank's slice; batches of 300 KB (over the 256 KiB cap: a sample prefetched in part) and of
// 1.2M elements (over the serial limit).
TEST_CASE("next() gives every batch's samples, asked for ahead or not, for each rank's slice", "[data][batcher]") {
  DataConfig c;
  c.name = "synthetic";
  c.synthetic_train = 1000;
  c.synthetic_shape = Shape{3, 32, 32};
  auto ds = load_dataset(c);
  const int64_t P = ds.shape.numel(), HW = P / 3;
  for (int64_t batch : {100, 400}) {
    for (int parts : {1, 3}) {
      for (int part = 0; part < parts; ++part) {
        CAPTURE(batch, parts, part);
        Batcher b(ds.train, ds.shape, ds.pre, batch, true, 9);
        b.set_slice(part, parts);
        std::vector<float> x(static_cast<size_t>(batch * P));
        std::vector<int32_t> y(static_cast<size_t>(batch));
        int64_t bad = 0, pos = 0, batches = 0;
        for (int64_t epoch = 0; epoch < 2; ++epoch) {
          b.start_epoch(epoch);
          pos = 0;
          while (int64_t n = b.next(x.data(), y.data())) {
            const auto [lo, hi] = slice_of(n, part, parts);
            for (int64_t i = 0; i < hi - lo; ++i) {
              const int64_t s = b.order()[size_t(pos + lo + i)];
              bad += y[size_t(i)] != ds.train.labels[size_t(s)];
              for (int64_t j = 0; j < P; ++j)
                bad += x[size_t(i * P + j)] != float(ds.train.images[size_t(s * P + j)]) * ds.pre.scale[size_t(j / HW)] +
                                                   ds.pre.shift[size_t(j / HW)];
            }
            pos += n, ++batches;
          }
          CHECK(pos == 1000);
        }
        CHECK(batches == 2 * ((1000 + batch - 1) / batch));
        CHECK(bad == 0);
      }
    }
  }
}

TEST_CASE("gather: any batch size, serial or threaded, gives the samples asked for", "[data][batcher]") {
  // The gather loads all labels first, prefetches images two samples ahead, converts with AVX2
  // where the CPU has it, and from 16k elements on splits the batch over the threads: none of it
  // may change what lands where, or a single rounding (x * scale + shift, two roundings, no FMA).
  DataConfig c;
  c.name = "synthetic";
  c.synthetic_train = 97;
  c.synthetic_shape = Shape{3, 16, 16};
  c.preprocess = GENERATE("scale", "standardize");  // standardize: a shift per channel too
  auto ds = load_dataset(c);
  const int64_t P = ds.shape.numel(), HW = P / 3;
  for (int64_t n : {1, 2, 3, 30, 97}) {  // 97 x 768 elements: over the threaded threshold
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = (i * 37 + 5) % 97;  // scattered, as a shuffle
    if (n > 3) idx[1] = idx[0];                                        // and a repeat
    for (bool threads : {false, true}) {
      std::vector<float> x(size_t(n * P), -1.f);
      std::vector<int32_t> y(size_t(n), -1);
      Batcher::gather(ds.train, P, ds.pre, idx.data(), n, x.data(), y.data(), &ds.shape, {}, 0, 0, threads);
      int64_t bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t s = idx[size_t(i)];
        bad += y[size_t(i)] != ds.train.labels[size_t(s)];
        for (int64_t j = 0; j < P; ++j)
          bad += x[size_t(i * P + j)] != float(ds.train.images[size_t(s * P + j)]) * ds.pre.scale[size_t(j / HW)] +
                                             ds.pre.shift[size_t(j / HW)];
      }
      CAPTURE(n, threads);
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("gather: the AVX2 and SSE2 conversions give the same bytes", "[data][batcher]") {
  // Every uint8 value, odd lengths (vector tails), scales and shifts whose products round.
  std::vector<uint8_t> src(3 * 301);
  for (size_t i = 0; i < src.size(); ++i) src[i] = uint8_t(i * 7 + i / 256);
  const float scale[3] = {1.0f / 255.0f, 1.0f / (255.0f * 0.3081f), 0.0123456f};
  const float shift[3] = {0.0f, -0.1307f / 0.3081f, 1e-7f};
  CHECK(Batcher::convert_paths_agree(src.data(), 3, 301, scale, shift));
  CHECK(Batcher::convert_paths_agree(src.data(), 1, 7, scale + 1, shift + 1));
}

TEST_CASE("on_huge_pages keeps the bytes, small or large", "[data]") {
  for (size_t n : {size_t(0), size_t(1000), (size_t(9) << 20) + 3}) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 131 + (i >> 11));
    const auto copy = v;
    on_huge_pages(v);
    CAPTURE(n);
    CHECK(v == copy);
  }
}

TEST_CASE("installed Fashion-MNIST has its known sizes", "[data][fashion-mnist]") {
  if (!fs::exists(default_data_dir("fashion-mnist") + "/train-images-idx3-ubyte.gz")) {
    WARN("skipped: Debian's dataset-fashion-mnist is not installed (tools/setup.sh installs it)");
    return;
  }
  auto ds = load_dataset(DataConfig{});
  CHECK(ds.train.size() == 60000);
  CHECK(ds.test.size() == 10000);
  CHECK(ds.shape == Shape{1, 28, 28});
  CHECK(ds.classes == 10);
  for (int k = 0; k < 10; ++k) CHECK(std::count(ds.test.labels.begin(), ds.test.labels.end(), k) == 1000);
}

// Issue 13, class 6: a .gz whose 8-byte trailer (CRC-32 + ISIZE) is cut off, wholly or in part,
// is a data error naming the file; the data before it decodes completely, so only zlib's
// end-of-stream check can tell.
TEST_CASE("a gzip file with its trailer cut off is a data error", "[data][idx][bad]") {
  TempDir d;
  write_mnist(d, 20, 10, 4, 4, true);
  const std::string lab = d / "train-labels-idx1-ubyte.gz";
  auto good = read_bytes(lab);
  load_mnist_dir(d.path.string());  // intact: loads
  for (size_t cut : {1, 4, 8}) {
    INFO("bytes cut: " << cut);
    write_file(lab, std::vector<uint8_t>(good.begin(), good.end() - long(cut)));
    require_data_error([&] { load_mnist_dir(d.path.string()); }, {lab, "truncated gzip stream"});
  }
}
