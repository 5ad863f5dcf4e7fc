// load_dataset: reads a data set by name, then validation split, limits and preprocessing.
#include "data/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>

#include <sys/mman.h>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace sgdbench {

namespace {

uint64_t fnv1a(uint64_t h, const void* p, size_t n) {
  auto b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001B3ull;
  return h;
}

}  // namespace

void on_huge_pages(std::vector<uint8_t>& v) {
  constexpr size_t kHuge = size_t(2) << 20;
  if (v.size() < 2 * kHuge) return;
  // No copy where the kernel gives no transparent huge pages at all.
  if (FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r")) {
    char buf[128] = {};
    const size_t got = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    if (got > 0 && std::strstr(buf, "[never]")) return;
  }
  std::vector<uint8_t> h;
  h.reserve(v.size());  // allocated, not yet touched: the advice applies when the copy faults it in
  const uintptr_t lo = (uintptr_t(h.data()) + kHuge - 1) & ~uintptr_t(kHuge - 1);
  const uintptr_t hi = (uintptr_t(h.data()) + v.size()) & ~uintptr_t(kHuge - 1);
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);  // advice: failure is harmless
  h.assign(v.begin(), v.end());
  v.swap(h);
}

namespace {

Split take(const Split& s, const std::vector<int64_t>& idx, int64_t P) {
  Split o;
  o.labels.reserve(idx.size());
  o.images.resize(idx.size() * size_t(P));
  for (size_t i = 0; i < idx.size(); ++i) {
    o.labels.push_back(s.labels[size_t(idx[i])]);
    std::copy_n(s.images.begin() + idx[i] * P, P, o.images.begin() + int64_t(i) * P);
  }
  return o;
}

std::vector<int64_t> iota_n(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

void shuffle(std::vector<int64_t>& v, Rng& r) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(r.below(i))]);
}

}  // namespace

Dataset load_dataset(const DataConfig& cfg) {
  Dataset ds;
  ds.name = cfg.name;
  if (cfg.name == "fashion-mnist" || cfg.name == "mnist") {
    std::string dir = cfg.dir.empty() ? default_data_dir(cfg.name) : cfg.dir;
    if (dir.empty())
      SGD_THROW(Data, cfg.name,
                ": no directory given (--data-dir or the spec's data.dir); expected the four "
                "MNIST IDX files (train-images-idx3-ubyte.gz etc.) there");
    ds.classes = 10;
    ds.source = dir;
    // The default location is the Debian package's: say which package when it is absent.
    if (cfg.name == "fashion-mnist" && cfg.dir.empty() && !std::filesystem::is_directory(dir))
      SGD_THROW(Data, dir,
                ": Fashion-MNIST not found; install Debian's dataset-fashion-mnist "
                "(tools/setup.sh does) or point --data-dir at the IDX files");
    read_mnist_dir(dir, ds);
  } else if (cfg.name == "cifar10") {
    ds.classes = 10;
    ds.source = cfg.dir;
    read_cifar10_dir(cfg.dir, ds);
  } else if (cfg.name == "synthetic") {
    make_synthetic(cfg, ds);
  } else {
    SGD_THROW(Data, "unknown data set '", cfg.name, "' (known: fashion-mnist, mnist, cifar10, synthetic)");
  }
  const int64_t P = ds.shape.numel();
  uint64_t h = 0xCBF29CE484222325ull;
  for (const Split* s : {&ds.train, &ds.test}) {
    h = fnv1a(h, s->images.data(), s->images.size());
    h = fnv1a(h, s->labels.data(), s->labels.size() * sizeof(int32_t));
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
  ds.checksum = hex;

  // Validation split: a seeded random subset of train, both parts kept in file order.
  SGD_CHECK(cfg.validation >= 0 && cfg.validation < ds.train.size(), Data, cfg.name, ": validation size ",
            cfg.validation, " must be in [0, ", ds.train.size(), ")");
  if (cfg.validation > 0) {
    auto idx = iota_n(ds.train.size());
    Rng r(cfg.seed, RngPurpose::Split);
    shuffle(idx, r);
    std::vector<int64_t> val(idx.begin(), idx.begin() + cfg.validation), rest(idx.begin() + cfg.validation, idx.end());
    std::sort(val.begin(), val.end());
    std::sort(rest.begin(), rest.end());
    ds.validation = take(ds.train, val, P);
    ds.train = take(ds.train, rest, P);
  }
  SGD_CHECK(cfg.limit >= 0 && cfg.test_limit >= 0, Data, cfg.name, ": limits must be >= 0");
  if (cfg.limit > 0 && cfg.limit < ds.train.size()) {
    std::vector<int64_t> keep;
    if (cfg.limit_mode == "first") {
      keep = iota_n(cfg.limit);
    } else if (cfg.limit_mode == "stratified") {
      // Equal share per class (the first limit % classes classes get one more), seeded choice.
      std::vector<std::vector<int64_t>> by(size_t(ds.classes));
      for (int64_t i = 0; i < ds.train.size(); ++i) by[size_t(ds.train.labels[size_t(i)])].push_back(i);
      Rng r(cfg.seed, RngPurpose::Split, 1);
      for (int64_t k = 0; k < ds.classes; ++k) {
        auto& v = by[size_t(k)];
        shuffle(v, r);
        int64_t want = cfg.limit / ds.classes + (k < cfg.limit % ds.classes ? 1 : 0);
        keep.insert(keep.end(), v.begin(), v.begin() + std::min<int64_t>(want, int64_t(v.size())));
      }
      std::sort(keep.begin(), keep.end());
    } else {
      SGD_THROW(Data, cfg.name, ": unknown limit_mode '", cfg.limit_mode, "' (known: first, stratified)");
    }
    ds.train = take(ds.train, keep, P);
  }
  if (cfg.test_limit > 0 && cfg.test_limit < ds.test.size()) ds.test = take(ds.test, iota_n(cfg.test_limit), P);

  // Preprocessing, recorded in results.
  const int64_t C = ds.shape[0], HW = P / C;
  ds.pre.name = cfg.preprocess;
  if (cfg.preprocess == "scale") {
    ds.pre.scale.assign(size_t(C), float(1.0 / 255.0));
    ds.pre.shift.assign(size_t(C), 0.f);
  } else if (cfg.preprocess == "standardize") {
    for (int64_t c = 0; c < C; ++c) {
      double s = 0, s2 = 0;
      const double n = double(ds.train.size() * HW);
      for (int64_t i = 0; i < ds.train.size(); ++i)
        for (int64_t j = 0; j < HW; ++j) {
          double v = ds.train.images[size_t(i * P + c * HW + j)] / 255.0;
          s += v;
          s2 += v * v;
        }
      double mean = s / n, sd = std::sqrt(std::max(s2 / n - mean * mean, 1e-12));
      ds.pre.mean.push_back(mean);
      ds.pre.std.push_back(sd);
      ds.pre.scale.push_back(float(1.0 / (255.0 * sd)));
      ds.pre.shift.push_back(float(-mean / sd));
    }
  } else {
    SGD_THROW(Data, cfg.name, ": unknown preprocess '", cfg.preprocess, "' (known: scale, standardize)");
  }
  on_huge_pages(ds.train.images);  // the batcher reads it in shuffled order
  return ds;
}

}  // namespace sgdbench
