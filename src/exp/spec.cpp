// Spec parsing, validation with JSON paths, grid expansion and run ids.
#include "exp/spec.hpp"

#include <cmath>
#include <filesystem>
#include <map>

#include "core/decl.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "model/zoo.hpp"

namespace sgdbench {

using ojson = nlohmann::ordered_json;

std::string run_id(const nlohmann::json& c) {
  std::string s = c.dump();
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001B3ull;
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", (unsigned long long)h);
  return b;
}

namespace {

// Where each leaf of a merged config came from ("grid.variants[2].lr"), for error messages.
using Origins = std::map<std::string, std::string>;

void merge_into(ojson& dst, const ojson& src, const std::string& prefix, const std::string& origin, Origins& o) {
  for (auto it = src.begin(); it != src.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    std::string from = origin + "." + it.key();
    // Objects merge field by field, except a model description, which is replaced whole.
    if (it.value().is_object() && dst.contains(it.key()) && dst[it.key()].is_object() && key != "model") {
      merge_into(dst[it.key()], it.value(), key, from, o);
    } else {
      dst[it.key()] = it.value();
      o[key] = from;
      if (it.value().is_object())  // record leaves below a new object too
        for (auto l = it.value().begin(); l != it.value().end(); ++l) o[key + "." + l.key()] = from + "." + l.key();
    }
  }
}

// Sets a dotted path ("optimizer.momentum") in j.
void set_path(ojson& j, const std::string& path, const ojson& v) {
  size_t dot = path.find('.');
  if (dot == std::string::npos) {
    j[path] = v;
    return;
  }
  ojson& child = j[path.substr(0, dot)];
  if (child.is_string()) child = ojson{{"name", child}};  // "optimizer": "sgd" shorthand
  if (!child.is_object()) child = ojson::object();
  set_path(child, path.substr(dot + 1), v);
}

struct Reader {
  const std::string& file;
  const Origins& origins;
  std::string origin(const std::string& path) const {
    auto it = origins.find(path);
    return it != origins.end() ? it->second : path;
  }
  std::string where(const std::string& path) const { return file + ": " + origin(path); }
  [[noreturn]] void fail(const std::string& path, const std::string& msg) const {
    throw Error(ErrorKind::Spec, where(path) + ": " + msg);
  }
  void check_fields(const ojson& obj, const std::string& path, const std::vector<std::string>& known) const {
    if (!obj.is_object()) fail(path, "expected an object, got " + std::string(obj.type_name()));
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
      std::string p = path.empty() ? it.key() : path + "." + it.key();
      std::string s = suggest(it.key(), known);
      fail(p, "unknown field '" + it.key() + "'" + (s.empty() ? "" : " (did you mean '" + s + "'?)"));
    }
  }
  template <class T>
  void get(const ojson& obj, const std::string& path, const char* key, T& out) const {
    if (!obj.contains(key)) return;
    const ojson& v = obj[key];
    std::string p = path.empty() ? key : path + "." + key;
    if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) fail(p, std::string("expected true or false, got ") + v.type_name());
      out = v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) fail(p, std::string("expected an integer, got ") + v.dump());
      if (v.get<int64_t>() < 0) fail(p, "must be >= 0, got " + v.dump());
      out = static_cast<T>(v.get<int64_t>());
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number()) fail(p, std::string("expected a number, got ") + v.dump());
      out = v.get<double>();
      if (!std::isfinite(out)) fail(p, "must be finite");
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) fail(p, std::string("expected a string, got ") + v.dump());
      out = v.get<std::string>();
    } else {
      if (!v.is_array()) fail(p, std::string("expected a list of numbers, got ") + v.dump());
      out.clear();
      for (auto& e : v) {
        if (!e.is_number()) fail(p, "expected a list of numbers, got " + v.dump());
        out.push_back(e.get<double>());
      }
    }
  }
  // Fails unless value is one of known, suggesting the closest name.
  void require_known(const std::string& path, const char* what, const std::string& value,
                     const std::vector<std::string>& known, const std::string& note = "") const {
    if (std::find(known.begin(), known.end(), value) != known.end()) return;
    std::string s = suggest(value, known);
    fail(path, std::string("unknown ") + what + " '" + value + "'" + (s.empty() ? "" : " (did you mean '" + s + "'?)") +
                   "; known: " + join(known) + note);
  }
  // Wraps a library check (which throws Error) so its message carries the field's path.
  template <class F>
  void with_path(const std::string& path, F f) const {
    try {
      f();
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Internal) throw;
      fail(path, e.what());
    }
  }
};

const std::vector<std::string> kConfigFields{"label",
                                             "model",
                                             "init",
                                             "data",
                                             "optimizer",
                                             "batch_size",
                                             "chunk",
                                             "drop_last",
                                             "lr",
                                             "schedule",
                                             "seed",
                                             "epochs",
                                             "max_steps",
                                             "max_samples",
                                             "max_seconds",
                                             "target_acc",
                                             "stop_at_target",
                                             "divergence_loss",
                                             "log_every_steps",
                                             "log_points_per_decade",
                                             "eval_batch",
                                             "eval_train"};
const std::vector<std::string> kDataFields{"name",       "dir",        "preprocess", "validation", "limit",
                                           "test_limit", "limit_mode", "seed",       "synthetic"};
const std::vector<std::string> kSyntheticFields{"train", "test", "classes", "shape", "noise", "seed"};

// The spec's "model": a zoo name, a description object (with "layers"), or {"file": PATH} with
// PATH relative to the spec file. Problems inside a description are Error(Model) (exit 5) naming
// the file and the JSON path; an unknown zoo name is a spec error like any unknown name.
ModelDesc read_model(const ojson& m, const Reader& r) {
  if (m.is_string()) {
    r.require_known("model", "model", m.get<std::string>(), zoo_names(),
                    " (or a model description object, or {\"file\": \"models/x.json\"})");
    return zoo_model(m.get<std::string>());
  }
  if (!m.is_object()) r.fail("model", "expected a zoo name, a model description or {\"file\": PATH}, got " + m.dump());
  if (m.contains("file")) {
    if (m.size() != 1 || !m["file"].is_string() || m["file"].get<std::string>().empty())
      r.fail("model", "a model file reference is {\"file\": \"path/to/model.json\"} and nothing else, got " + m.dump());
    namespace fs = std::filesystem;
    fs::path p = m["file"].get<std::string>();
    if (p.is_relative() && r.file.front() != '(') p = fs::path(r.file).parent_path() / p;
    return load_model_file(p.lexically_normal().string());
  }
  return parse_model(nlohmann::json(m), r.file, r.origin("model"));
}

TrainConfig read_config(const ojson& j, const Reader& r) {
  TrainConfig c;
  r.check_fields(j, "", kConfigFields);
  r.get(j, "", "label", c.label);
  if (j.contains("model")) c.model = read_model(j["model"], r);
  r.get(j, "", "init", c.init);
  if (!c.init.empty()) r.with_path("init", [&] { init_from_string(c.init); });
  if (j.contains("data")) {
    ojson d = j["data"].is_string() ? ojson{{"name", j["data"]}} : j["data"];
    r.check_fields(d, "data", kDataFields);
    auto& D = c.data;
    r.get(d, "data", "name", D.name);
    r.require_known("data.name", "data set", D.name, known_datasets());
    r.get(d, "data", "dir", D.dir);
    r.get(d, "data", "preprocess", D.preprocess);
    if (D.preprocess != "scale" && D.preprocess != "standardize")
      r.fail("data.preprocess", "unknown preprocess '" + D.preprocess + "' (known: scale, standardize)");
    r.get(d, "data", "validation", D.validation);
    r.get(d, "data", "limit", D.limit);
    r.get(d, "data", "test_limit", D.test_limit);
    r.get(d, "data", "limit_mode", D.limit_mode);
    if (D.limit_mode != "first" && D.limit_mode != "stratified")
      r.fail("data.limit_mode", "unknown limit_mode '" + D.limit_mode + "' (known: first, stratified)");
    r.get(d, "data", "seed", D.seed);
    if (d.contains("synthetic")) {
      const ojson& s = d["synthetic"];
      r.check_fields(s, "data.synthetic", kSyntheticFields);
      r.get(s, "data.synthetic", "train", D.synthetic_train);
      r.get(s, "data.synthetic", "test", D.synthetic_test);
      r.get(s, "data.synthetic", "classes", D.synthetic_classes);
      r.get(s, "data.synthetic", "noise", D.synthetic_noise);
      r.get(s, "data.synthetic", "seed", D.synthetic_seed);
      if (s.contains("shape")) {
        std::vector<double> sh;
        r.get(s, "data.synthetic", "shape", sh);
        if (sh.size() != 3) r.fail("data.synthetic.shape", "expected [C, H, W]");
        D.synthetic_shape = Shape{int64_t(sh[0]), int64_t(sh[1]), int64_t(sh[2])};
      }
    }
  }
  if (j.contains("optimizer")) {
    ojson o = j["optimizer"].is_string() ? ojson{{"name", j["optimizer"]}} : j["optimizer"];
    if (!o.is_object()) r.fail("optimizer", "expected a name or an object");
    auto& O = c.optimizer;
    r.get(o, "optimizer", "name", O.name);
    r.require_known("optimizer.name", "optimizer", O.name, optimizer_names(),
                    " (momentum and nesterov are sgd options)");
    std::vector<std::string> allowed = OptimizerConfig::fields(O.name);
    allowed.push_back("name");
    r.check_fields(o, "optimizer", allowed);
    r.get(o, "optimizer", "momentum", O.momentum);
    r.get(o, "optimizer", "dampening", O.dampening);
    r.get(o, "optimizer", "nesterov", O.nesterov);
    r.get(o, "optimizer", "weight_decay", O.weight_decay);
    r.get(o, "optimizer", "weight_decay_on", O.weight_decay_on);
    r.get(o, "optimizer", "alpha", O.alpha);
    r.get(o, "optimizer", "centered", O.centered);
    r.get(o, "optimizer", "beta1", O.beta1);
    r.get(o, "optimizer", "beta2", O.beta2);
    r.get(o, "optimizer", "eps", O.eps);
    r.get(o, "optimizer", "lr_decay", O.lr_decay);
    r.get(o, "optimizer", "initial_accumulator", O.initial_accumulator);
    r.with_path("optimizer", [&] { make_optimizer(O); });
  }
  if (j.contains("batch_size")) {
    const ojson& b = j["batch_size"];
    if (b.is_string() && b.get<std::string>() == "full")
      c.batch_size = 0;
    else if (b.is_number_integer() && b.get<int64_t>() >= 1)
      c.batch_size = b.get<int64_t>();
    else
      r.fail("batch_size", "expected a positive integer or \"full\", got " + b.dump());
  }
  r.get(j, "", "chunk", c.chunk);
  if (c.chunk < 1) r.fail("chunk", "must be >= 1");
  r.get(j, "", "drop_last", c.drop_last);
  r.get(j, "", "lr", c.lr);
  if (!(c.lr > 0)) r.fail("lr", "learning rate must be > 0, got " + j["lr"].dump());
  if (j.contains("schedule")) {
    ojson s = j["schedule"].is_string() ? ojson{{"name", j["schedule"]}} : j["schedule"];
    r.check_fields(s, "schedule", ScheduleConfig::fields());
    auto& S = c.schedule;
    r.get(s, "schedule", "name", S.name);
    r.get(s, "schedule", "gamma", S.gamma);
    r.get(s, "schedule", "step_size", S.step_size);
    r.get(s, "schedule", "milestones", S.milestones);
    r.get(s, "schedule", "decay", S.decay);
    r.get(s, "schedule", "power", S.power);
    r.get(s, "schedule", "lr_min", S.lr_min);
    r.get(s, "schedule", "horizon", S.horizon);
    r.get(s, "schedule", "warmup_epochs", S.warmup_epochs);
    r.get(s, "schedule", "warmup_start", S.warmup_start);
    r.get(s, "schedule", "scaling", S.scaling);
    r.get(s, "schedule", "base_batch", S.base_batch);
  }
  r.get(j, "", "seed", c.seed);
  r.get(j, "", "epochs", c.epochs);
  if (c.epochs < 1) r.fail("epochs", "must be >= 1");
  r.get(j, "", "max_steps", c.max_steps);
  r.get(j, "", "max_samples", c.max_samples);
  r.get(j, "", "max_seconds", c.max_seconds);
  if (c.max_seconds < 0) r.fail("max_seconds", "must be >= 0");
  r.get(j, "", "target_acc", c.target_acc);
  if (c.target_acc < 0 || c.target_acc > 1) r.fail("target_acc", "must be in [0, 1] (0 = none)");
  r.get(j, "", "stop_at_target", c.stop_at_target);
  r.get(j, "", "divergence_loss", c.divergence_loss);
  if (!(c.divergence_loss > 0)) r.fail("divergence_loss", "must be > 0");
  r.get(j, "", "log_every_steps", c.log_every_steps);
  r.get(j, "", "log_points_per_decade", c.log_points_per_decade);
  r.get(j, "", "eval_batch", c.eval_batch);
  if (c.eval_batch < 1) r.fail("eval_batch", "must be >= 1");
  r.get(j, "", "eval_train", c.eval_train);
  r.with_path("schedule", [&] { c.schedule.validate(double(c.epochs)); });
  if (c.label.empty()) c.label = default_label(c);
  // The model must fit the data's images.
  int64_t classes = 10;
  Shape shape = data_shape(c.data, &classes);
  // A model that cannot take the data's images is a model error (exit 5) naming the spec field,
  // the model's file and the layer.
  try {
    build_network(c.model, shape, classes);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Model) throw;
    throw Error(ErrorKind::Model, r.where("model") + ": " + e.what());
  }
  return c;
}

struct Axis {
  std::string name, path;  // "lr", "grid.lr"
  ojson values;
};

// Axes in the order written; each a non-empty list. A variant may carry a "grid" of its own,
// expanded inside that variant only.
std::vector<Axis> parse_axes(const ojson& g, const std::string& path, const Reader& r) {
  if (!g.is_object()) r.fail(path, "expected an object of axes (field name -> list of values)");
  std::vector<Axis> axes;
  std::vector<std::string> variant_fields = kConfigFields;
  variant_fields.push_back("grid");
  for (auto it = g.begin(); it != g.end(); ++it) {
    std::string p = path + "." + it.key();
    if (!it.value().is_array()) r.fail(p, "an axis is a list of values, got " + it.value().dump());
    if (it.value().empty()) r.fail(p, "empty axis: give at least one value");
    std::string head = it.key().substr(0, it.key().find('.'));
    if (it.key() != "variants" && std::find(kConfigFields.begin(), kConfigFields.end(), head) == kConfigFields.end()) {
      std::string s = suggest(head, kConfigFields);
      r.fail(p, "unknown axis '" + it.key() + "'" + (s.empty() ? "" : " (did you mean '" + s + "'?)") +
                    "; an axis is 'variants' or a config field");
    }
    if (it.key() == "variants")
      for (size_t i = 0; i < it.value().size(); ++i) {
        std::string vp = p + "[" + std::to_string(i) + "]";
        if (!it.value()[i].is_object()) r.fail(vp, "a variant is an object of config fields");
        r.check_fields(it.value()[i], vp, variant_fields);
      }
    axes.push_back(Axis{it.key(), p, it.value()});
  }
  return axes;
}

// Cartesian product of axes[a..] applied to cfg, first axis outermost.
void expand(const ojson& cfg, const Origins& o, const std::vector<Axis>& axes, size_t a, const Reader& r,
            std::vector<std::pair<ojson, Origins>>& out) {
  if (a == axes.size()) {
    out.emplace_back(cfg, o);
    return;
  }
  const Axis& ax = axes[a];
  for (size_t i = 0; i < ax.values.size(); ++i) {
    std::string from = ax.path + "[" + std::to_string(i) + "]";
    ojson c = cfg;
    Origins oo = o;
    if (ax.name != "variants") {
      set_path(c, ax.name, ax.values[i]);
      oo[ax.name] = from;
      expand(c, oo, axes, a + 1, r, out);
      continue;
    }
    ojson v = ax.values[i];
    ojson nested = v.contains("grid") ? v["grid"] : ojson();
    v.erase("grid");
    merge_into(c, v, "", from, oo);
    if (nested.is_null()) {
      expand(c, oo, axes, a + 1, r, out);
      continue;
    }
    std::vector<std::pair<ojson, Origins>> inner;
    expand(c, oo, parse_axes(nested, from + ".grid", r), 0, r, inner);
    for (auto& [c2, o2] : inner) expand(c2, o2, axes, a + 1, r, out);
  }
}

}  // namespace

Shape data_shape(const DataConfig& d, int64_t* classes) {
  if (classes) *classes = d.name == "synthetic" ? d.synthetic_classes : 10;
  if (d.name == "cifar10") return Shape{3, 32, 32};
  if (d.name == "synthetic") return d.synthetic_shape;
  return Shape{1, 28, 28};
}

TrainConfig config_from_json(const ojson& j, const std::string& where) {
  Origins none;
  return read_config(j, Reader{where, none});
}

Experiment parse_spec(const ojson& spec, const std::string& path, const Overrides& overrides) {
  Experiment e;
  e.path = path;
  e.spec = spec;
  Origins origins;
  Reader top{path, origins};
  top.check_fields(spec, "", {"schema_version", "experiment", "description", "base", "grid"});
  if (!spec.contains("experiment")) top.fail("experiment", "missing: every spec names its experiment");
  top.get(spec, "", "experiment", e.name);
  if (e.name.empty() || e.name.find_first_of("/\\ ") != std::string::npos || e.name[0] == '.')
    top.fail("experiment", "must be a non-empty name without '/', '\\', spaces or a leading '.'");
  top.get(spec, "", "description", e.description);
  ojson base = ojson::object();
  if (spec.contains("base")) {
    top.check_fields(spec["base"], "base", kConfigFields);
    merge_into(base, spec["base"], "", "base", origins);
  }

  std::vector<std::pair<ojson, Origins>> configs;
  std::vector<Axis> axes;
  if (spec.contains("grid")) axes = parse_axes(spec["grid"], "grid", top);
  expand(base, origins, axes, 0, top, configs);
  std::map<std::string, size_t> seen;
  for (auto& [cfg, o] : configs) {
    for (auto& [field, value] : overrides) {
      std::string head = field.substr(0, field.find('.'));
      if (std::find(kConfigFields.begin(), kConfigFields.end(), head) == kConfigFields.end()) {
        std::string s = suggest(head, kConfigFields);
        SGD_THROW(Spec, "--set ", field, ": unknown field '", head, "'",
                  s.empty() ? "" : " (did you mean '" + s + "'?)");
      }
      set_path(cfg, field, value);
      o[field] = "--set " + field;
    }
    RunSpec r;
    r.index = e.runs.size();
    r.cfg = read_config(cfg, Reader{path, o});
    r.config = r.cfg.to_json();
    r.id = run_id(r.config);
    if (seen.count(r.id)) continue;  // the same run named twice
    seen[r.id] = r.index;
    e.runs.push_back(std::move(r));
  }
  return e;
}

Experiment load_spec(const std::string& path, const Overrides& overrides) {
  std::string text = read_text_file(path, ErrorKind::Spec, "spec file");
  return parse_spec(parse_json(text, path, ErrorKind::Spec), path, overrides);
}

}  // namespace sgdbench
