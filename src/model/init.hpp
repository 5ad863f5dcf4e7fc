// Parameter initialisers of the frameworks the zoo models come from.
//  pytorch_default: weights kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
//                   biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))  (torch.nn.Conv2d / Linear reset_parameters)
//  glorot_uniform:  kernels U(-sqrt(6/(fan_in+fan_out)), +...), biases zero (Keras defaults)
#pragma once
#include <cstdint>
#include <string>

#include "model/network.hpp"

namespace sgdbench {

enum class Init { PytorchDefault, GlorotUniform };

Init init_from_string(const std::string& s);
std::string to_string(Init i);

// Fills all parameters of `net` from a generator seeded with (seed, RngPurpose::Init), in
// parameter order, so a seed fixes the initial weights whatever else the run does.
void initialize(Network& net, Init init, uint64_t seed);

}  // namespace sgdbench
