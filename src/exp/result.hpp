// Result files: one JSON per run (schema in results/README.md, results/schema.json), written
// atomically (temporary file in the same directory, fsync, rename), with provenance.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "exp/spec.hpp"

namespace sgdbench {

// 2: config.model is the resolved model description (was the zoo name), config.model_name added.
inline constexpr int kResultSchemaVersion = 2;

// sgdbench version and git commit, oneDNN version and ISA, compiler, threads, CPU, host, times.
nlohmann::json provenance(int threads, const std::string& started, const std::string& finished);
std::string utc_now();  // ISO 8601, seconds

nlohmann::json make_result(const Experiment& e, const RunSpec& r, const TrainResult& t, const nlohmann::json& prov);

// Throws Error(Io) naming the path when the file cannot be written.
// Temporary files are "<target>.tmp.<host>.<pid namespace>.<pid>": tmp_suffix() is this
// process's. tmp_is_stale(name) is true only for a temp file of a writer provably dead: same
// host, same PID namespace, pid no longer running. Another host's or container's temp files are
// never judged stale (a shared output directory must not lose a live writer's file).
std::string tmp_suffix();
std::string this_host_name();  // gethostname(), as one file-name component
bool tmp_is_stale(const std::string& filename);

void write_json_atomic(const std::string& path, const nlohmann::json& j);
// The parsed file, or nullopt when missing or not valid JSON.
std::optional<nlohmann::json> read_json_file(const std::string& path);
// True for a result file that holds a finished run (any terminal status).
bool is_finished_result(const nlohmann::json& j, const std::string& run_id);

}  // namespace sgdbench
