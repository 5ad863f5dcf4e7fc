// Inverted dropout: in training each element is kept with probability 1-p and scaled by 1/(1-p);
// at inference it is the identity. The mask comes from the network's dropout generator (seeded).
#pragma once
#include "layers/layer.hpp"

namespace sgdbench {

class Dropout : public Layer {
 public:
  Dropout(std::string name, double rate);
  std::string kind() const override { return "dropout"; }
  std::string describe() const override;
  Shape output_shape(const Shape& in) const override { return in; }
  std::unique_ptr<LayerExec> build(const BuildArgs& args) const override;
  double rate() const { return rate_; }

 private:
  double rate_;
};

}  // namespace sgdbench
