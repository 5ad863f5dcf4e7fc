// Naive reference loops for average pooling, global average pooling and batch normalisation, in
// double and row-major NCHW (or NF): the test oracle for those layers. Written for obviousness.
#pragma once
#include <cstdint>

#include "reference/reference.hpp"

namespace sgdbench::ref {

// x (N,C,H,W): window k, stride s, zero padding p on every side; every window is divided by k*k
// (PyTorch AvgPool2d's count_include_pad=True), output size floor((H + 2p - k) / s) + 1.
T avgpool_forward(const T& x, int64_t k, int64_t s, int64_t p);
// given dy (N,C,OH,OW): dx like x
T avgpool_backward(const T& x, const T& dy, int64_t k, int64_t s, int64_t p);

// x (N,C,H,W) -> y (N,C,1,1): the mean over H and W.
T global_avgpool_forward(const T& x);
T global_avgpool_backward(const T& x, const T& dy);

// Batch normalisation of x (N,C,H,W) over channel c (statistics over N,H,W), or of x (N,F) over
// feature f (statistics over N). gamma, beta, running_mean, running_var hold C (or F) values.
// training: normalise with the batch mean and biased batch variance, then update the running
// statistics as PyTorch does (the variance unbiased by M/(M-1), M = N*H*W; biased when M = 1).
// Inference: normalise with the running statistics, which are left unchanged.
T batchnorm_forward(const T& x, const T& gamma, const T& beta, double eps, bool training, T& running_mean,
                    T& running_var, double momentum);
// Training-mode gradients (batch statistics, which depend on x) of y = batchnorm_forward(x).
void batchnorm_backward(const T& x, const T& gamma, const T& dy, double eps, T& dx, T& dgamma, T& dbeta);

}  // namespace sgdbench::ref
