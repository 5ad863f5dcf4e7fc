// IDX reader (MNIST, Fashion-MNIST): big-endian header, uint8 data; gzip or raw through zlib
// (gzread reads uncompressed files transparently). Every size is checked against the header.
#include <sys/stat.h>
#include <zlib.h>

#include <cstring>
#include <memory>

#include "core/error.hpp"
#include "core/file.hpp"
#include "data/dataset.hpp"

namespace sgdbench {

namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

// Reads exactly n bytes; returns how many were read before EOF. Throws on a corrupt stream.
size_t gz_read(gzFile f, uint8_t* dst, size_t n, const std::string& path) {
  size_t got = 0;
  while (got < n) {
    unsigned chunk = unsigned(std::min<size_t>(n - got, 1u << 30));
    int r = gzread(f, dst + got, chunk);
    if (r < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      SGD_THROW(Data, path, ": corrupt gzip stream (", msg ? msg : "unknown zlib error", ")");
    }
    if (r == 0) break;
    got += size_t(r);
  }
  if (got < n) {
    int errnum = 0;
    const char* msg = gzerror(f, &errnum);
    if (errnum != Z_OK && errnum != Z_STREAM_END)
      SGD_THROW(Data, path, ": corrupt or truncated gzip stream (", msg ? msg : "zlib error", ")");
  }
  return got;
}

}  // namespace

void require_regular_file(const std::string& path, const std::string& what) {
  const std::string p = input_file_problem(path);
  if (p == "not found") SGD_THROW(Data, path, ": ", what, " not found");
  if (p == "an empty file") SGD_THROW(Data, path, ": empty file (expected the ", what, ")");
  if (!p.empty()) SGD_THROW(Data, path, ": is ", p, ", expected the ", what, " (a regular file)");
}

namespace {
// Opens an IDX file and reads its magic and dimensions (checked for plausibility).
std::unique_ptr<gzFile_s, GzCloser> open_idx(const std::string& path, int expected_rank, IdxArray& a, int64_t& total) {
  require_regular_file(path, "IDX file");
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (!f) SGD_THROW(Data, path, ": cannot open (", std::strerror(errno), ")");
  uint8_t head[4];
  if (gz_read(f.get(), head, 4, path) != 4) SGD_THROW(Data, path, ": truncated: shorter than the 4-byte IDX magic");
  if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] != expected_rank) {
    char b[64];
    std::snprintf(b, sizeof b, "0x%02x%02x%02x%02x", head[0], head[1], head[2], head[3]);
    SGD_THROW(Data, path, ": wrong magic number ", b, ", expected 0x000008", expected_rank == 1 ? "01" : "03",
              " (IDX unsigned byte, ", expected_rank, " dims)");
  }
  total = 1;
  for (int i = 0; i < expected_rank; ++i) {
    uint8_t d[4];
    if (gz_read(f.get(), d, 4, path) != 4) SGD_THROW(Data, path, ": truncated inside the header");
    int64_t v = (int64_t(d[0]) << 24) | (int64_t(d[1]) << 16) | (int64_t(d[2]) << 8) | int64_t(d[3]);
    if (v <= 0 || v > (int64_t(1) << 28))
      SGD_THROW(Data, path, ": header dimension ", i, " is ", v, ", not a plausible size");
    a.dims.push_back(v);
    total *= v;
    if (total > (int64_t(1) << 33)) SGD_THROW(Data, path, ": header dimensions describe more than 8 GiB");
  }
  return f;
}
}  // namespace

std::vector<int64_t> read_idx_dims(const std::string& path, int expected_rank) {
  IdxArray a;
  int64_t total = 0;
  open_idx(path, expected_rank, a, total);
  return a.dims;
}

IdxArray read_idx(const std::string& path, int expected_rank) {
  IdxArray a;
  int64_t total = 0;
  auto f = open_idx(path, expected_rank, a, total);
  // Grow as data arrives, so a lying header on a short file does not allocate gigabytes.
  size_t got = 0;
  while (got < size_t(total)) {
    size_t chunk = std::min<size_t>(size_t(total) - got, size_t(16) << 20);
    a.data.resize(got + chunk);
    size_t r = gz_read(f.get(), a.data.data() + got, chunk, path);
    got += r;
    if (r < chunk) break;
  }
  if (got != size_t(total))
    SGD_THROW(Data, path, ": truncated: header promises ", total, " bytes of data, file has ", got);
  uint8_t extra;
  if (gz_read(f.get(), &extra, 1, path) != 0)
    SGD_THROW(Data, path, ": header dimensions disagree with the file size (data continues past ", total, " bytes)");
  return a;
}

std::string mnist_file(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    std::string p = dir + "/" + stem + ext;
    struct stat st {};
    if (lstat(p.c_str(), &st) == 0) return p;  // whatever it is: read_idx names what is wrong with it
  }
  SGD_THROW(Data, dir, "/", stem,
            "[.gz]: not found; an MNIST-format directory holds train-images-idx3-ubyte, "
            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (.gz or raw)");
}

void read_mnist_dir(const std::string& dir, Dataset& ds) {
  auto find = [&](const std::string& stem) { return mnist_file(dir, stem); };
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) SGD_THROW(Data, dir, ": data directory not found");
  if (!S_ISDIR(st.st_mode)) SGD_THROW(Data, dir, ": is a file, expected a directory with the IDX files");
  auto load = [&](const std::string& img_stem, const std::string& lab_stem, Split& s) {
    std::string ip = find(img_stem), lp = find(lab_stem);
    IdxArray img = read_idx(ip, 3), lab = read_idx(lp, 1);
    if (img.dims[0] != lab.dims[0])
      SGD_THROW(Data, lp, ": ", lab.dims[0], " labels but ", ip, " has ", img.dims[0], " images");
    Shape sh{1, img.dims[1], img.dims[2]};
    if (ds.shape.rank() == 0)
      ds.shape = sh;
    else if (!(ds.shape == sh))
      SGD_THROW(Data, ip, ": images are ", img.dims[1], "x", img.dims[2], " but the train images are ", ds.shape[1],
                "x", ds.shape[2]);
    s.images = std::move(img.data);
    s.labels.resize(lab.data.size());
    for (size_t i = 0; i < lab.data.size(); ++i) {
      if (lab.data[i] >= ds.classes)
        SGD_THROW(Data, lp, ": label ", int(lab.data[i]), " at index ", i, " is out of range [0, ", ds.classes, ")");
      s.labels[i] = lab.data[i];
    }
  };
  ds.shape = Shape{};
  load("train-images-idx3-ubyte", "train-labels-idx1-ubyte", ds.train);
  load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", ds.test);
}

}  // namespace sgdbench
