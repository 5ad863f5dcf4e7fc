// Shared layer helpers.
#include "layers/layer.hpp"

#include "core/error.hpp"

namespace sgdbench {

void Layer::shape_error(const Shape& in, const std::string& why) const {
  SGD_THROW(Model, "layer '", name_, "' (", describe(), ") cannot take input ", in.str(), ": ", why);
}

nlohmann::json Layer::description() const {
  nlohmann::json f = {{"name", name_}};
  for (auto it = fields_.begin(); it != fields_.end(); ++it) f[it.key()] = it.value();
  return {{kind(), f}};
}

}  // namespace sgdbench
