// TileReorder: the per-step weight copies between a plain (row-major or channels-last) parameter
// and a primitive's blocked layout, in AVX-512 16x16 tile transposes. Not: any other reorder; a
// layout it does not handle (make() returns nullopt) goes to oneDNN's reorder (LayoutBridge).
//
// Why (issue 11): at batch 1 a weight is copied three times a step (into the forward's layout,
// into backward-data's, and its gradient back), and oneDNN 2.6's jit:uni reorder moves ~1.6
// floats a cycle on these layouts: 57 of keras_cifar_cnn's ~245 us of primitive time a step.
//
// Handles: both sides dense in the same logical dims; the blocked side's innermost block runs
// along one dim X in a multiple of 16, every dim has at most one block level (ABcd16b16a,
// ABcd16a16b, Acdb32a, AB16b16a, ...), padding along blocked dims (the padded area stays zero:
// to_blocked never writes it except in X's last group, where it writes zeros; the caller zeroes
// the blocked buffer once). The plain side's dims other than X are walked as outer loops and one
// contiguous run (`y`) whose blocked offsets come from a table.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace sgdbench::dnnl_ctx {

class TileReorder {
 public:
  // nullopt when this CPU lacks AVX-512, SGDBENCH_TILE_REORDER=0, or the pair is not handled.
  static std::optional<TileReorder> make(const dnnl::memory::desc& plain, const dnnl::memory::desc& blocked);
  void to_blocked(const float* plain, float* blocked) const;
  void to_plain(const float* blocked, float* plain) const;

 private:
  int64_t x_len_ = 0, x_plain_stride_ = 0;  // X's extent (unpadded) and its stride on the plain side
  std::vector<int64_t> x_group_off_;        // blocked offset of x = 16 g, per group g
  std::vector<int64_t> y_off_;              // blocked offset of the contiguous run's element y
  std::vector<int64_t> outer_plain_, outer_blocked_;  // offsets of every outer combination
};

bool tile_reorder_enabled();

}  // namespace sgdbench::dnnl_ctx
