// Models as data: a model description is a JSON object with a name, an initialiser and a list of
// layers, each {kind: {fields}} as declared in layers/registry.hpp:
//
//   {"name": "my_net", "init": "glorot_uniform", "input": [1, 28, 28],
//    "layers": [{"conv": {"out": 32, "kernel": 3, "padding": "same"}}, {"relu": {}},
//               {"max_pool": {"kernel": 2}}, {"flatten": {}}, {"dense": {"out": "classes"}}]}
//
// Parsing checks every field (errors name the file, the JSON path and the layer: exit 5); the
// canonical form (every field, defaults filled, layer names given) round-trips through a Network.
// Not: the zoo's list of files (zoo.hpp) or spec fields (exp/spec.hpp).
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/shape.hpp"
#include "model/init.hpp"
#include "model/network.hpp"

namespace sgdbench {

constexpr size_t kMaxModelLayers = 1000;

struct ModelDesc {
  std::string name = "lenet";
  std::string summary;  // one line: where it comes from (not part of the run id)
  Shape input;          // the input it is meant for (empty: none; not part of the run id)
  std::string init = "pytorch_default";
  nlohmann::json layers = nlohmann::json::array();  // canonical: [{kind: {"name": ..., fields}}]
  // Where it was read from, for errors (not hashed): the file, and the JSON path in it.
  std::string source_file, source_path;

  ModelDesc() = default;
  // The zoo model of that name (model/zoo.hpp); throws Error(Model) listing the known names.
  ModelDesc(const std::string& zoo_name);  // NOLINT: implicit, so `cfg.model = "lenet"` reads well
  ModelDesc(const char* zoo_name) : ModelDesc(std::string(zoo_name)) {}  // NOLINT
  // {"name", "init", "layers"}: what identifies the model (hashed into the run id).
  nlohmann::json canonical() const;
  // canonical() plus summary and input when set (what `sgdbench models --json` and files show).
  nlohmann::json to_json() const;
};

// Parses a description. `where` names its source in errors (a file), `path` is the JSON path of
// the object in it ("" for a whole file, "base.model" inside a spec). default_name: used when the
// description has no "name" (a file's stem); empty = the name is required.
ModelDesc parse_model(const nlohmann::json& j, const std::string& where, const std::string& path,
                      const std::string& default_name = "");
// Reads and parses a model file (size-limited); errors name the file.
ModelDesc load_model_file(const std::string& file);

// Builds the network for one input shape and class count (parameters uninitialised: call
// initialize()). Shape problems are Error(Model) naming the source, the layer's path and name.
std::unique_ptr<Network> build_network(const ModelDesc& desc, const Shape& input, int64_t classes);

}  // namespace sgdbench
