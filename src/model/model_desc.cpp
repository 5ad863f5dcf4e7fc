// Model descriptions: parsing, canonical form, building (see model_desc.hpp).
#include "model/model_desc.hpp"

#include <filesystem>
#include <set>

#include "core/decl.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "layers/registry.hpp"
#include "model/zoo.hpp"

namespace sgdbench {

using json = nlohmann::json;

ModelDesc::ModelDesc(const std::string& zoo_name) { *this = zoo_model(zoo_name); }

json ModelDesc::canonical() const { return {{"name", name}, {"init", init}, {"layers", layers}}; }

json ModelDesc::to_json() const {
  json j = canonical();
  if (!summary.empty()) j["summary"] = summary;
  if (input.rank() > 0) j["input"] = input.dims;
  return j;
}

namespace {
const std::vector<std::string> kModelFields{"name", "summary", "input", "init", "layers"};
}

ModelDesc parse_model(const json& j, const std::string& where, const std::string& path,
                      const std::string& default_name) {
  auto at = [&](const std::string& k) { return path.empty() ? k : path + "." + k; };
  auto fail = [&](const std::string& p, const std::string& msg) -> void {
    throw Error(ErrorKind::Model, where + ": " + (p.empty() ? "" : p + ": ") + msg);
  };
  if (!j.is_object()) fail(path, std::string("a model description is an object with \"layers\", got ") + j.type_name());
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find(kModelFields.begin(), kModelFields.end(), it.key()) == kModelFields.end()) {
      fail(at(it.key()), unknown_name("field", it.key(), kModelFields));
    }
  ModelDesc d;
  d.source_file = where, d.source_path = path;
  if (j.contains("name")) {
    if (!j["name"].is_string() || j["name"].get<std::string>().empty() ||
        j["name"].get<std::string>().find_first_of("/\\ \t\n") != std::string::npos)
      fail(at("name"), "expected a non-empty name without '/', '\\' or spaces, got " + j["name"].dump());
    d.name = j["name"];
  } else if (!default_name.empty()) {
    d.name = default_name;
  } else {
    fail(at("name"), "missing: the model needs a name (it labels results and plots)");
  }
  if (j.contains("summary")) {
    if (!j["summary"].is_string()) fail(at("summary"), "expected a string, got " + j["summary"].dump());
    d.summary = j["summary"];
  }
  if (j.contains("input")) {
    const json& in = j["input"];
    bool ok = in.is_array() && in.size() == 3;
    if (ok)
      for (auto& v : in) ok = ok && v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= 65536;
    if (!ok) fail(at("input"), "expected [C, H, W] with integers in [1, 65536], got " + in.dump());
    d.input = Shape(in.get<std::vector<int64_t>>());
  }
  if (j.contains("init")) {
    if (!j["init"].is_string()) fail(at("init"), "expected a string, got " + j["init"].dump());
    d.init = j["init"];
    try {
      init_from_string(d.init);
    } catch (const Error& e) {
      fail(at("init"), e.what());
    }
  }
  if (!j.contains("layers")) fail(at("layers"), "missing: a model is a list of layers");
  const json& L = j["layers"];
  if (!L.is_array() || L.empty()) fail(at("layers"), "expected a non-empty list of layers, got " + L.dump());
  if (L.size() > kMaxModelLayers)
    fail(at("layers"),
         "has " + std::to_string(L.size()) + " layers, more than the limit of " + std::to_string(kMaxModelLayers));
  std::map<std::string, int> per_kind;
  std::set<std::string> names;
  for (size_t i = 0; i < L.size(); ++i) {
    const std::string lp = at("layers") + "[" + std::to_string(i) + "]";
    const json& e = L[i];
    if (!e.is_object() || e.size() != 1)
      fail(lp, "a layer is {\"kind\": {fields}} with one kind (" + join(layer_kind_names()) + "), got " + e.dump());
    const std::string kind = e.begin().key();
    const LayerKind* k = find_layer_kind(kind);
    if (!k) {
      fail(lp, unknown_name("layer", kind, layer_kind_names()));
    }
    json fields = e.begin().value();
    if (fields.is_null()) fields = json::object();
    std::string lname = kind + std::to_string(++per_kind[kind]);
    if (fields.is_object() && fields.contains("name")) {
      if (!fields["name"].is_string() || fields["name"].get<std::string>().empty())
        fail(lp + "." + kind + ".name", "expected a non-empty string, got " + fields["name"].dump());
      lname = fields["name"];
      fields.erase("name");
    }
    if (!names.insert(lname).second)
      fail(lp + "." + kind + ".name", "layer name '" + lname + "' is used twice (parameters are named after layers)");
    json canon = resolve_fields(k->decl, fields, where, lp + "." + kind, ErrorKind::Model);
    json f = {{"name", lname}};
    for (auto it = canon.begin(); it != canon.end(); ++it) f[it.key()] = it.value();
    d.layers.push_back({{kind, f}});
  }
  return d;
}

ModelDesc load_model_file(const std::string& file) {
  std::string text = read_text_file(file, ErrorKind::Model, "model file");
  return parse_model(json(parse_json(text, file, ErrorKind::Model)), file, "",
                     std::filesystem::path(file).stem().string());
}

std::unique_ptr<Network> build_network(const ModelDesc& d, const Shape& input, int64_t classes) {
  std::vector<std::unique_ptr<Layer>> layers;
  std::vector<std::string> where;
  for (size_t i = 0; i < d.layers.size(); ++i) {
    const json& e = d.layers[i];
    const std::string kind = e.begin().key();
    const LayerKind* k = find_layer_kind(kind);
    SGD_CHECK(k, Model, d.source_file, ": layers[", i, "]: unknown layer '", kind, "'");
    json fields = e.begin().value();
    std::string lname = fields.at("name");
    fields.erase("name");
    where.push_back(d.source_file + ": " + (d.source_path.empty() ? "" : d.source_path + ".") + "layers[" +
                    std::to_string(i) + "]." + kind);
    try {
      layers.push_back(k->make(lname, fields, classes));
    } catch (const Error& err) {
      throw Error(ErrorKind::Model, where.back() + ": layer '" + lname + "': " + err.what());
    }
    layers.back()->set_fields(fields);
  }
  return std::make_unique<Network>(d.name, input, classes, std::move(layers), where);
}

}  // namespace sgdbench
