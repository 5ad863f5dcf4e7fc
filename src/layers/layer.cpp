// Shared layer helpers.
#include "layers/layer.hpp"

#include "core/error.hpp"

namespace sgdbench {

void Layer::shape_error(const Shape& in, const std::string& why) const {
  SGD_THROW(Model, "layer '", name_, "' (", describe(), ") cannot take input ", in.str(), ": ", why);
}

}  // namespace sgdbench
