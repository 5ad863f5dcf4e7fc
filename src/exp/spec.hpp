// Experiment specs: JSON with fixed fields ("base") and grid axes ("grid"), expanded into runs.
// Strict: unknown fields (with a suggestion), wrong types, empty axes and invalid values are
// errors naming the file and the JSON path the value came from. Not: running (runner.hpp).
//
//   { "experiment": "quickstart", "description": "...",
//     "base": { "model": "lenet", "data": {"name": "fashion-mnist"}, "epochs": 2, ... },
//     "grid": { "variants": [ {"label": "SGD", "batch_size": 1}, ... ],   // objects merged in
//               "lr": [0.01, 0.1], "seed": [1, 2], "optimizer.momentum": [0, 0.9] } }
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/decl.hpp"  // suggest()
#include "train/trainer.hpp"

namespace sgdbench {

struct RunSpec {
  size_t index = 0;  // position in the expanded grid
  std::string id;    // hash of the canonical config
  TrainConfig cfg;
  nlohmann::json config;  // canonical, fully resolved (cfg.to_json())
};

// Experiment::path of the `train` command's spec, made from its flags.
inline constexpr const char* kCommandLineSpec = "(command line)";

struct Experiment {
  std::string name, description, path;
  nlohmann::ordered_json spec;  // as written
  std::vector<RunSpec> runs;
};

// Reads and validates a spec file; throws Error(Spec) "FILE: PATH: problem".
// overrides: (field path, value) pairs set in every run after the grid is applied ("--set").
using Overrides = std::vector<std::pair<std::string, nlohmann::ordered_json>>;
Experiment load_spec(const std::string& path, const Overrides& overrides = {});
Experiment parse_spec(const nlohmann::ordered_json& spec, const std::string& path, const Overrides& overrides = {});

// One config from a JSON object (the `train` command builds one from its flags); `where` names
// the source for errors. Field names are the spec's.
TrainConfig config_from_json(const nlohmann::ordered_json& j, const std::string& where);

std::string run_id(const nlohmann::json& canonical_config);

}  // namespace sgdbench
