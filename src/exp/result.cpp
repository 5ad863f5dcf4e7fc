// Result documents, provenance and atomic writes.
#include "exp/result.hpp"

#include "core/file.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>

#include "core/error.hpp"
#include "dist/world.hpp"
#include "dnnl/context.hpp"
#include "layers/conv_small.hpp"
#include "layers/dense_fused.hpp"
#include "model/network.hpp"
#include "optim/elementwise.hpp"
#include "sgdbench/build_info.hpp"

namespace sgdbench {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

nlohmann::json provenance(int threads, const std::string& started, const std::string& finished) {
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  std::string compiler =
#if defined(__clang__)
      std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
      std::string("gcc ") + __VERSION__;
#else
      "unknown";
#endif
  nlohmann::json p = {{"sgdbench_version", kVersion},
          {"git_commit", kGitCommit},
          {"onednn_version", dnnl_ctx::version()},
          {"onednn_isa", dnnl_ctx::isa()},
          {"compiler", compiler},
          {"threads", threads},
          {"flush_denormals", dnnl_ctx::flush_denormals()},
          {"small_channel_kernels", small_channel_kernels_in_use()},
          {"batch_parallel", Network::batch_parallel()},
          {"sub_batch_bytes", Network::sub_batch_bytes()},
          {"two_lanes", Network::two_lanes()},
          {"update_isa", update_isa_name(update_isa())},
          {"tile_reorder", dnnl_ctx::tile_reorder_enabled()},
          {"fused_update", fused_dense_available()},
          {"cpu_model", dnnl_ctx::cpu_model()},
          {"hardware_threads", dnnl_ctx::hardware_threads()},
          {"host", host},
          {"started", started},
          {"finished", finished}};
  // Where it ran: the MPI world (sweep rank or data-parallel world), the Slurm job and array task.
  if (const auto& w = dist::world(); w.mpi)
    p["mpi"] = {{"rank", w.rank}, {"ranks", w.size}, {"library", dist::library_version()}};
  nlohmann::json slurm = nlohmann::json::object();
  for (const char* v : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_CLUSTER_NAME"})
    if (const char* x = std::getenv(v)) slurm[v] = x;
  if (!slurm.empty()) p["slurm"] = slurm;
  return p;
}

nlohmann::json make_result(const Experiment& e, const RunSpec& r, const TrainResult& t, const nlohmann::json& prov) {
  nlohmann::json h = nlohmann::json::array();
  for (auto& p : t.history) h.push_back(p.to_json());
  return {{"schema_version", kResultSchemaVersion},
          {"run_id", r.id},
          {"experiment", e.name},
          {"spec_file", e.path},
          {"config", r.config},
          {"status", to_string(t.status)},
          {"provenance", prov},
          {"history", h},
          {"summary", t.summary()}};
}

namespace {
std::string this_host() {
  char h[256] = {0};
  if (::gethostname(h, sizeof h - 1) != 0 || !h[0]) return "unknown-host";
  std::string s = h;
  for (char& c : s)
    if (c == '/' || c == '.') c = '_';  // one name component; '.' separates the suffix's fields
  return s;
}
// The inode of this process's PID namespace: a pid means a process only within one namespace.
std::string this_pid_namespace() {
  char buf[64] = {0};
  ssize_t n = ::readlink("/proc/self/ns/pid", buf, sizeof buf - 1);
  std::string s = n > 0 ? std::string(buf, size_t(n)) : "pid:[0]";  // "pid:[4026531836]"
  auto a = s.find('['), b = s.find(']');
  return a != std::string::npos && b != std::string::npos ? s.substr(a + 1, b - a - 1) : "0";
}

// ".tmp.<host>.<pid namespace>." of this process: both fixed for its lifetime.
const std::string& tmp_prefix() {
  static const std::string s = ".tmp." + this_host() + "." + this_pid_namespace() + ".";
  return s;
}
}  // namespace

std::string this_host_name() { return this_host(); }

std::string tmp_suffix() { return tmp_prefix() + std::to_string(::getpid()); }

bool tmp_is_stale(const std::string& name) {
  // Only a writer on this host, in this PID namespace (the same ".tmp.<host>.<ns>." as ours),
  // can be proven dead: its pid is gone. Any other name is not ours to judge.
  auto p = name.find(tmp_prefix());
  if (p == std::string::npos) return false;
  const std::string pid_text = name.substr(p + tmp_prefix().size());
  if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) return false;
  const long pid = std::atol(pid_text.c_str());
  if (pid <= 0 || pid == ::getpid()) return false;  // this process's own writes are in progress
  return ::kill(pid_t(pid), 0) != 0 && errno == ESRCH;  // EPERM: alive, another user's
}

void write_json_atomic(const std::string& path, const nlohmann::json& j) {
  std::string tmp = path + tmp_suffix();
  std::string text = j.dump(1) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) SGD_THROW(Io, path, ": cannot write (", std::strerror(errno), ")");
  size_t done = 0;
  while (done < text.size()) {
    ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      SGD_THROW(Io, path, ": write failed (", std::strerror(err), ")");
    }
    done += size_t(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    SGD_THROW(Io, path, ": cannot flush to disk");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    SGD_THROW(Io, path, ": cannot rename into place (", std::strerror(err), ")");
  }
}

std::optional<nlohmann::json> read_json_file(const std::string& path) {
  // Anything but a readable regular JSON file (a directory, a FIFO, garbage, a huge file) is
  // "no result": the run is recomputed, never an internal error.
  try {
    return nlohmann::json::parse(read_text_file(path, ErrorKind::Io, "result file"),
                                 json_depth_limit<nlohmann::json>(path, ErrorKind::Io));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool is_finished_result(const nlohmann::json& j, const std::string& id) {
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  if (!j.is_object() || str("run_id") != id || !j.contains("schema_version") ||
      !j["schema_version"].is_number_integer() || j["schema_version"].get<int64_t>() != kResultSchemaVersion)
    return false;
  if (!j.contains("summary") || !j["summary"].is_object() || !j.contains("history") || !j["history"].is_array())
    return false;
  const std::string s = str("status");
  return s == "completed" || s == "diverged" || s == "stopped_at_target" || s == "budget_exhausted";
}

}  // namespace sgdbench
