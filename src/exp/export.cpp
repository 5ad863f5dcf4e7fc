// CSV and DeepOBS exports of result files (see export.hpp).
#include "exp/export.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "exp/result.hpp"
#include "exp/spec.hpp"

namespace sgdbench {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Every finished result under dir (an experiment directory or a results root), sorted by path.
std::vector<json> finished_results(const std::string& dir, int& skipped) {
  SGD_CHECK(fs::is_directory(dir), Usage, dir, ": not a directory (give an experiment directory, e.g. ",
            "results/quickstart, or a results root)");
  std::vector<fs::path> run_dirs;
  if (fs::is_directory(fs::path(dir) / "runs")) {
    run_dirs.push_back(fs::path(dir) / "runs");
  } else {
    for (auto& e : fs::directory_iterator(dir))
      if (fs::is_directory(e.path() / "runs")) run_dirs.push_back(e.path() / "runs");
  }
  SGD_CHECK(!run_dirs.empty(), Usage, dir, ": no runs/ directory here or one level down: nothing to export");
  std::sort(run_dirs.begin(), run_dirs.end());
  std::vector<json> out;
  for (auto& rd : run_dirs) {
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(rd))
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      auto j = read_json_file(f.string());
      if (!j || !is_finished_result(*j, f.stem().string())) {
        ++skipped;
        continue;
      }
      out.push_back(std::move(*j));
    }
  }
  return out;
}

// Runs fn(result) for each result; a file whose fields are not what sgdbench writes (missing,
// wrong type) is named on stderr and skipped instead of ending the export.
template <class F>
void each_result(const std::vector<json>& results, ExportSummary& s, F fn) {
  for (auto& r : results) {
    try {
      fn(r);
    } catch (const json::exception& e) {
      std::fprintf(stderr, "sgdbench: warning: %s: not a result sgdbench can export (%s): skipped\n",
                   r.value("run_id", std::string("?")).c_str(), e.what());
      ++s.skipped;
    }
  }
}

std::string csv_field(const json& v) {
  if (v.is_null()) return "";
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

json at_or_null(const json& j, const char* key) { return j.contains(key) ? j.at(key) : json(nullptr); }

}  // namespace

ExportSummary export_csv(const std::string& dir, const std::string& out_file) {
  ExportSummary s;
  const auto results = finished_results(dir, s.skipped);
  static const std::vector<std::string> cols{
      "experiment", "run_id", "label", "model", "data", "optimizer", "momentum", "batch_size", "lr", "seed",
      "status", "kind", "epoch", "step", "samples", "train_seconds", "eval_seconds", "point_lr", "train_loss",
      "test_loss", "test_acc", "val_loss", "val_acc", "train_full_loss", "train_full_acc", "b_simple",
      "grad_norm", "weight_norm"};
  std::string text;
  for (size_t i = 0; i < cols.size(); ++i) text += (i ? "," : "") + cols[i];
  text += "\n";
  each_result(results, s, [&](const json& r) {
    const json& c = r.at("config");
    const json& opt = c.at("optimizer");
    std::string rows;
    int nrows = 0;
    for (auto& h : r.at("history")) {
      json ns = at_or_null(h, "noise_scale"), gn = at_or_null(h, "grad_norms");
      const std::vector<json> row{
          r.at("experiment"), r.at("run_id"), c.at("label"), at_or_null(c, "model_name"), c.at("data").at("name"),
          opt.at("name"), at_or_null(opt, "momentum"), c.at("batch_size"), c.at("lr"), c.at("seed"),
          r.at("status"), h.at("kind"), h.at("epoch"), h.at("step"), h.at("samples"), h.at("train_seconds"),
          h.at("eval_seconds"), h.at("lr"), h.at("train_loss"), h.at("test_loss"), h.at("test_acc"),
          at_or_null(h, "val_loss"), at_or_null(h, "val_acc"), at_or_null(h, "train_full_loss"),
          at_or_null(h, "train_full_acc"), ns.is_object() ? ns.at("b_simple") : json(nullptr),
          gn.is_object() && gn.contains("grad") ? gn.at("grad").at("total") : json(nullptr),
          gn.is_object() ? gn.at("weights").at("total") : json(nullptr)};
      for (size_t i = 0; i < row.size(); ++i) rows += (i ? "," : "") + csv_field(row[i]);
      rows += "\n";
      ++nrows;
    }
    text += rows;  // a run's rows all or none
    s.rows += nrows;
    ++s.runs;
  });
  if (out_file == "-") {
    std::cout << text;
    s.written = "standard output";
  } else {
    std::ofstream f(out_file + ".tmp");
    f << text;
    f.close();
    SGD_CHECK(f.good(), Io, out_file, ": cannot write");
    fs::rename(out_file + ".tmp", out_file);
    s.written = out_file;
  }
  return s;
}

std::string deepobs_float(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";  // Python's str()
  char b[64];
  std::snprintf(b, sizeof b, "%.10e", v);
  std::string s = b;
  const size_t e = s.find('e');
  std::string mant = s.substr(0, e), exp = s.substr(e);
  while (!mant.empty() && mant.back() == '0') mant.pop_back();
  return mant + exp;
}

namespace {

// DeepOBS's names: "<data set>_<problem>", both from its config.py naming tables.
std::string testproblem_of(const json& c) {
  const std::string data = c.at("data").at("name");
  const std::map<std::string, std::string> ds{{"fashion-mnist", "fmnist"}, {"mnist", "mnist"}, {"cifar10", "cifar10"}};
  auto it = ds.find(data);
  SGD_CHECK(it != ds.end(), Usage, "export --format deepobs: data set '", data,
            "' has no DeepOBS name (fashion-mnist, mnist and cifar10 have): give --testproblem, e.g. fmnist_mlp");
  int convs = 0;
  for (auto& l : c.at("model").at("layers"))
    if (l.contains("conv")) ++convs;
  return it->second + "_" + (convs == 0 ? "mlp" : convs <= 2 ? "2c2d" : "3c3d");
}

// DeepOBS's PyTorch runner names the folder after the optimizer class (torch.optim.SGD -> "SGD",
// momentum or not: momentum is a hyperparameter in the setting's folder name).
std::string optimizer_folder(const json& opt) {
  const std::string n = opt.at("name");
  if (n == "sgd") return "SGD";
  if (n == "adagrad") return "Adagrad";
  if (n == "rmsprop") return "RMSprop";
  if (n == "adam") return "Adam";
  if (n == "lbfgs") return "LBFGS";
  return n;
}

// Python's str() of a JSON value, as DeepOBS puts hyperparameters into folder names.
std::string py_str(const json& v) {
  if (v.is_number_float()) return deepobs_float(v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// Per-epoch values of `key` (the epoch points: step 0, then each epoch's end), padded to
// epochs + 1 entries: a run that stopped early (target, budget) repeats its last value; a
// diverged run repeats its first (DeepOBS's _abort_routine).
json pad(json a, int64_t epochs, bool diverged) {
  while (int64_t(a.size()) < epochs + 1) a.push_back(diverged ? a.front() : a.back());
  return a;
}
json per_epoch(const std::vector<const json*>& pts, const char* key, int64_t epochs, bool diverged) {
  json a = json::array();
  for (auto* p : pts) {
    json v = at_or_null(*p, key);
    if (v.is_null() && !a.empty()) v = a.back();
    a.push_back(v);
  }
  return pad(std::move(a), epochs, diverged);
}

// The mean mini-batch loss of each epoch: the train_loss of every point in it (each the mean
// since the point before), weighted by the samples between the points. Entry 0 (before
// training) is `first`.
json epoch_train_losses(const json& history, const json& first) {
  json a = json::array({first});
  double sum = 0, n = 0;
  int64_t prev = 0;
  for (auto& h : history) {
    const int64_t samples = h.at("samples").get<int64_t>();
    if (h.at("train_loss").is_number() && samples > prev) {
      sum += h.at("train_loss").get<double>() * double(samples - prev), n += double(samples - prev);
    }
    prev = samples;
    if (h.at("kind") == "epoch" && h.at("step").get<int64_t>() > 0) {
      a.push_back(n > 0 ? json(sum / n) : a.back());
      sum = 0, n = 0;
    }
  }
  return a;
}

std::string deepobs_date(const json& prov) {  // "2026-12-01T21:03:59Z" -> "2026-12-01-21-03-59"
  std::string s = prov.value("finished", std::string("1970-01-01T00:00:00Z"));
  if (s.size() >= 19) s = s.substr(0, 19);
  for (char& c : s)
    if (c == 'T' || c == ':') c = '-';
  return s;
}

}  // namespace

ExportSummary export_deepobs(const std::string& dir, const std::string& out_dir, const std::string& testproblem) {
  ExportSummary s;
  const auto results = finished_results(dir, s.skipped);
  std::map<std::string, std::string> seeds;  // folder + seed -> run id
  each_result(results, s, [&](const json& r) {
    const json& c = r.at("config");
    const json& opt = c.at("optimizer");
    const std::string tp = testproblem.empty() ? testproblem_of(c) : testproblem;
    const int64_t epochs = std::min<int64_t>(c.at("epochs").get<int64_t>(), 1000000);  // the config's bound
    const int64_t train_n = r.contains("data") ? r.at("data").value("train", int64_t(0)) : 0;
    const int64_t batch = c.at("batch_size").is_string() ? train_n : c.at("batch_size").get<int64_t>();
    const double wd = opt.value("weight_decay", 0.0);
    json hyper = json::object();
    hyper["lr"] = c.at("lr");
    for (auto& [k, v] : opt.items())
      if (k != "name" && k != "weight_decay" && k != "weight_decay_on") hyper[k] = v;
    // Fields DeepOBS has no place for but that tell runs apart go into training_params (and so
    // into the setting's folder name, as DeepOBS does with its own training parameters).
    // The rest of the config (minus the seed and label) as a hash, so that runs differing in a
    // field DeepOBS has no name for (augment, clip, data limits, schedule fields...) never share
    // a setting folder and get averaged as seeds of one setting.
    json rest = c;
    rest.erase("seed"), rest.erase("label");
    json training = {{"sgdbench_model", c.value("model_name", std::string("model"))},
                     {"sgdbench_config", run_id(rest).substr(0, 8)}};
    if (c.at("schedule").at("name") != "constant") training["lr_schedule"] = c.at("schedule").at("name");
    std::string setting = "num_epochs__" + std::to_string(epochs) + "__batch_size__" + std::to_string(batch);
    if (wd > 0) setting += "__weight_decay__" + deepobs_float(wd);
    for (auto& [k, v] : hyper.items()) setting += "__" + k + "__" + py_str(v);  // alphabetical (json object)
    for (auto& [k, v] : training.items()) setting += "__" + k + "__" + py_str(v);
    std::vector<const json*> pts;
    std::vector<double> minibatch;
    for (auto& h : r.at("history")) {
      if (h.at("kind") == "epoch") pts.push_back(&h);
      if (h.at("train_loss").is_number()) minibatch.push_back(h.at("train_loss"));
    }
    if (pts.empty()) throw json::other_error::create(501, "no epoch points in its history", &r);
    const bool diverged = r.at("status") == "diverged";
    const bool full_train = pts.front()->contains("train_full_loss");
    json out = {{"testproblem", tp},
                {"batch_size", batch},
                {"num_epochs", epochs},
                {"random_seed", c.at("seed")},
                {"weight_decay", wd > 0 ? json(wd) : json(nullptr)},
                {"optimizer_name", optimizer_folder(opt)},
                {"optimizer_hyperparams", hyper},
                {"training_params", training}};
    const json first_test = pts.front()->at("test_loss");
    out["train_losses"] = full_train ? per_epoch(pts, "train_full_loss", epochs, diverged)
                                     : pad(epoch_train_losses(r.at("history"), first_test), epochs, diverged);
    if (pts.front()->contains("val_loss")) {
      out["valid_losses"] = per_epoch(pts, "val_loss", epochs, diverged);
      out["valid_accuracies"] = per_epoch(pts, "val_acc", epochs, diverged);
    }
    out["test_losses"] = per_epoch(pts, "test_loss", epochs, diverged);
    out["minibatch_train_losses"] = minibatch;
    if (full_train) {
      out["train_accuracies"] = per_epoch(pts, "train_full_acc", epochs, diverged);
      out["test_accuracies"] = per_epoch(pts, "test_acc", epochs, diverged);
    }
    out["sgdbench"] = {{"run_id", r.at("run_id")},
                       {"experiment", r.at("experiment")},
                       {"label", c.at("label")},
                       {"status", r.at("status")},
                       {"epochs_logged", int64_t(pts.size()) - 1},
                       {"train_losses", full_train ? "train_full_loss (eval_train)"
                                                   : "running mean of mini-batch losses per epoch; entry 0 is the "
                                                     "test loss at step 0"},
                       {"padding", "a run that stopped early repeats its last value, a diverged run its first"}};
    const fs::path folder = fs::path(out_dir) / tp / optimizer_folder(opt) / setting;
    const std::string seed = std::to_string(c.at("seed").get<int64_t>());
    const fs::path file = folder / ("random_seed__" + seed + "__" + deepobs_date(r.at("provenance")) + ".json");
    if (auto it = seeds.find(folder.string() + "|" + seed); it != seeds.end())
      SGD_THROW(Usage, "export --format deepobs: runs ", it->second, " and ", r.at("run_id").get<std::string>(),
                " are the same setting and seed in ", folder.string(),
                " (the same run in two experiments?): export their experiments separately");
    seeds[folder.string() + "|" + seed] = r.at("run_id");
    std::error_code ec;
    fs::create_directories(folder, ec);
    SGD_CHECK(!ec, Io, folder.string(), ": cannot create: ", ec.message());
    write_json_atomic(file.string(), out);
    ++s.runs, ++s.rows;
  });
  s.written = out_dir;
  return s;
}

}  // namespace sgdbench
