// Spec parsing, validation with JSON paths, grid expansion and run ids.
#include "exp/spec.hpp"

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/decl.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "model/zoo.hpp"

namespace sgdbench {

using ojson = nlohmann::ordered_json;
constexpr int64_t kMaxBatch = 100000000;
constexpr int64_t kMaxRuns = 100000;  // runs per spec: each expanded run is held in memory

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
  // (model, input shape, classes) already built by this parse: a grid of 900 learning rates builds
  // its model once, not 900 times.
  std::set<std::string>* built = nullptr;
  // Where the value at `path` came from: its own origin, else its nearest parent's plus the rest.
  std::string origin(const std::string& path) const {
    for (size_t end = path.size(); end != std::string::npos && end > 0; end = path.rfind('.', end - 1)) {
      auto it = origins.find(path.substr(0, end));
      if (it != origins.end()) return it->second + path.substr(end);
    }
    return path;
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
      fail(p, "unknown field '" + it.key() + "'" + did_you_mean(it.key(), known));
    }
  }
  void get_string(const ojson& obj, const std::string& key, std::string& out) const {
    if (!obj.contains(key)) return;
    if (!obj[key].is_string()) fail(key, std::string("expected a string, got ") + obj[key].dump());
    out = obj[key].get<std::string>();
  }
  // Fails unless value is one of known, suggesting the closest name.
  void require_known(const std::string& path, const char* what, const std::string& value,
                     const std::vector<std::string>& known, const std::string& note = "") const {
    if (std::find(known.begin(), known.end(), value) != known.end()) return;
    fail(path, unknown_name(what, value, known) + note);
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

// A name or an object ("optimizer": "adam" is {"name": "adam"}), as the declarations read it.
nlohmann::json named_object(const ojson& v) {
  return v.is_string() ? nlohmann::json{{"name", v.get<std::string>()}} : nlohmann::json(v);
}

TrainConfig read_config(const ojson& j, const Reader& r) {
  TrainConfig c;
  r.check_fields(j, "", config_field_names());
  const PathNamer shown = [&](const std::string& p) { return r.origin(p); };
  nlohmann::json plain = nlohmann::json::object();
  for (auto& f : config_decl().fields)
    if (j.contains(f.name)) plain[f.name] = nlohmann::json(j[f.name]);
  c.read_fields(resolve_fields(config_decl(), plain, r.file, "", ErrorKind::Spec, shown));
  if (j.contains("model")) c.model = read_model(j["model"], r);
  r.get_string(j, "init", c.init);
  if (!c.init.empty()) r.with_path("init", [&] { init_from_string(c.init); });
  if (j.contains("data")) c.data = DataConfig::from_json(named_object(j["data"]), r.file, "data", shown);
  if (j.contains("optimizer")) {
    c.optimizer = OptimizerConfig::from_json(named_object(j["optimizer"]), r.file, "optimizer", shown);
    r.with_path("optimizer", [&] { make_optimizer(c.optimizer); });  // checks spanning fields
  }
  if (j.contains("batch_size")) {
    const ojson& b = j["batch_size"];
    if (b.is_string() && b.get<std::string>() == "full")
      c.batch_size = 0;
    else if (b.is_number_integer() && b.get<int64_t>() >= 1 && b.get<int64_t>() <= kMaxBatch)
      c.batch_size = b.get<int64_t>();
    else
      r.fail("batch_size", "expected an integer in [1, " + std::to_string(kMaxBatch) + "] or \"full\", got " + b.dump());
  }
  if (j.contains("schedule")) c.schedule = ScheduleConfig::from_json(named_object(j["schedule"]), r.file, "schedule", shown);
  r.with_path("schedule", [&] { c.schedule.validate(double(c.epochs)); });
  // A TrainConfig check's "field: problem" as a spec error at that field.
  auto fail_at_field = [&](const std::string& problem) {
    const auto colon = problem.find(':');
    r.fail(problem.substr(0, colon), problem.substr(colon + 2));
  };
  if (auto problem = c.conflict(); !problem.empty()) fail_at_field(problem);
  if (c.label.empty()) c.label = default_label(c);
  // The model must fit the data's images: the shape read from the data (IDX header, CIFAR-10
  // format, synthetic config). When the files cannot be read yet, loading reports it at run start.
  // A model that cannot take them is a model error (exit 5) naming the spec field, the model's
  // file and the layer.
  if (auto info = probe_dataset(c.data)) {
    if (auto problem = c.augment_problem(info->shape); !problem.empty()) fail_at_field(problem);
    const int64_t batch = c.batch_size == 0 ? c.chunk : c.batch_size;  // GD: one chunk at a time
    const std::string key = c.model.canonical().dump() + "|" + info->shape.str() + "|" +
                            std::to_string(info->classes) + "|" + std::to_string(batch) + "|" +
                            std::to_string(c.eval_batch) + "|" +
                            (c.optimizer.name == "lbfgs" ? std::to_string(c.optimizer.history_size) : "");
    if (r.built && r.built->count(key)) return c;
    try {
      auto net = build_network(c.model, info->shape, info->classes);
      net->check_batch(batch, true, c.batch_size == 0 ? "chunk" : "batch_size");
      net->check_batch(c.eval_batch, false, "eval_batch");
      if (auto p = optimizer_memory_problem(c.optimizer, net->buffer_size()); !p.empty())
        r.fail("optimizer.history_size", p);
      if (r.built) r.built->insert(key);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Model) throw;
      throw Error(ErrorKind::Model, r.where("model") + ": " + e.what());
    }
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
  std::vector<std::string> variant_fields = config_field_names();
  variant_fields.push_back("grid");
  for (auto it = g.begin(); it != g.end(); ++it) {
    std::string p = path + "." + it.key();
    if (!it.value().is_array()) r.fail(p, "an axis is a list of values, got " + it.value().dump());
    if (it.value().empty()) r.fail(p, "empty axis: give at least one value");
    std::string head = it.key().substr(0, it.key().find('.'));
    if (it.key() != "variants" && std::find(config_field_names().begin(), config_field_names().end(), head) == config_field_names().end()) {
      r.fail(p, "unknown axis '" + it.key() + "'" + did_you_mean(head, config_field_names()) +
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

// Runs the axes[a..] expand to, counted without expanding (saturates far above kMaxRuns).
double count_runs(const std::vector<Axis>& axes, size_t a, const Reader& r) {
  if (a == axes.size()) return 1;
  const Axis& ax = axes[a];
  double here = 0;
  if (ax.name != "variants") {
    here = double(ax.values.size());
  } else {
    for (size_t i = 0; i < ax.values.size(); ++i) {
      const ojson& v = ax.values[i];
      here += v.contains("grid") ? count_runs(parse_axes(v["grid"], ax.path + "[" + std::to_string(i) + "].grid", r), 0, r)
                                 : 1.0;
    }
  }
  return std::min(here * count_runs(axes, a + 1, r), 1e300);
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
  top.get_string(spec, "experiment", e.name);
  if (e.name.empty() || e.name.find_first_of("/\\ ") != std::string::npos || e.name[0] == '.')
    top.fail("experiment", "must be a non-empty name without '/', '\\', spaces or a leading '.'");
  top.get_string(spec, "description", e.description);
  ojson base = ojson::object();
  if (spec.contains("base")) {
    top.check_fields(spec["base"], "base", config_field_names());
    merge_into(base, spec["base"], "", "base", origins);
  }

  std::vector<std::pair<ojson, Origins>> configs;
  std::vector<Axis> axes;
  if (spec.contains("grid")) axes = parse_axes(spec["grid"], "grid", top);
  if (double n = count_runs(axes, 0, top); n > double(kMaxRuns))
    top.fail("grid", "expands to " + (n < 1e18 ? std::to_string(int64_t(n)) : std::string("more than 1e18")) +
                         " runs, more than the limit of " + std::to_string(kMaxRuns) +
                         " per spec: split it into several specs (or use fewer values per axis)");
  expand(base, origins, axes, 0, top, configs);
  std::map<std::string, size_t> seen;
  std::set<std::string> built;
  for (auto& [cfg, o] : configs) {
    for (auto& [field, value] : overrides) {
      std::string head = field.substr(0, field.find('.'));
      if (std::find(config_field_names().begin(), config_field_names().end(), head) == config_field_names().end()) {
        SGD_THROW(Spec, "--set ", field, ": unknown field '", head, "'", did_you_mean(head, config_field_names()));
      }
      set_path(cfg, field, value);
      o[field] = "--set " + field;
    }
    RunSpec r;
    r.index = e.runs.size();
    r.cfg = read_config(cfg, Reader{path, o, &built});
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
