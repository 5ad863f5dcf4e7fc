// Batcher: walks one split in batches. The sample order of epoch e is a pure function of
// (seed, e) (Fisher-Yates from a generator seeded with both), so a run can be resumed or
// repeated exactly. Batches are copied, preprocessed to float NCHW (and augmented, when asked),
// into caller-owned buffers (a Plan's input): nothing is allocated per batch.
// Last partial batch policy: kept by default (as PyTorch's DataLoader and Keras' fit do);
// drop_last = true drops it.
// Prefetch (optional): a background thread prepares the next batch of the epoch into a staging
// buffer while the caller trains on the current one; next() then only copies it. The numbers are
// the same either way (augmentation draws depend on (seed, epoch, position) only).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "data/dataset.hpp"

namespace sgdbench {

// Random crop after zero-padding (pixels outside the image are raw 0, then preprocessed) and
// horizontal flip (p = 0.5), as torchvision's RandomCrop(padding) + RandomHorizontalFlip.
struct Augment {
  int64_t crop_pad = 0;
  bool hflip = false;
  bool on() const { return crop_pad > 0 || hflip; }
};

// Samples [part*n/parts, (part+1)*n/parts) of n: rank `part`'s slice of a batch of n.
std::pair<int64_t, int64_t> slice_of(int64_t n, int part, int parts);

class Batcher {
 public:
  Batcher(const Split& split, const Shape& shape, const Preprocess& pre, int64_t batch, bool shuffle, uint64_t seed,
          bool drop_last = false, Augment aug = {});
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;
  // Data-parallel: next() copies only part `part` of `parts` of every batch (slice_of()).
  void set_slice(int part, int parts);
  // Starts (true) or stops the prefetch thread.
  void set_prefetch(bool on);
  void start_epoch(int64_t epoch);
  // Fills x and y with this rank's slice of the next batch (the whole batch for one process);
  // returns the whole batch's size (the last one may be smaller), or 0 when the epoch is done.
  int64_t next(float* x, int32_t* y);
  int64_t batches_per_epoch() const;
  // Size of the batch next() will return (0 at the end of the epoch).
  int64_t next_size() const;
  // [lo, hi) of a batch of n: this rank's slice.
  std::pair<int64_t, int64_t> slice(int64_t n) const;
  int64_t batch() const { return batch_; }
  const std::vector<int64_t>& order() const { return order_; }

  // Copies samples idx[0..n) of split, preprocessed, into x and y. With aug on, sample i is
  // augmented with the draws of stream first_stream + i (see Batcher's seed).
  static void gather(const Split& split, int64_t sample_size, const Preprocess& pre, const int64_t* idx, int64_t n,
                     float* x, int32_t* y, const Shape* shape = nullptr, const Augment& aug = {}, uint64_t seed = 0,
                     uint64_t first_stream = 0, bool threads = true);
  // Testing: whether the AVX2 and the SSE2 conversion of one sample give the same bytes (true
  // where the CPU has no AVX2: there is one path only).
  static bool convert_paths_agree(const uint8_t* src, int64_t C, int64_t HW, const float* scale, const float* shift);

 private:
  void fill(int64_t pos, int64_t n, float* x, int32_t* y, bool threads) const;  // this rank's slice of a batch
  void worker();
  void wait_staged();

  const Split& split_;
  Shape shape_;
  int64_t sample_size_;
  const Preprocess& pre_;
  int64_t batch_;
  bool shuffle_, drop_last_;
  uint64_t seed_;
  Augment aug_;
  int part_ = 0, parts_ = 1;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;
  int64_t pos_ = 0;
  // The position of the batch whose images next() asked for ahead (-1: none this epoch).
  int64_t ahead_pos_ = -1;
  // Prefetch: the worker fills stage_ with the batch at staged_pos_ (-1: none asked).
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool quit_ = false, job_ = false, ready_ = false;
  int64_t staged_pos_ = -1, staged_n_ = 0;
  std::vector<float> stage_x_;
  std::vector<int32_t> stage_y_;
};

}  // namespace sgdbench
