// Model zoo: the classic tutorial networks by name, built for any input shape and class count.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/init.hpp"
#include "model/network.hpp"

namespace sgdbench {

struct ZooEntry {
  std::string name;
  std::string summary;  // one line: where it comes from
  Shape default_input;  // the shape its tutorial uses
  Init init;            // its framework's initialiser
};

const std::vector<ZooEntry>& zoo();
const ZooEntry& zoo_entry(const std::string& name);  // throws Error(Model) listing known names
// Builds the network (uninitialised parameters: call initialize()).
std::unique_ptr<Network> build_model(const std::string& name, const Shape& input, int64_t classes = 10);

}  // namespace sgdbench
