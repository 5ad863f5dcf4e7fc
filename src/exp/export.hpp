// Exports finished results to other tools' formats: CSV (one row per logged point, for pandas and
// spreadsheets) and DeepOBS's result layout (so deepobs.analyzer's plots and rankings run on
// sgdbench runs). Reads result files only; never changes them. Not: plotting.
#pragma once
#include <string>

namespace sgdbench {

struct ExportSummary {
  int runs = 0, rows = 0, skipped = 0;  // rows: CSV rows or DeepOBS files
  std::string written;                  // the file or directory written
};

// `dir`: an experiment directory (holding runs/) or a results root holding several.
// CSV to out_file ("-" = stdout). Error(Io/Usage) naming the path when nothing can be read.
ExportSummary export_csv(const std::string& dir, const std::string& out_file);

// DeepOBS: <out>/<testproblem>/<optimizer>/<setting>/random_seed__<seed>__<date>.json, as
// DeepOBS 1.2's runners write them (abstract_runner.py: _post_process_output, write_output).
// testproblem: "" = derived from the data set and model (fmnist_mlp, cifar10_3c3d, ...).
ExportSummary export_deepobs(const std::string& dir, const std::string& out_dir, const std::string& testproblem = "");

// DeepOBS's float2str: "{:.10e}" with the mantissa's trailing zeros removed (0.01 -> "1.e-02").
std::string deepobs_float(double v);

}  // namespace sgdbench
