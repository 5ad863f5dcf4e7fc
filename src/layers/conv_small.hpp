// Convolutions with few channels (a network's first layer: LeNet's 3->6 and 1->6 5x5), forward
// and weight gradient in hand-written AVX-512 loops. oneDNN 2.6 has one implementation each for
// this shape in NHWC (brgconv forward, jit backward-weights); both pad the 6 output channels to a
// 16-lane vector and ran at ~28% of the FMA peak, half of LeNet's step at batch 1024 (issue 11).
// These loops vectorise over 16 output columns instead, so every lane does useful work.
// Backward data stays on oneDNN (a first layer never needs it).
#pragma once
#include <cstdint>
#include <memory>

#include "layers/layer.hpp"

namespace sgdbench {

// The shapes these loops take: stride 1, no padding, C <= 4 input and OC <= 8 output channels, a
// 3x3, 5x5 or 7x7 kernel, on a CPU with AVX-512F, and small_channel_kernels() on.
bool small_conv_eligible(int64_t C, int64_t OC, int64_t K, int64_t stride, int64_t pad);

// Wraps the oneDNN execution `onednn` (built for the same layer and arguments, with
// forward_elsewhere() set): forward and backward_weights run here, backward_data there.
std::unique_ptr<LayerExec> make_small_conv(const BuildArgs& a, std::unique_ptr<LayerExec> onednn, int64_t C,
                                           int64_t H, int64_t W, int64_t OC, int64_t K);

// On by default; SGDBENCH_SMALL_CHANNELS=0 in the environment turns them off at start-up (oneDNN
// for every convolution, for A/B comparisons). Affects layers built from then on.
void set_small_channel_kernels(bool on);
bool small_channel_kernels();
// The switch and a CPU that can run them (what provenance records).
bool small_channel_kernels_in_use();

}  // namespace sgdbench
