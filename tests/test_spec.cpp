// Specs: grid expansion, run ids, and every kind of bad spec -> one clear Error(Spec) naming the
// file and the JSON path (with a suggestion for misspelt names).
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.hpp"
#include "exp/result.hpp"
#include "exp/runner.hpp"
#include "exp/spec.hpp"
#include "core/decl.hpp"
#include "data/dataset.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"
#include "train/trainer.hpp"
#include "helpers.hpp"

using namespace sgdbench;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {
std::string write_spec(const std::string& text) {
  static int n = 0;
  auto p =
      fs::temp_directory_path() / ("sgdbench_spec_" + std::to_string(::getpid()) + "_" + std::to_string(n++) + ".json");
  std::ofstream(p) << text;
  return p.string();
}
// A spec's problems are Error(Spec); a model that cannot take the data is Error(Model) (exit 5).
std::string spec_error(const std::string& text, ErrorKind kind = ErrorKind::Spec) {
  auto path = write_spec(text);
  try {
    load_spec(path);
  } catch (const Error& e) {
    CHECK(e.kind() == kind);
    std::string m = e.what();
    CHECK_THAT(m, Contains(path));
    fs::remove(path);
    return m;
  }
  fs::remove(path);
  return "no error";
}
const char* kSynthetic =
    R"("data": {"name": "synthetic", "synthetic": {"shape": [1, 16, 16], "train": 200, "test": 50}})";
}  // namespace

TEST_CASE("grid expansion: axes in order, variants merged, ids stable and distinct", "[spec]") {
  std::string text = std::string(R"({"experiment": "t", "base": {"model": "keras_mnist_mlp", "epochs": 1, )") +
                     kSynthetic +
                     R"(}, "grid": {"variants": [{"label": "SGD", "batch_size": 1},
                                                 {"label": "momentum", "batch_size": 8, "optimizer": {"momentum": 0.9}}],
                                    "lr": [0.1, 0.01], "seed": [1, 2, 3]}})";
  auto path = write_spec(text);
  auto e = load_spec(path);
  REQUIRE(e.runs.size() == 12);
  CHECK(e.runs[0].cfg.label == "SGD");
  CHECK(e.runs[0].cfg.lr == 0.1);
  CHECK(e.runs[1].cfg.seed == 2);  // last axis fastest
  CHECK(e.runs[11].cfg.optimizer.momentum == 0.9);
  CHECK(e.runs[11].cfg.batch_size == 8);
  CHECK(e.runs[0].cfg.optimizer.momentum == 0);
  std::set<std::string> ids;
  for (auto& r : e.runs) ids.insert(r.id);
  CHECK(ids.size() == 12);
  CHECK(load_spec(path).runs[5].id == e.runs[5].id);
  // A dotted axis sets a nested field; a default label names the method.
  auto e2 = parse_spec(nlohmann::ordered_json::parse(R"({"experiment": "u", "base": {"batch_size": "full"},
      "grid": {"optimizer.momentum": [0, 0.9]}})"),
                       "inline");
  CHECK(e2.runs[1].cfg.optimizer.momentum == 0.9);
  CHECK(e2.runs[0].cfg.label == "GD");
  CHECK(e2.runs[1].cfg.label == "GD + momentum 0.9");
  // A variant's own grid expands inside that variant only.
  auto e3 = parse_spec(nlohmann::ordered_json::parse(R"({"experiment": "v", "grid": {"variants": [
      {"label": "GD", "batch_size": "full", "grid": {"lr": [0.1, 0.5]}}, {"label": "SGD", "batch_size": 1}],
      "seed": [1, 2]}})"),
                       "inline");
  REQUIRE(e3.runs.size() == 6);
  CHECK(e3.runs[3].cfg.lr == 0.5);
  CHECK(e3.runs[3].cfg.seed == 2);
  CHECK(e3.runs[4].cfg.label == "SGD");
  CHECK(e3.runs[4].cfg.lr == 0.01);
  fs::remove(path);
}

TEST_CASE("bad specs name the file and the JSON path", "[spec][bad]") {
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"lr": 0.1, "epoch": 3}})"),
             Contains("base.epoch") && Contains("unknown field 'epoch'") && Contains("did you mean 'epochs'"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"epochs": "three"}})"),
             Contains("base.epochs") && Contains("expected integer in [1, 1000000]"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "grid": {"lr": []}})"), Contains("grid.lr") && Contains("empty axis"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "grid": {"lr": [0.1, -0.01]}})"),
             Contains("grid.lr[1]") && Contains("expected number in (0, 1000000]"));
  CHECK_THAT(
      spec_error(R"({"experiment": "x", "grid": {"variants": [{"model": "lenet5"}]}})"),
      Contains("grid.variants[0].model") && Contains("unknown model 'lenet5'") && Contains("did you mean 'lenet'"));
  CHECK_THAT(
      spec_error(R"({"experiment": "x", "base": {"optimizer": {"name": "adamw"}}})"),
      Contains("base.optimizer.name") && Contains("unknown optimizer 'adamw'") && Contains("did you mean 'adam'"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"optimizer": {"name": "adam", "momentum": 0.9}}})"),
             Contains("base.optimizer.momentum") && Contains("unknown field"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"data": {"name": "fashion_mnist"}}})"),
             Contains("base.data.name") && Contains("did you mean 'fashion-mnist'"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"batch_size": 0}})"), Contains("base.batch_size"));
  CHECK_THAT(
      spec_error(
          R"({"experiment": "x", "base": {"data": "cifar10", "model": "keras_mnist_mlp"}, "grid": {"model": ["lenet", "keras_cifar_cnn"]}})"),
      Contains("no error"));
  CHECK_THAT(
      spec_error(
          R"({"experiment": "x", "base": {"model": "lenet", "data": {"name": "synthetic", "synthetic": {"shape": [3, 4, 4]}}}})",
          ErrorKind::Model),
      Contains("base.model") && Contains("layer 'conv1'"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"optimizer": {"name": "sgd", "momentum": -0.5}}})"),
             Contains("base.optimizer.momentum: expected number >= 0"));
  // Declared ranges: a value outside its field's range names the field and the range.
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"epochs": 99999999999999999999}})"),
             Contains("base.epochs: expected integer in [1, 1000000]"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"schedule": {"name": "cosine", "horizon": -1}}})"),
             Contains("base.schedule.horizon: expected number in [0, 1000000]"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"optimizer": {"name": "adam", "eps": -1e-8}}})"),
             Contains("base.optimizer.eps: expected number in (0, 1]"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"data": {"name": "synthetic", "synthetic": {"shape": [1, 2.5, 8]}}}})"),
             Contains("base.data.synthetic.shape: expected a list of 3 integers, each in [1, 4096]"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"data": {"name": "mnist", "synthetic": {"train": 5}}}})"),
             Contains("base.data.synthetic: unknown field 'synthetic' of mnist"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {"log_points_per_decade": 2147483647}})"),
             Contains("base.log_points_per_decade: expected integer in [0, 100]"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "grid": {"schedule": ["cosine", "cosin"]}})"),
             Contains("grid.schedule[1]") && Contains("unknown schedule 'cosin'") && Contains("did you mean 'cosine'"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "grid": {"variants": [{"grid": {"lr": [0.1, 0]}}]}})"),
             Contains("grid.variants[0].grid.lr[1]") && Contains("expected number in (0, "));
  CHECK_THAT(spec_error(R"({"experiment": "x", "grid": {"lr": 0.1}})"), Contains("grid.lr") && Contains("list"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "grid": {"learning_rate": [0.1]}})"), Contains("grid.learning_rate"));
  CHECK_THAT(spec_error(R"({"base": {}})"), Contains("experiment") && Contains("missing"));
  CHECK_THAT(spec_error(R"({"experiment": "../evil"})"), Contains("experiment"));
  CHECK_THAT(spec_error("{\"experiment\": \"x\",\n  \"base\": {\"lr\": 0.1,,}\n}"),
             Contains("invalid JSON at line 2, column"));
  CHECK_THAT(spec_error(""), Contains("invalid JSON"));
  try {
    load_spec("/nonexistent/spec.json");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Spec);
    CHECK_THAT(e.what(), Contains("/nonexistent/spec.json") && Contains("cannot read"));
  }
}

TEST_CASE("runner: results written atomically, finished runs skipped, diverged runs are results", "[spec][runner]") {
  std::string text = std::string(R"({"experiment": "resume", "base": {"model": "keras_mnist_mlp", "epochs": 1, )") +
                     kSynthetic + R"(}, "grid": {"lr": [0.05, 1e5], "seed": [1, 2]}})";
  auto path = write_spec(text);
  auto e = load_spec(path);
  RunOptions o;
  o.out_dir = (fs::temp_directory_path() / ("sgdbench_runner_" + std::to_string(::getpid()))).string();
  o.progress = false;
  fs::remove_all(o.out_dir);
  CHECK(run_experiment(e, o) == 0);  // diverged runs do not fail the sweep
  const std::string dir = runs_dir(o, e);
  int diverged = 0;
  for (auto& r : e.runs) {
    auto j = read_json_file(dir + "/" + r.id + ".json");
    REQUIRE(j);
    CHECK(is_finished_result(*j, r.id));
    CHECK((*j)["schema_version"] == kResultSchemaVersion);
    CHECK((*j)["config"] == r.config);
    diverged += (*j)["status"] == "diverged";
  }
  CHECK(diverged == 2);
  // Rerun: nothing recomputed (files untouched); a removed and a corrupt result are recomputed.
  auto t0 = fs::last_write_time(dir + "/" + e.runs[0].id + ".json");
  fs::remove(dir + "/" + e.runs[1].id + ".json");
  std::ofstream(dir + "/" + e.runs[2].id + ".json") << "{\"run_id\": \"" << e.runs[2].id << "\", \"stat";
  // Temp files "<file>.tmp.<host>.<pidns>.<pid>": a dead writer's on this host and in this PID
  // namespace is removed; another host's or namespace's, or a live process's, is left alone.
  const std::string mine = tmp_suffix();
  const std::string here = mine.substr(0, mine.rfind('.') + 1);  // ".tmp.<host>.<pidns>."
  const std::string dead = dir + "/" + e.runs[3].id + ".json" + here + "999999999";
  const std::string other_host = dir + "/" + e.runs[3].id + ".json.tmp.elsewhere.4026531836.1";
  const std::string other_ns = dir + "/" + e.runs[3].id + ".json" +
                               here.substr(0, here.rfind('.', here.size() - 2) + 1) + "123.999999999";
  const std::string live = dir + "/" + e.runs[3].id + ".json" + here + std::to_string(::getppid());
  for (auto* f : {&dead, &other_host, &other_ns, &live}) std::ofstream(*f) << "half";
  CHECK(tmp_is_stale(fs::path(dead).filename().string()));
  CHECK_FALSE(tmp_is_stale(fs::path(live).filename().string()));
  CHECK(run_experiment(e, o) == 0);
  CHECK(fs::last_write_time(dir + "/" + e.runs[0].id + ".json") == t0);
  for (auto& r : e.runs) CHECK(is_finished_result(*read_json_file(dir + "/" + r.id + ".json"), r.id));
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(other_host));
  CHECK(fs::exists(other_ns));
  CHECK(fs::exists(live));
  for (auto* f : {&other_host, &other_ns, &live}) fs::remove(*f);
  // --force recomputes.
  o.force = true;
  CHECK(run_experiment(e, o) == 0);
  CHECK(fs::last_write_time(dir + "/" + e.runs[0].id + ".json") != t0);
  // Shards partition the grid.
  o.force = false;
  o.shard_count = 2;
  o.shard_index = 1;
  fs::remove_all(o.out_dir);
  CHECK(run_experiment(e, o) == 0);
  CHECK_FALSE(fs::exists(dir + "/" + e.runs[0].id + ".json"));
  CHECK(fs::exists(dir + "/" + e.runs[1].id + ".json"));
  fs::remove_all(o.out_dir);
  fs::remove(path);
}

// The structs' member defaults and the declarations' defaults are written in two places (the
// struct for configs built in code, the declaration for specs): they must agree.
TEST_CASE("declared defaults equal the config structs' defaults", "[spec][decl]") {
  auto fields_of = [](nlohmann::json j) {
    j.erase("name");
    return j;
  };
  for (auto& d : optimizer_decls()) {
    OptimizerConfig c;
    c.name = d.name;
    INFO("optimizer " << d.name);
    CHECK(fields_of(c.to_json()) == resolve_fields(d, nullptr, "t", "", ErrorKind::Spec));
  }
  for (auto& d : schedule_decls()) {
    ScheduleConfig c;
    c.name = d.name;
    INFO("schedule " << d.name);
    CHECK(fields_of(c.to_json()) == resolve_fields(d, nullptr, "t", "", ErrorKind::Spec));
  }
  for (auto& d : dataset_decls()) {
    DataConfig c;
    c.name = d.name;
    INFO("data set " << d.name);
    auto resolved = resolve_fields(d, nullptr, "t", "", ErrorKind::Spec);
    if (resolved.contains("dir")) resolved["dir"] = default_data_dir(d.name);  // to_json names the place read
    CHECK(fields_of(c.to_json()) == resolved);
  }
  TrainConfig t;
  auto canon = t.to_json();
  auto resolved = resolve_fields(config_decl(), nullptr, "t", "", ErrorKind::Spec);
  // Fields added after the first results ("parallel", "clip", "log_grad_norms", "noise_scale",
  // "augment") are left out of the canonical config at their defaults (run ids of ordinary runs
  // do not change); set, they are written.
  const std::set<std::string> omitted{"parallel", "clip", "log_grad_norms", "noise_scale", "augment"};
  for (auto& [k, v] : resolved.items()) {
    INFO("config field " << k);
    if (omitted.count(k)) {
      CHECK(!canon.contains(k));
      continue;
    }
    CHECK(canon.at(k) == v);
  }
  t.data_parallel = 2;
  CHECK(t.to_json().at("parallel") == nlohmann::json{{"data", 2}});
  t.clip_norm = 1, t.log_grad_norms = true, t.noise_every = 100, t.hflip = true;
  auto set = t.to_json();
  CHECK(set.at("clip") == nlohmann::json{{"norm", 1.0}, {"value", 0.0}});
  CHECK(set.at("log_grad_norms") == true);
  CHECK(set.at("noise_scale").at("every_steps") == 100);
  CHECK(set.at("augment") == nlohmann::json{{"crop_pad", 0}, {"hflip", true}});
  // Every field a config may have is declared somewhere and is in the canonical config.
  for (auto& f : config_field_names()) CHECK((canon.contains(f) || omitted.count(f)));
}

TEST_CASE("the data set's shape comes from its files", "[spec][data]") {
  // A directory of IDX files holding 20x12 images: a model for 28x28 inputs must be refused.
  auto dir = fs::temp_directory_path() / ("sgdbench_idx_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto idx = [&](const std::string& name, std::vector<int> dims) {
    std::ofstream f(dir / name, std::ios::binary);
    unsigned char magic[4] = {0, 0, 8, (unsigned char)dims.size()};
    f.write((char*)magic, 4);
    size_t n = 1;
    for (int d : dims) {
      unsigned char b[4] = {0, 0, (unsigned char)(d >> 8), (unsigned char)d};
      f.write((char*)b, 4);
      n *= size_t(d);
    }
    std::vector<char> zeros(n, 0);
    f.write(zeros.data(), std::streamsize(n));
  };
  idx("train-images-idx3-ubyte", {4, 20, 12});
  idx("train-labels-idx1-ubyte", {4});
  idx("t10k-images-idx3-ubyte", {2, 20, 12});
  idx("t10k-labels-idx1-ubyte", {2});
  DataConfig d;
  d.name = "mnist";
  d.dir = dir.string();
  auto info = probe_dataset(d);
  REQUIRE(info.has_value());
  CHECK(info->shape == Shape{1, 20, 12});
  const std::string data = R"("data": {"name": "mnist", "dir": ")" + dir.string() + R"("})";
  // the MLP fits any image; a 13x13 kernel does not fit 12 columns.
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {)" + data +
                            R"(, "model": {"name": "wide", "layers": [{"conv": {"out": 2, "kernel": 13}}, {"flatten": {}}, {"dense": {"out": "classes"}}]}}})",
                        ErrorKind::Model),
             Contains("base.model") && Contains("12"));
  CHECK_THAT(spec_error(R"({"experiment": "x", "base": {)" + data + R"(, "model": "keras_mnist_mlp"}})"),
             Contains("no error"));
  // Files that cannot be read yet: validation defers to loading (which names the file).
  d.dir = (dir / "missing").string();
  CHECK_FALSE(probe_dataset(d).has_value());
  fs::remove_all(dir);
}
