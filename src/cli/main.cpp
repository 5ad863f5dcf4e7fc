// sgdbench CLI: parses arguments, calls the library, maps errors to exit codes. Nothing else.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "core/error.hpp"
#include "dnnl/context.hpp"
#include "model/zoo.hpp"
#include "sgdbench/build_info.hpp"

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

void cmd_info() {
  std::printf("sgdbench   %s (git %s)\n", kVersion, kGitCommit);
  std::printf("oneDNN     %s\n", dnnl_ctx::version().c_str());
  std::printf("ISA        %s\n", dnnl_ctx::isa().c_str());
  std::printf("threads    %d (of %d hardware threads)\n", dnnl_ctx::threads(), dnnl_ctx::hardware_threads());
  std::printf("CPU        %s\n", dnnl_ctx::cpu_model().c_str());
#if defined(__clang__)
  std::printf("compiler   clang %s\n", __clang_version__);
#elif defined(__GNUC__)
  std::printf("compiler   gcc %s\n", __VERSION__);
#endif
}

void print_model(const Network& net, const std::string& summary) {
  std::printf("%s — %s\n", net.model().c_str(), summary.c_str());
  std::printf("  input %s, %lld classes, %lld parameters, %.3f forward MFLOP per image\n", net.input_shape().str().c_str(),
              (long long)net.classes(), (long long)net.param_count(), net.forward_flops() / 1e6);
  size_t r = 0;
  auto& refs = net.param_refs();
  for (size_t i = 0; i < net.layers().size(); ++i) {
    int64_t np = 0;
    for (; r < refs.size() && refs[r].layer == i; ++r) np += int64_t(refs[r].count);
    std::printf("    %-8s %-18s -> %-10s %8lld params\n", net.layers()[i]->name().c_str(),
                net.layers()[i]->describe().c_str(), net.output_shapes()[i].str().c_str(), (long long)np);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sgdbench: train image classifiers with gradient descent on CPU (oneDNN) and benchmark it.\n"
               "Compare GD, SGD, mini-batch and momentum; measure training speed."};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "oneDNN/OpenMP threads (default: all cores)")->check(CLI::NonNegativeNumber);

  auto* info = app.add_subcommand("info", "Print sgdbench and oneDNN versions, ISA, threads and CPU");
  auto* models = app.add_subcommand("models", "List the model zoo: input shape, parameters, MFLOP, layers");
  std::string model_name, input;
  int64_t classes = 10;
  models->add_option("--model", model_name, "Show only this model");
  models->add_option("--input", input, "Input shape CxHxW (default: the model's tutorial shape)");
  models->add_option("--classes", classes, "Number of classes")->check(CLI::PositiveNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(ErrorKind::Usage);
  }

  try {
    dnnl_ctx::set_threads(threads);
    if (*info) cmd_info();
    if (*models) {
      for (auto& e : zoo()) {
        if (!model_name.empty() && e.name != model_name) continue;
        Shape in = input.empty() ? e.default_input : parse_shape(input);
        print_model(*build_model(e.name, in, classes), e.summary);
      }
      if (!model_name.empty()) zoo_entry(model_name);  // unknown name -> error
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "sgdbench: %s: %s\n", to_string(e.kind()), e.what());
    return e.exit_code();
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "sgdbench: oneDNN error: %s (status %d)\n", e.what(), int(e.status));
    return static_cast<int>(ErrorKind::Internal);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sgdbench: internal error: %s\n", e.what());
    return static_cast<int>(ErrorKind::Internal);
  }
}
