#!/usr/bin/python3
"""Performance-regression gate: builds a baseline (a git ref, default the previous commit) and
the current tree, runs a fixed set of benchmarks for both, interleaved round by round with
repetitions, compares them with Google Benchmark's compare.py (Mann-Whitney U test), and fails
only on a slowdown that is both large (> --threshold, default 15%) and significant (p < --alpha).

Usage:
  /usr/bin/python3 tools/perf_gate.py [--baseline REF] [--quick] [--rounds N] [--reps N]
                                      [--threshold 0.15] [--alpha 0.05] [--filter REGEX]
  /usr/bin/python3 tools/perf_gate.py --baseline-build build --current-build build --inject-slowdown-us 300
      (compare a build with itself, with busy work injected into the current side's training
      step: demonstrates that the gate catches a slowdown)
  --instructions   also count instructions of one training step of each side with valgrind's
                   callgrind (noise-free, but valgrind runs oneDNN's AVX2 code path, not AVX-512)

When the baseline and this tree have the same src/, bench/, models/, cmake/ and CMakeLists.txt
(a docs-, tools- or tests-only change) nothing is built or run: pass.
A benchmark flagged by the first measurement is measured again (fresh rounds, that benchmark
only) and fails the gate only if the second measurement flags it too (--no-confirm: off).

Exit status: 0 pass, 1 regression found, 2 usage or build error.
Needs libbenchmark-tools (compare.py) and python3-scipy (its U test); tools/setup.sh installs both.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPARE = "/usr/share/benchmark/compare.py"
QUICK_FILTER = r"^BM_TrainStep/(lenet_cifar/batch:(1|32)|keras_mnist_mlp/batch:128|keras_cifar_cnn/batch:32)/real_time$"
FULL_FILTER = r"^BM_TrainStep/.*/batch:(1|32|128)/real_time$"


def sh(cmd, **kw):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


# What bench_train_step is built from: a change elsewhere (docs, tools, tests) cannot move it.
CODE_PATHS = ["src", "bench", "models", "cmake", "CMakeLists.txt"]


def same_code(ref):
    """True when the baseline commit and the working tree agree on every file of CODE_PATHS."""
    r = subprocess.run(["git", "-C", ROOT, "diff", "--quiet", ref, "--"] + CODE_PATHS, capture_output=True)
    if r.returncode not in (0, 1):
        return False
    untracked = subprocess.run(["git", "-C", ROOT, "ls-files", "--others", "--exclude-standard", "--"] + CODE_PATHS,
                               capture_output=True, text=True).stdout.strip()
    return r.returncode == 0 and not untracked


def build(src, build_dir):
    sh(["cmake", "-S", src, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release", "-DSGDBENCH_BUILD_TESTS=OFF"],
       stdout=subprocess.DEVNULL)
    sh(["cmake", "--build", build_dir, "-j", str(os.cpu_count() or 2), "--target", "bench_train_step"],
       stdout=subprocess.DEVNULL)
    return os.path.join(build_dir, "bench", "bench_train_step")


def build_baseline(ref, work):
    src = os.path.join(work, "src")
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", ref + "^{commit}"], check=True,
                                capture_output=True, text=True).stdout.strip()
    except subprocess.CalledProcessError:
        sys.exit(f"perf_gate.py: baseline '{ref}' is not a commit of this repository")
    if os.path.exists(src):
        shutil.rmtree(src)
    os.makedirs(src)
    archive = subprocess.run(["git", "-C", ROOT, "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
    if not os.path.exists(os.path.join(src, "bench", "bench_train_step.cpp")):
        return None, commit
    return build(src, os.path.join(work, "build")), commit


def run_bench(binary, flt, reps, min_time, out, env_extra=None):
    env = dict(os.environ)
    env.pop("SGDBENCH_BENCH_EXTRA_WORK", None)
    env.update(env_extra or {})
    subprocess.run([binary, f"--benchmark_filter={flt}", f"--benchmark_repetitions={reps}",
                    f"--benchmark_min_time={min_time}", "--benchmark_format=json", f"--benchmark_out={out}",
                    "--benchmark_out_format=json"], check=True, stdout=subprocess.DEVNULL, env=env)
    with open(out) as f:
        return json.load(f)


def merge(docs):
    """All repetitions of all rounds in one Google Benchmark JSON document."""
    merged = {"context": docs[0]["context"], "benchmarks": []}
    for d in docs:
        merged["benchmarks"] += [b for b in d["benchmarks"] if b.get("run_type") == "iteration"]
    return merged


def instructions(binary, env_extra=None):
    """Instructions of one training step (valgrind callgrind, one benchmark iteration)."""
    if not shutil.which("valgrind"):
        return None
    env = dict(os.environ)
    env.pop("SGDBENCH_BENCH_EXTRA_WORK", None)
    env.update(env_extra or {})
    with tempfile.TemporaryDirectory() as t:
        out = os.path.join(t, "cg.out")
        p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                            binary, "--benchmark_filter=^BM_TrainStep/lenet_cifar/batch:32/real_time$",
                            "--benchmark_min_time=0", "--threads=1"],
                           capture_output=True, text=True, env=env)
        m = re.search(r"Collected : (\d+)", p.stderr)
        return int(m.group(1)) if m else None


def measure_and_judge(a, base_bin, cur_bin, cur_env, base_name, flt, rounds, min_time):
    """Runs both sides interleaved, prints compare.py's table and the gate's; returns the failing names."""
    base_docs, cur_docs = [], []
    with tempfile.TemporaryDirectory() as t:
        for r in range(rounds):  # alternate the order so drift hits both sides alike
            sides = [("base", base_bin, {}, base_docs), ("cur", cur_bin, cur_env, cur_docs)]
            for name, binary, env, docs in (sides if r % 2 == 0 else sides[::-1]):
                docs.append(run_bench(binary, flt, a.reps, min_time, os.path.join(t, f"{name}{r}.json"), env))
            print(f"perf_gate.py: round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
        base_json, cur_json, dump = (os.path.join(a.work, n) for n in ("baseline.json", "current.json", "compare.json"))
        for path, docs in ((base_json, base_docs), (cur_json, cur_docs)):
            with open(path, "w") as f:
                json.dump(merge(docs), f)
    print(f"Baseline: {base_name}; current: {'working tree' if not a.current_build else a.current_build}"
          + (f" with {a.inject_slowdown_us:g} us injected per step" if a.inject_slowdown_us else ""))
    subprocess.run(["/usr/bin/python3", COMPARE, "--no-color", "-a", "-d", dump, "--alpha", str(a.alpha),
                    "benchmarks", base_json, cur_json], check=True)
    with open(dump) as f:
        report = json.load(f)

    c2c = {"base": core_to_core(base_docs), "cur": core_to_core(cur_docs)}
    failed = []
    print(f"\nGate: fail when slower by more than {100 * a.threshold:g}% (median) and U-test p < {a.alpha:g}")
    print(f"{'benchmark':<48} {'base us':>10} {'cur us':>10} {'change':>8} {'p':>8}  {'c2c ns':>9}  verdict")
    for b in report:
        if b.get("run_type") == "aggregate" or not b.get("measurements"):
            continue
        name = b["name"]
        base_t = sorted(b["measurements"][i]["real_time"] for i in range(len(b["measurements"])))
        cur_t = sorted(b["measurements"][i]["real_time_other"] for i in range(len(b["measurements"])))
        mb, mc = base_t[len(base_t) // 2], cur_t[len(cur_t) // 2]
        change = mc / mb - 1
        p = (b.get("utest") or {}).get("time_pvalue")
        bad = change > a.threshold and p is not None and p < a.alpha
        if bad:
            failed.append(name)
        ps = f"{p:.4f}" if p is not None else "n/a"
        lat = "/".join(f"{c2c[side][name]:.0f}" if name in c2c[side] else "-" for side in ("base", "cur"))
        print(f"{name:<48} {mb:>10.1f} {mc:>10.1f} {100 * change:>+7.1f}% {ps:>8}  {lat:>9}  "
              f"{'REGRESSION' if bad else 'ok'}")
    print("c2c ns: median core-to-core latency of each side's repetitions (bench::core_to_core_ns); "
          "where it is far higher on one side, that side ran while the host had moved the vCPUs apart")
    return failed


def core_to_core(docs):
    """Benchmark name -> median core_to_core_ns over its repetitions (binaries that record it)."""
    by = {}
    for d in docs:
        for b in d["benchmarks"]:
            v = b.get("core_to_core_ns")
            if b.get("run_type") == "iteration" and isinstance(v, (int, float)) and v == v:
                by.setdefault(b["name"], []).append(v)
    return {k: sorted(v)[len(v) // 2] for k, v in by.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="HEAD~1", help="git ref to compare against (default: the previous commit)")
    ap.add_argument("--baseline-build", help="use this existing build directory as the baseline instead")
    ap.add_argument("--current-build", help="use this existing build directory for the current tree")
    ap.add_argument("--work", default=os.path.join(ROOT, "build-perf"), help="where baselines are built")
    ap.add_argument("--quick", action="store_true", help="the CI form: 4 benchmarks, 3 rounds x 3 repetitions")
    ap.add_argument("--filter", help="benchmark regex (default: train steps at batch 1, 32, 128)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 3)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per round")
    ap.add_argument("--min-time", type=float, help="seconds per repetition (default 0.2, quick 0.1)")
    ap.add_argument("--threshold", type=float, default=0.15, help="slowdown that fails (0.15 = 15%%)")
    ap.add_argument("--alpha", type=float, default=0.05, help="U-test significance level")
    ap.add_argument("--inject-slowdown-us", type=float, default=0,
                    help="busy-wait this many microseconds per step on the current side (gate self-test)")
    ap.add_argument("--instructions", action="store_true", help="also compare callgrind instruction counts")
    ap.add_argument("--no-confirm", dest="confirm", action="store_false",
                    help="fail on the first measurement (default: a flagged benchmark is measured again and fails "
                         "only if the second measurement flags it too)")
    a = ap.parse_args()
    if not os.path.exists(COMPARE):
        sys.exit("perf_gate.py: compare.py not found; install Debian's libbenchmark-tools (tools/setup.sh does)")
    rounds = a.rounds or (3 if a.quick else 5)
    min_time = a.min_time or (0.1 if a.quick else 0.2)
    flt = a.filter or (QUICK_FILTER if a.quick else FULL_FILTER)
    os.makedirs(a.work, exist_ok=True)

    if a.baseline_build:
        base_bin, base_name = os.path.join(a.baseline_build, "bench", "bench_train_step"), a.baseline_build
    elif not a.inject_slowdown_us and same_code(a.baseline):
        print(f"perf_gate.py: {a.baseline} and this tree have the same {', '.join(CODE_PATHS)}: the benchmarks "
              "cannot differ; pass")
        return 0
    else:
        base_bin, commit = build_baseline(a.baseline, os.path.join(a.work, "base"))
        base_name = f"{a.baseline} ({commit[:12]})"
        if base_bin is None:
            print(f"perf_gate.py: baseline {base_name} has no bench/bench_train_step.cpp: nothing to compare; pass")
            return 0
    cur_bin = (os.path.join(a.current_build, "bench", "bench_train_step") if a.current_build
               else build(ROOT, os.path.join(a.work, "current")))
    for b in (base_bin, cur_bin):
        if not os.path.exists(b):
            sys.exit(f"perf_gate.py: {b} not found (build the bench targets first)")
    cur_env = {"SGDBENCH_BENCH_EXTRA_WORK": str(a.inject_slowdown_us)} if a.inject_slowdown_us else {}

    failed = measure_and_judge(a, base_bin, cur_bin, cur_env, base_name, flt, rounds, min_time)
    # A slowdown is confirmed by a second, independent measurement of the flagged benchmarks only
    # (fresh interleaved rounds): noise that crosses the threshold once rarely does twice, a real
    # slowdown does every time. --no-confirm: judge on the first measurement alone.
    if failed and a.confirm:
        print(f"\nperf_gate.py: confirming {len(failed)} flagged benchmark(s) with a second measurement", flush=True)
        again = "^(" + "|".join(re.escape(n) for n in failed) + ")$"
        second = measure_and_judge(a, base_bin, cur_bin, cur_env, base_name, again, rounds, min_time)
        cleared = [n for n in failed if n not in second]
        if cleared:
            print(f"perf_gate.py: not confirmed (noise): {', '.join(cleared)}")
        failed = [n for n in failed if n in second]
    if a.instructions:
        ib, ic = instructions(base_bin), instructions(cur_bin, cur_env)
        if ib and ic:
            print(f"\nInstructions, one lenet_cifar batch-32 step incl. setup (callgrind): base {ib:,}, current {ic:,} "
                  f"({100 * (ic / ib - 1):+.2f}%)")
        else:
            print("\nInstructions: callgrind not available or failed")
    if failed:
        print(f"\nperf_gate.py: FAIL: {len(failed)} significant slowdown(s): {', '.join(failed)}")
        return 1
    print("\nperf_gate.py: pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
