// Batcher: walks one split in batches. The sample order of epoch e is a pure function of
// (seed, e) (Fisher-Yates from a generator seeded with both), so a run can be resumed or
// repeated exactly. Batches are copied, preprocessed to float NCHW, into caller-owned buffers
// (a Plan's input): nothing is allocated per batch.
// Last partial batch policy: kept by default (as PyTorch's DataLoader and Keras' fit do);
// drop_last = true drops it.
#pragma once
#include <cstdint>
#include <vector>

#include "data/dataset.hpp"

namespace sgdbench {

class Batcher {
 public:
  Batcher(const Split& split, const Shape& shape, const Preprocess& pre, int64_t batch, bool shuffle, uint64_t seed,
          bool drop_last = false);
  void start_epoch(int64_t epoch);
  // Fills x (batch x C x H x W floats) and y with the next batch; returns its size (the last one
  // may be smaller), or 0 when the epoch is done. With lo/hi (0 <= lo <= hi <= that size) only
  // samples [lo, hi) of the batch are copied (a data-parallel rank's slice); the whole batch is used up.
  int64_t next(float* x, int32_t* y, int64_t lo = 0, int64_t hi = -1);
  int64_t batches_per_epoch() const;
  // Size of the batch next() will return (0 at the end of the epoch).
  int64_t next_size() const;
  int64_t batch() const { return batch_; }
  const std::vector<int64_t>& order() const { return order_; }

  // Copies samples idx[0..n) of split, preprocessed, into x and y.
  static void gather(const Split& split, int64_t sample_size, const Preprocess& pre, const int64_t* idx, int64_t n,
                     float* x, int32_t* y);

 private:
  const Split& split_;
  int64_t sample_size_;
  const Preprocess& pre_;
  int64_t batch_;
  bool shuffle_, drop_last_;
  uint64_t seed_;
  std::vector<int64_t> order_;
  int64_t pos_ = 0;
};

}  // namespace sgdbench
