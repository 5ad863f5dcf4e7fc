// sgdbench CLI: parses arguments, calls the library, maps errors to exit codes. Nothing else.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <optional>
#include <iostream>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/interrupt.hpp"
#include "data/dataset.hpp"
#include "dist/world.hpp"
#include "dnnl/context.hpp"
#include "exp/export.hpp"
#include "exp/runner.hpp"
#include "exp/result.hpp"
#include "exp/spec.hpp"
#include "layers/registry.hpp"
#include "model/zoo.hpp"
#include "sgdbench/build_info.hpp"
#include "train/lr_find.hpp"

using namespace sgdbench;

namespace {

Shape parse_shape(const std::string& s) {
  Shape sh;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t x = s.find('x', pos);
    std::string part = s.substr(pos, x == std::string::npos ? std::string::npos : x - pos);
    try {
      size_t used = 0;
      long long v = std::stoll(part, &used);
      if (used != part.size() || v <= 0) throw std::invalid_argument(part);
      sh.dims.push_back(v);
    } catch (const std::exception&) {
      SGD_THROW(Usage, "--input '", s, "': expected CxHxW with positive integers, e.g. 3x32x32");
    }
    if (x == std::string::npos) break;
    pos = x + 1;
  }
  SGD_CHECK(sh.rank() == 3, Usage, "--input '", s, "': expected CxHxW, e.g. 1x28x28");
  return sh;
}

// A --model value names a file when it ends in .json or contains a '/'.
bool is_model_file(const std::string& s) {
  return s.find('/') != std::string::npos || (s.size() > 5 && s.substr(s.size() - 5) == ".json");
}

// Everything a spec or model may name, from the declarations: tools and results/schema.json are
// checked against it (tests/test_tools.py).
nlohmann::json describe_all() {
  nlohmann::json layers = nlohmann::json::array(), zoo_models = nlohmann::json::array();
  for (auto& k : layer_kinds()) layers.push_back(k.decl.describe());
  for (auto& e : zoo()) zoo_models.push_back(e.desc.to_json());
  auto all = [](const std::vector<KindDecl>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (auto& k : v) a.push_back(k.describe());
    return a;
  };
  nlohmann::json statuses = nlohmann::json::array();
  for (auto s : {RunStatus::Completed, RunStatus::Diverged, RunStatus::StoppedAtTarget, RunStatus::BudgetExhausted})
    statuses.push_back(to_string(s));
  return {{"result_schema_version", kResultSchemaVersion},
          {"layers", layers},
          {"models", zoo_models},
          {"inits", {"pytorch_default", "glorot_uniform"}},
          {"config", config_decl().describe()},
          {"config_fields", config_field_names()},
          {"optimizers", all(optimizer_decls())},
          {"schedules", all(schedule_decls())},
          {"data_sets", all(dataset_decls())},
          {"statuses", statuses}};
}

void print_fields(const std::vector<FieldDecl>& fields, int indent) {
  for (auto& f : fields) {
    std::string def = f.def.is_null() ? ", required" : f.object ? "" : ", default " + f.def.dump();
    std::printf("%*s%-20s %s%s; %s\n", indent, "", f.name.c_str(),
                f.object ? "an object" : f.range().c_str(), def.c_str(), f.doc.c_str());
    if (f.object) print_fields(f.object->fields, indent + 4);
  }
}

void print_decls(const char* title, const std::vector<KindDecl>& decls) {
  std::printf("%s:\n", title);
  for (auto& k : decls) {
    if (decls.size() > 1) std::printf("  %-16s %s\n", k.name.c_str(), k.doc.c_str());
    print_fields(k.fields, decls.size() > 1 ? 6 : 2);
  }
}

void cmd_info() {
  std::printf("sgdbench   %s (git %s)\n", kVersion, kGitCommit);
  std::printf("oneDNN     %s\n", dnnl_ctx::version().c_str());
  std::printf("ISA        %s\n", dnnl_ctx::isa().c_str());
  std::printf("threads    %d (of %d hardware threads)\n", dnnl_ctx::threads(), dnnl_ctx::hardware_threads());
  std::printf("CPU        %s\n", dnnl_ctx::cpu_model().c_str());
  std::printf("MPI        %s\n", dist::built_with_mpi() ? ("yes (" + dist::library_version() + ")").c_str()
                                                          : "no (built without MPI: CMake option SGDBENCH_MPI)");
#if defined(__clang__)
  std::printf("compiler   clang %s\n", __clang_version__);
#elif defined(__GNUC__)
  std::printf("compiler   gcc %s\n", __VERSION__);
#endif
}

void print_model(const Network& net, const std::string& summary) {
  std::printf("%s — %s\n", net.model().c_str(), summary.c_str());
  std::printf("  input %s, %lld classes, %lld parameters, %.3f forward MFLOP per image\n",
              net.input_shape().str().c_str(), (long long)net.classes(), (long long)net.param_count(),
              net.forward_flops() / 1e6);
  size_t r = 0;
  auto& refs = net.param_refs();
  for (size_t i = 0; i < net.layers().size(); ++i) {
    int64_t np = 0;
    for (; r < refs.size() && refs[r].layer == i; ++r) np += int64_t(refs[r].count);
    std::printf("    %-12s %-18s -> %-10s %8lld params\n", net.layers()[i]->name().c_str(),
                net.layers()[i]->describe().c_str(), net.output_shapes()[i].str().c_str(), (long long)np);
  }
}

void cmd_data(const std::string& only, const std::string& dir) {
  for (auto& name : known_datasets()) {
    if (!only.empty() && name != only) continue;
    DataConfig c;
    c.name = name;
    c.dir = (only == name) ? dir : "";
    std::string where = name == "synthetic" ? "(generated)" : (c.dir.empty() ? default_data_dir(name) : c.dir);
    std::printf("%-14s looked for in: %s\n", name.c_str(),
                where.empty() ? "(no default: give --data-dir)" : where.c_str());
    if (where.empty()) {
      std::printf("               status: not configured\n");
      continue;
    }
    try {
      auto ds = load_dataset(c);
      std::printf("               status: present; %s, %lld classes, train %lld, test %lld; checksum %s\n",
                  ds.shape.str().c_str(), (long long)ds.classes, (long long)ds.train.size(), (long long)ds.test.size(),
                  ds.checksum.c_str());
    } catch (const Error& e) {
      if (!only.empty()) throw;
      std::printf("               status: not usable: %s\n", e.what());
    }
  }
  if (!only.empty()) {
    auto& k = known_datasets();
    SGD_CHECK(std::find(k.begin(), k.end(), only) != k.end(), Usage, "unknown data set '", only,
              "' (known: fashion-mnist, mnist, cifar10, synthetic)");
  }
}

// A positive integer environment variable, or -1 when unset or not one.
long env_long(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  return *end == 0 && x >= 0 ? x : -1;
}

// --shard I/N (1-based I) -> 0-based index and count. Inside a Slurm job array (SLURM_ARRAY_TASK_ID
// set): without --shard the shard is the task's position in the array; --shard
// $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT is read as that same position, so arrays numbered
// from 0 (--array=0-3) and from 1 (--array=1-4) both work; --shard 1/1 runs the whole grid.
// slurm_default = false (`train`: one run, e.g. --seed $SLURM_ARRAY_TASK_ID): no automatic shard.
void parse_shard(const std::string& s, RunOptions& o, bool slurm_default) {
  const long id = env_long("SLURM_ARRAY_TASK_ID"), count = env_long("SLURM_ARRAY_TASK_COUNT"),
             min = env_long("SLURM_ARRAY_TASK_MIN"), max = env_long("SLURM_ARRAY_TASK_MAX");
  const long step = std::max(1L, env_long("SLURM_ARRAY_TASK_STEP"));
  int i = 0, n = 0;
  char extra = 0;
  if (!s.empty() && std::sscanf(s.c_str(), "%d/%d%c", &i, &n, &extra) != 2)
    SGD_THROW(Usage, "--shard '", s, "': expected I/N with 1 <= I <= N, e.g. 2/4");
  const bool in_array = id >= 0 && count >= 1 && min >= 0 && id >= min && (id - min) % step == 0 &&
                        (id - min) / step < count;
  if (in_array && ((s.empty() && slurm_default) || (!s.empty() && i == id && n == count))) {
    o.shard_index = int((id - min) / step);
    o.shard_count = int(count);
    o.shard_note = "Slurm array task " + std::to_string(id) + " of " + std::to_string(min) + "-" +
                   std::to_string(max) + (step > 1 ? ":" + std::to_string(step) : "");
    return;
  }
  if (s.empty()) return;
  if (n < 1 || i < 1 || i > n) SGD_THROW(Usage, "--shard '", s, "': expected I/N with 1 <= I <= N, e.g. 2/4");
  o.shard_index = i - 1;
  o.shard_count = n;
}

void report(const Error& e) { std::fprintf(stderr, "sgdbench: %s: %s\n", to_string(e.kind()), e.what()); }

// An error that ends one rank of several ends them all (MPI_Abort): the others would wait forever.
int stop_all(int code) {
  if (dist::world().size > 1) dist::abort_all(code);
  return code;
}

nlohmann::ordered_json parse_value(const std::string& v) {
  try {
    return nlohmann::ordered_json::parse(v, json_depth_limit<nlohmann::ordered_json>("--set value", ErrorKind::Usage));
  } catch (const nlohmann::json::exception&) {
    return v;  // a bare word is a string
  }
}

Overrides parse_sets(const std::vector<std::string>& sets) {
  Overrides o;
  for (auto& kv : sets) {
    auto eq = kv.find('=');
    SGD_CHECK(eq != std::string::npos && eq > 0, Usage, "--set '", kv, "': expected FIELD=VALUE");
    o.emplace_back(kv.substr(0, eq), parse_value(kv.substr(eq + 1)));
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "sgdbench: train image classifiers with gradient descent on CPU (oneDNN) and benchmark it.\n"
      "Compare GD, SGD, mini-batch and momentum; measure training speed."};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "oneDNN/OpenMP threads, 0-1024 (default 0: all cores)")->check(CLI::Range(0, 1024));
  bool keep_denormals = false;
  app.add_flag("--keep-denormals", keep_denormals,
               "Compute with IEEE denormals (slow; default: flush them to zero, FTZ+DAZ, in every thread; "
               "recorded in results as provenance.flush_denormals)");

  auto* info = app.add_subcommand("info", "Print sgdbench and oneDNN versions, ISA, threads and CPU");
  auto* models = app.add_subcommand(
      "models", "List the model zoo, or describe a model file: input shape, parameters, MFLOP, layers");
  std::string model_name, input;
  int64_t classes = 10;
  bool models_json = false;
  models->add_option("--model", model_name, "Show only this model: a zoo name or a model description file (.json)");
  models->add_flag("--json", models_json, "Print the resolved description (every field, defaults filled) as JSON");
  models->add_option("--input", input, "Input shape CxHxW (default: the model's tutorial shape)");
  models->add_option("--classes", classes, "Number of classes, 2-1000")->check(CLI::Range(2, 1000));

  RunOptions ropt;
  std::string shard, spec_path;
  auto add_run_options = [&](CLI::App* c) {
    c->add_option("--out", ropt.out_dir, "Results root: writes OUT/<experiment>/runs/<run-id>.json")
        ->capture_default_str();
    c->add_option("--jobs", ropt.jobs, "Runs side by side, 1-1024; the threads are split between them")
        ->check(CLI::Range(1, 1024));
    c->add_option("--shard", shard,
                  "Run only slice I of N of the grid (I/N, 1-based), deterministic. In a Slurm job array the "
                  "default is the task's slice (SLURM_ARRAY_TASK_ID/COUNT, from 0 or 1); --shard 1/1 runs all");
    c->add_flag("--dry-run", ropt.dry_run, "Print the plan (runs, ids, what is done) and exit");
    c->add_flag("--force", ropt.force, "Recompute runs that already have a finished result");
    c->add_flag("--allow-mixed", ropt.allow_mixed,
                "Add runs to an experiment directory that holds runs of a different spec (else a spec error)");
    c->add_flag(
        "--quiet", [&](int64_t) { ropt.progress = false; }, "No progress lines");
  };
  auto* run =
      app.add_subcommand("run", "Run an experiment spec (a grid of runs); resumable: finished runs are skipped");
  run->add_option("spec", spec_path, "Experiment spec (JSON), e.g. experiments/quickstart.json")->required();
  add_run_options(run);
  std::vector<std::string> sets;
  run->add_option("--set", sets,
                  "Set a field in every run, e.g. --set data.dir=/data/cifar-10-batches-bin --set epochs=1");
  auto* validate = app.add_subcommand("validate", "Check a spec without running it: fields, types, values, shapes");
  validate->add_option("spec", spec_path, "Experiment spec (JSON)")->required();
  validate->add_option("--set", sets, "As for run");

  auto* trn = app.add_subcommand("train", "One training run from flags (same field names as specs)");
  auto* lrf = app.add_subcommand(
      "lr-find",
      "Learning-rate range test (Smith; fastai's lr_find): train with the lr growing exponentially from --start "
      "to --end, record the loss of every step, suggest the lr where the smoothed loss falls fastest. Writes a "
      "JSON file; plot it with: /usr/bin/python3 tools/plot.py FILE");
  std::string t_model = "lenet", t_data = "fashion-mnist", t_dir, t_opt = "sgd", t_batch = "32", t_label,
              t_exp = "train";
  double t_lr = 0.01, t_mom = 0;
  int64_t t_epochs = 1, t_seed = 1, t_limit = 0;
  bool t_nesterov = false, t_data_parallel = false;
  std::vector<std::string> t_set;
  auto add_model_flags = [&](CLI::App* c) {
    c->add_option("--model", t_model, "Zoo model (sgdbench models)")->capture_default_str();
    c->add_option("--data", t_data, join(known_datasets(), " | "))->capture_default_str();
    c->add_option("--data-dir", t_dir, "Directory of the data files (mnist, cifar10)");
    c->add_option("--optimizer", t_opt, join(optimizer_names(), " | "))->capture_default_str();
    c->add_option("--momentum", t_mom, "SGD/RMSprop momentum")->capture_default_str();
    c->add_flag("--nesterov", t_nesterov, "Nesterov momentum (sgd)");
    c->add_option("--batch-size", t_batch, "1 (SGD), B (mini-batch) or full (GD)")->capture_default_str();
    c->add_option("--lr", t_lr, "Learning rate")->capture_default_str();
    c->add_option("--epochs", t_epochs, "Epoch budget")->capture_default_str();
    c->add_option("--seed", t_seed, "Seed for init, shuffle and dropout")->capture_default_str();
    c->add_option("--limit", t_limit, "Use the first N training samples (0 = all)")->check(CLI::Range(0, 100000000));
    c->add_option("--label", t_label, "Method label for plots");
    c->add_option("--set", t_set, "Any spec field, e.g. --set schedule.name=cosine --set target_acc=0.8");
  };
  add_model_flags(trn);
  add_model_flags(lrf);
  trn->add_flag("--data-parallel", t_data_parallel,
                "Under mpirun -n N: the N ranks train this one run together (parallel.data = N): each computes "
                "the gradient of its slice of every batch, one all-reduce per step");
  trn->add_option("--experiment", t_exp, "Experiment name for the result directory")->capture_default_str();
  add_run_options(trn);
  LrFindConfig lf;
  std::string lf_out;
  lrf->add_option("--start", lf.start, "First learning rate")->capture_default_str();
  lrf->add_option("--end", lf.end, "Last learning rate")->capture_default_str();
  lrf->add_option("--steps", lf.steps, "Steps from --start to --end, 3-1e6")->capture_default_str()->check(
      CLI::Range(int64_t(3), int64_t(1000000)));
  lrf->add_option("--diverge", lf.diverge, "Stop once the smoothed loss exceeds this times its minimum (> 1)")
      ->capture_default_str()
      ->check(CLI::Range(1.000001, 1e6));
  lrf->add_option("--out", ropt.out_dir, "Results root for the default --output")->capture_default_str();
  lrf->add_option("--output", lf_out, "JSON file to write (default results/lr_find/<model>_<data>_b<batch>.json)");

  auto* exp = app.add_subcommand(
      "export", "Export finished results: csv (one row per logged point) or deepobs (DeepOBS's result layout)");
  std::string ex_dir, ex_format = "csv", ex_out, ex_problem;
  exp->add_option("dir", ex_dir, "An experiment directory (e.g. results/quickstart) or a results root")->required();
  exp->add_option("--format", ex_format, "csv | deepobs")->check(CLI::IsMember({"csv", "deepobs"}))->capture_default_str();
  exp->add_option("--output", ex_out, "csv: file (default DIR/export.csv; - = stdout); deepobs: directory "
                                      "(default DIR/deepobs)");
  exp->add_option("--testproblem", ex_problem, "deepobs: the test-problem folder (default from data and model, "
                                               "e.g. fmnist_mlp, cifar10_3c3d)");

  auto* describe = app.add_subcommand(
      "describe", "Print every name a spec or model may use (layer kinds and their fields, zoo models, optimizers...)");
  bool describe_json = false;
  describe->add_flag("--json", describe_json, "As JSON (what tools and results/schema.json are checked against)");
  auto* data =
      app.add_subcommand("data", "List the data sets: where each is looked for, presence, shape, sizes, checksum");
  std::string d_name, d_dir;
  data->add_option("--name", d_name, "Only this data set");
  data->add_option("--data-dir", d_dir, "Directory to read it from (with --name)");

  app.footer(
      "Exit codes: 0 ok (a diverged run is a result), 1 internal error, 2 usage, 3 spec, 4 data, 5 model,\n"
      "7 i/o, 130/143 stopped by SIGINT/SIGTERM (finished runs kept; rerun to resume). Run 'sgdbench COMMAND --help' for the options of each command.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // One line like every other error, naming where to read the options.
    std::string help = "sgdbench --help";
    for (auto* sub : app.get_subcommands()) help = "sgdbench " + sub->get_name() + " --help";
    std::fprintf(stderr, "sgdbench: usage error: %s (see '%s')\n", e.what(), help.c_str());
    return static_cast<int>(ErrorKind::Usage);
  }

  try {
    install_interrupt_handlers();
    dnnl_ctx::set_flush_denormals(!keep_denormals);
    dnnl_ctx::set_threads(threads);
    ropt.threads = threads;
    if (*info) cmd_info();
    if (*describe) {
      auto d = describe_all();
      if (describe_json) {
        std::printf("%s\n", d.dump(2).c_str());
      } else {
        std::vector<KindDecl> layers;
        for (auto& k : layer_kinds()) layers.push_back(k.decl);
        print_decls("Run config fields (spec \"base\", grid axes, variants, --set)", {config_decl()});
        print_decls("Layer kinds (model descriptions: {\"kind\": {fields}})", layers);
        print_decls("Optimizers (\"optimizer\": {\"name\": ..., fields})", optimizer_decls());
        print_decls("Schedules (\"schedule\": {\"name\": ..., fields})", schedule_decls());
        print_decls("Data sets (\"data\": {\"name\": ..., fields})", dataset_decls());
        std::printf("Zoo models: %s\n", join(zoo_names()).c_str());
      }
    }
    if (*data) cmd_data(d_name, d_dir);
    if (*validate) {
      auto e = load_spec(spec_path, parse_sets(sets));
      std::printf("%s: valid; experiment '%s', %zu runs\n", spec_path.c_str(), e.name.c_str(), e.runs.size());
    }
    // The run config the `train` and `lr-find` flags describe (lr: lr-find's first rate).
    auto flags_config = [&](double lr) {
      nlohmann::ordered_json c = {{"model", t_model}, {"lr", lr}, {"epochs", t_epochs}, {"seed", t_seed}};
      c["data"] = {{"name", t_data}};
      if (!t_dir.empty()) c["data"]["dir"] = t_dir;
      if (t_limit > 0) c["data"]["limit"] = t_limit;
      c["optimizer"] = {{"name", t_opt}};
      if (t_mom != 0) c["optimizer"]["momentum"] = t_mom;
      if (t_nesterov) c["optimizer"]["nesterov"] = true;
      c["batch_size"] = t_batch == "full" ? nlohmann::ordered_json("full") : parse_value(t_batch);
      if (!t_label.empty()) c["label"] = t_label;
      return c;
    };
    if (*exp) {
      auto r = ex_format == "csv"
                   ? export_csv(ex_dir, ex_out.empty() ? ex_dir + "/export.csv" : ex_out)
                   : export_deepobs(ex_dir, ex_out.empty() ? ex_dir + "/deepobs" : ex_out, ex_problem);
      std::fprintf(stderr, "sgdbench: exported %d runs (%d %s) to %s%s\n", r.runs, r.rows,
                   ex_format == "csv" ? "rows" : "files", r.written.c_str(),
                   r.skipped ? (" (" + std::to_string(r.skipped) + " unfinished or unreadable files skipped)").c_str()
                             : "");
    }
    if (*lrf) {
      auto e = parse_spec({{"experiment", "lr_find"}, {"base", flags_config(lf.start)}}, kCommandLineSpec,
                          parse_sets(t_set));
      const auto& cfg = e.runs.at(0).cfg;
      SGD_CHECK(cfg.batch_size != 0, Usage, "lr-find: needs mini-batches (--batch-size B), not full batch");
      auto data = load_dataset(cfg.data);
      const std::string started = utc_now();
      auto r = lr_find(cfg, data, lf);
      std::string out = lf_out.empty() ? ropt.out_dir + "/lr_find/" + cfg.model.name + "_" + cfg.data.name + "_b" +
                                             std::to_string(cfg.batch_size) + ".json"
                                       : lf_out;
      if (auto parent = std::filesystem::path(out).parent_path(); !parent.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(parent, ec);
        SGD_CHECK(!ec, Io, parent.string(), ": cannot create: ", ec.message());
      }
      nlohmann::json doc = {{"schema_version", kResultSchemaVersion},
                            {"kind", "lr_find"},
                            {"config", e.runs.at(0).config},
                            {"range", {{"start", lf.start}, {"end", lf.end}, {"steps", lf.steps},
                                       {"smooth", lf.smooth}, {"diverge", lf.diverge}}},
                            {"provenance", provenance(dnnl_ctx::threads(), started, utc_now())}};
      doc.update(r.to_json());
      write_json_atomic(out, doc);
      char sug[96] = "no suggestion (the smoothed loss never fell: widen --start/--end or add --steps)";
      if (r.suggested > 0) std::snprintf(sug, sizeof sug, "suggested lr %.3g (steepest descent)", r.suggested);
      std::printf("lr-find: %zu steps (%s); smoothed loss lowest at lr %.3g; %s\n"
                  "wrote %s; plot: /usr/bin/python3 tools/plot.py %s\n",
                  r.lr.size(), r.stop_reason.c_str(), r.min_loss_lr, sug, out.c_str(), out.c_str());
    }
    if (*run || *trn) {
      const auto& world = dist::init(&argc, &argv);
      // MPI is finalised on the normal return below only: an error leaving this block must reach
      // stop_all (MPI_Abort) with MPI still up, or the other ranks would wait forever.
      // `train`: a one-run spec from the flags.
      auto train_experiment = [&] {
        nlohmann::ordered_json c = flags_config(t_lr);
        if (t_data_parallel) c["parallel"] = {{"data", world.size}};
        nlohmann::ordered_json spec = {{"experiment", t_exp}, {"base", c}};
        return parse_spec(spec, kCommandLineSpec, parse_sets(t_set));
      };
      // Every rank reads the spec; with several ranks the lowest one that cannot says why and all
      // stop with its exit code (no rank is left waiting for one that is gone).
      std::optional<Experiment> ex;
      std::optional<Error> failed;
      try {
        parse_shard(shard, ropt, bool(*run));
        SGD_CHECK(!t_data_parallel || world.size > 1, Usage,
                  "--data-parallel needs several MPI ranks (mpirun -n N sgdbench train ... --data-parallel); this is ",
                  world.size == 1 ? "one process" : "one rank");
        ex = *run ? load_spec(spec_path, parse_sets(sets)) : train_experiment();
        check_parallel(*ex, ropt);
      } catch (const Error& e) {
        if (world.size == 1) throw;
        failed = e;
      }
      if (world.size > 1) {
        auto f = dist::first_failure(failed ? failed->exit_code() : 0);
        if (f.rank == world.rank) report(*failed);
        if (f.rank >= 0) return f.code;
      }
      const int rc = run_experiment(*ex, ropt);
      dist::finalize();
      return rc;
    }
    if (*models) {
      std::vector<ModelDesc> list;
      if (model_name.empty())
        for (auto& e : zoo()) list.push_back(e.desc);
      else
        list.push_back(is_model_file(model_name) ? load_model_file(model_name) : zoo_model(model_name));
      for (auto& d : list) {
        SGD_CHECK(!input.empty() || d.input.rank() == 3, Usage, d.source_file,
                  ": the model gives no \"input\" shape: pass --input CxHxW");
        Shape in = input.empty() ? d.input : parse_shape(input);
        auto net = build_network(d, in, classes);
        if (models_json) {
          nlohmann::json j = d.to_json();
          j["input"] = in.dims, j["classes"] = classes, j["parameters"] = net->param_count();
          j["forward_flops_per_image"] = net->forward_flops();
          std::printf("%s\n", j.dump(2).c_str());
        } else {
          print_model(*net, d.summary.empty() ? d.source_file : d.summary);
        }
      }
    }
    return 0;
  } catch (const Error& e) {
    report(e);
    return stop_all(e.exit_code());
  } catch (const Interrupted& s) {
    std::fprintf(stderr, "sgdbench: %s\n", s.what());
    return s.exit_code();
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "sgdbench: oneDNN error: %s (status %d)\n", e.what(), int(e.status));
    return stop_all(static_cast<int>(ErrorKind::Internal));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sgdbench: internal error: %s\n", e.what());
    return stop_all(static_cast<int>(ErrorKind::Internal));
  }
}
