// The layer kinds a model description may use: one declaration per kind (name, fields with
// defaults and ranges, doc) and how to build the layer from its checked fields. Model parsing,
// canonical descriptions, `sgdbench describe` and the docs all read this list. Not: shapes
// (each Layer checks its input) or execution.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/decl.hpp"
#include "layers/layer.hpp"

namespace sgdbench {

struct LayerKind {
  KindDecl decl;
  // fields: canonical (resolve_fields); classes: the data set's class count ("out": "classes").
  std::function<std::unique_ptr<Layer>(const std::string& name, const nlohmann::json& fields, int64_t classes)> make;
};

const std::vector<LayerKind>& layer_kinds();
const LayerKind* find_layer_kind(const std::string& name);  // nullptr when unknown
std::vector<std::string> layer_kind_names();

}  // namespace sgdbench
