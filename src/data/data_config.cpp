// The data sets' declarations (names, fields, ranges, docs), the spec's data config read from
// and written to JSON, default locations, and the shape probe that reads a data set's image
// shape from its files. Not: loading (dataset.cpp, idx.cpp, cifar10.cpp, synthetic.cpp).
#include <map>

#include "core/bind.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"

namespace sgdbench {

namespace {

using B = Bound<DataConfig>;
using C = DataConfig;
constexpr double kMaxSamples = 1e8;
constexpr double kMaxSeed = 9007199254740991.0;  // 2^53 - 1: exact in JSON readers everywhere

Bindings<C> common_fields(bool has_dir) {
  Bindings<C> f;
  if (has_dir)
    f.push_back({FieldDecl::text("dir", "", "directory of the data files (\"\" = the data set's default location)"),
                 &C::dir});
  Bindings<C> rest{
      {FieldDecl::word("preprocess", "scale", {"scale", "standardize"},
                       "scale: x/255; standardize: per-channel mean/std of the train split"),
       &C::preprocess},
      {FieldDecl::integer("validation", 0, 0, kMaxSamples, "samples held out of train (seeded), 0 = none"),
       &C::validation},
      {FieldDecl::integer("limit", 0, 0, kMaxSamples, "train samples kept after the validation split (0 = all)"),
       &C::limit},
      {FieldDecl::integer("test_limit", 0, 0, kMaxSamples, "test samples kept, the first N (0 = all)"),
       &C::test_limit},
      {FieldDecl::word("limit_mode", "first", {"first", "stratified"},
                       "first: the first N; stratified: a seeded equal share per class"),
       &C::limit_mode},
      {FieldDecl::integer("seed", 0, 0, kMaxSeed, "seed of the validation split and the stratified limit"),
       &C::seed}};
  f.insert(f.end(), rest.begin(), rest.end());
  return f;
}

struct DataDecl {
  KindDecl decl;
  Bindings<C> fields;
  std::optional<DataInfo> (*probe)(const C&);
};

std::optional<DataInfo> probe_idx(const C& c) {
  static std::map<std::string, std::vector<int64_t>> cache;  // per directory: specs repeat it per run
  const std::string dir = c.dir.empty() ? default_data_dir(c.name) : c.dir;
  auto it = cache.find(dir);
  if (it == cache.end()) {
    try {
      it = cache.emplace(dir, read_idx_dims(mnist_file(dir, "train-images-idx3-ubyte"), 3)).first;
    } catch (const Error&) {
      return std::nullopt;  // load_dataset names the problem when the run starts
    }
  }
  return DataInfo{Shape{1, it->second[1], it->second[2]}, 10};
}

// The CIFAR-10 binary format fixes the shape: 1 label byte + 3x32x32 pixel bytes per record.
std::optional<DataInfo> probe_cifar(const C&) { return DataInfo{Shape{3, 32, 32}, 10}; }

std::optional<DataInfo> probe_synthetic(const C& c) { return DataInfo{c.synthetic_shape, c.synthetic_classes}; }

const std::vector<DataDecl>& dataset_table() {
  auto make = [](std::string name, std::string display, std::string doc, Bindings<C> f,
                 std::optional<DataInfo> (*probe)(const C&)) {
    KindDecl k = kind_decl<C>(std::move(name), std::move(display), std::move(doc), f);
    return DataDecl{std::move(k), std::move(f), probe};
  };
  Bindings<C> synthetic = common_fields(false);
  synthetic.push_back(nested<C>(
      "synthetic", "the generated data",
      {{FieldDecl::integer("train", 2000, 1, 1e7, "train samples"), &C::synthetic_train},
       {FieldDecl::integer("test", 500, 1, 1e7, "test samples"), &C::synthetic_test},
       {FieldDecl::integer("classes", 10, 2, 1000, "classes"), &C::synthetic_classes},
       {FieldDecl::list("shape", nlohmann::json::array({1, 28, 28}), true, 3, 1, 4096, "image shape [C, H, W]"),
        &C::synthetic_shape},
       {FieldDecl::number("noise", 0.5, 0, 1e3, "noise std relative to the class pattern's contrast"),
        &C::synthetic_noise},
       {FieldDecl::integer("seed", 1, 0, kMaxSeed, "fixes the data itself (independent of the run seed)"),
        &C::synthetic_seed}}));
  static const std::vector<DataDecl> t{
      make("fashion-mnist", "Fashion-MNIST",
           "Zalando's 28x28 clothing images, 60k train + 10k test (Debian's dataset-fashion-mnist by default)",
           common_fields(true), probe_idx),
      make("mnist", "MNIST", "handwritten digits in IDX files (.gz or raw) from a directory you name",
           common_fields(true), probe_idx),
      make("cifar10", "CIFAR-10", "32x32 colour images, the binary version's batches from a directory you name",
           common_fields(true), probe_cifar),
      make("synthetic", "synthetic", "generated class patterns plus noise, for tests and quick checks", synthetic,
           probe_synthetic),
  };
  return t;
}

const DataDecl* find_dataset(const std::string& name) { return find_by_name(dataset_table(), name); }

}  // namespace

const std::vector<KindDecl>& dataset_decls() {
  static const std::vector<KindDecl> d = decls_of(dataset_table());
  return d;
}

const std::vector<std::string>& known_datasets() {
  static const std::vector<std::string> n = kind_names(dataset_decls());
  return n;
}

std::string default_data_dir(const std::string& name) {
  if (name == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";  // Debian's dataset-fashion-mnist
  return "";
}

DataConfig DataConfig::from_json(const nlohmann::json& j, const std::string& where, const std::string& path,
                                 const PathNamer& shown) {
  DataConfig c;
  read_named(c, &C::name, j, dataset_decls(), [](const std::string& n) -> const Bindings<C>& {
    return find_dataset(n)->fields;
  }, "data set", where, path, shown);
  return c;
}

nlohmann::json DataConfig::to_json() const {
  nlohmann::json j = {{"name", name}};
  const DataDecl* d = find_dataset(name);
  if (!d) return j;
  j.update(write_bound(*this, d->fields));
  if (j.contains("dir") && dir.empty()) j["dir"] = default_data_dir(name);  // where it was read from
  return j;
}

std::optional<DataInfo> probe_dataset(const DataConfig& cfg) {
  const DataDecl* d = find_dataset(cfg.name);
  return d ? d->probe(cfg) : std::nullopt;
}

}  // namespace sgdbench
