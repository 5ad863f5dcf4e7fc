// Model zoo: the model descriptions in models/*.json (embedded in the binary at build time, so
// it runs from anywhere), by name. tools/torch_models.py reads the same files for the PyTorch twin.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/model_desc.hpp"

namespace sgdbench {

struct ZooEntry {
  std::string name, summary;
  Shape default_input;  // the shape its tutorial uses
  Init init;            // its framework's initialiser
  ModelDesc desc;
};

const std::vector<ZooEntry>& zoo();  // sorted by name
std::vector<std::string> zoo_names();
const ZooEntry& zoo_entry(const std::string& name);  // throws Error(Model) listing known names
ModelDesc zoo_model(const std::string& name);
// Builds a zoo network (uninitialised parameters: call initialize()).
std::unique_ptr<Network> build_model(const std::string& name, const Shape& input, int64_t classes = 10);

}  // namespace sgdbench
