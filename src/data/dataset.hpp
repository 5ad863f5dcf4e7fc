// Data sets in memory: images as uint8 (N x C x H x W, row-major), labels as int32, per split.
// Loading (idx.cpp, cifar10.cpp, synthetic.cpp), preprocessing and splits live here; batching
// is in batcher.hpp. Not: augmentation, streaming from disk.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/decl.hpp"

#include "core/shape.hpp"

namespace sgdbench {

struct Split {
  std::vector<uint8_t> images;  // n * shape.numel() bytes
  std::vector<int32_t> labels;  // n values in [0, classes)
  int64_t size() const { return int64_t(labels.size()); }
};

// Preprocessing x' = x * scale[c] + shift[c] per channel (applied while batching).
struct Preprocess {
  std::string name = "scale";  // scale: x/255; standardize: per-channel mean/std of the train split
  std::vector<float> scale, shift;
  std::vector<double> mean, std;  // of x/255 on the train split (standardize only)
};

struct DataConfig {
  std::string name = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | synthetic
  std::string dir;                     // empty: the data set's default location
  std::string preprocess = "scale";
  int64_t validation = 0;            // samples held out of train (seeded), 0 = none
  int64_t limit = 0;                 // train samples kept (0 = all), after the validation split
  int64_t test_limit = 0;            // test samples kept (0 = all; first N)
  std::string limit_mode = "first";  // first | stratified (seeded, equal share per class)
  uint64_t seed = 0;                 // for validation split and stratified limit
  // synthetic only
  int64_t synthetic_train = 2000, synthetic_test = 500, synthetic_classes = 10;
  Shape synthetic_shape{1, 28, 28};
  double synthetic_noise = 0.5;  // noise std relative to the class pattern's contrast
  uint64_t synthetic_seed = 1;   // fixes the data itself (independent of the run seed)

  // From a spec's {"name": ..., fields}, checked against the data set's declaration.
  static DataConfig from_json(const nlohmann::json& j, const std::string& where, const std::string& path,
                              const PathNamer& shown = {});
  nlohmann::json to_json() const;  // name + the declared fields of `name`, defaults filled
};

// One declaration per data set (name, display name, doc, fields), in the order the docs list them.
const std::vector<KindDecl>& dataset_decls();
const std::vector<std::string>& known_datasets();

// The image shape and class count of the data `cfg` names, from the data itself (the IDX
// header, the CIFAR-10 record format, the synthetic config) without loading it; nullopt when
// the files cannot be read yet (load_dataset reports that).
struct DataInfo {
  Shape shape;
  int64_t classes = 10;
};
std::optional<DataInfo> probe_dataset(const DataConfig& cfg);

struct Dataset {
  std::string name;
  std::string source;  // where it was read from ("synthetic" for generated data)
  Shape shape;         // C x H x W
  int64_t classes = 0;
  Split train, validation, test;
  Preprocess pre;
  // FNV-1a 64 over the train and test images and labels as read (before any split), hex.
  std::string checksum;
};

// Loads and prepares a data set per `cfg`; throws Error(Data) naming the file and the problem.
Dataset load_dataset(const DataConfig& cfg);

// Moves v's bytes into memory advised for transparent huge pages (when v spans a few 2 MiB pages):
// shuffled batches read samples from all over a data set, and with 4 KiB pages each sample costs
// a TLB miss. load_dataset does this for the train split. A hint: where the kernel gives no huge
// pages, nothing changes.
void on_huge_pages(std::vector<uint8_t>& v);

// Default directory searched for a data set ("" if it has none).
std::string default_data_dir(const std::string& name);

// Readers (exposed for tests). IDX: MNIST/Fashion-MNIST format, gzip or raw.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};
IdxArray read_idx(const std::string& path, int expected_rank);
std::vector<int64_t> read_idx_dims(const std::string& path, int expected_rank);  // the header only
// The path of an MNIST-format file (stem + ".gz" or raw) in dir; Error(Data) when absent.
std::string mnist_file(const std::string& dir, const std::string& stem);
// Reads the four IDX files of an MNIST-format directory into train/test.
void read_mnist_dir(const std::string& dir, Dataset& ds);
// Reads CIFAR-10 binary batches from dir.
void read_cifar10_dir(const std::string& dir, Dataset& ds);
void make_synthetic(const DataConfig& cfg, Dataset& ds);
// Throws Error(Data) unless path is an existing, non-empty regular file.
void require_regular_file(const std::string& path, const std::string& what);

}  // namespace sgdbench
