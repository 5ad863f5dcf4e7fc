#!/usr/bin/python3
"""Performance history across commits and machines (asv/Conbench-style) for sgdbench.

Responsible for: building commits into a per-commit cache, running a fixed benchmark set
(bench_train_step for the zoo at batch 1, 32, 128, plus one short time-to-target run per commit),
appending one JSON record per (commit, machine, benchmark) to a store, finding change points,
writing a static HTML report, bisecting a slowdown, and calibrating tools/perf_gate.py.
Docs: tools/PERF_HISTORY.md.
Not responsible for: the per-commit CI gate itself (tools/perf_gate.py).

  /usr/bin/python3 tools/perf_history.py record [--commits A..B,C,D | --last N] [--every K] [--store DIR]
  /usr/bin/python3 tools/perf_history.py report [--store DIR] [--out DIR]
  /usr/bin/python3 tools/perf_history.py steps  [--store DIR]            (change points as text)
  /usr/bin/python3 tools/perf_history.py bisect --benchmark NAME --good A --bad B [--faster]
  /usr/bin/python3 tools/perf_history.py build  --commits ...             (only fill the build cache)
  /usr/bin/python3 tools/perf_history.py instructions --builds B1,B2      (callgrind instructions per step)
  /usr/bin/python3 tools/perf_history.py gate-calibrate --build build --runs 10 --inject-us 0,50,300

Store: a directory of JSON-lines files, one per machine (<machine-id>.jsonl). Each line is one
whole record written with a single write() on an O_APPEND descriptor followed by fsync; readers
skip a torn last line (a killed writer) and name any other bad line. Exit status: 0 ok,
1 bisect found no slowdown / gate calibration failed, 2 usage, build or data error.
"""
import argparse
import datetime
import fcntl
import hashlib
import json
import math
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_VERSION = 1
DEFAULT_STORE = os.path.join(ROOT, "results", "perf_history")
DEFAULT_CACHE = os.path.join(ROOT, "build-perf", "history")
BENCH_FILTER = r"^BM_TrainStep/[^/]+/batch:(1|32|128)/real_time$"
CONV_NAME = "time_to_target/keras_mnist_mlp/fmnist10k_80"
CONV_ARGS = ["train", "--model", "keras_mnist_mlp", "--batch-size", "32", "--lr", "0.01", "--momentum", "0.9",
             "--epochs", "5", "--limit", "10000", "--seed", "1", "--experiment", "perf_history",
             "--set", "target_acc=0.8"]


class Fail(Exception):
    """One clear line for the user; exit status 2."""


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git(*args, cwd=ROOT):
    p = subprocess.run(["git", "-C", cwd] + list(args), capture_output=True, text=True)
    if p.returncode:
        raise Fail(f"git {' '.join(args)}: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else 'failed'}")
    return p.stdout.strip()


def tool_provenance():
    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain", "--", "tools/perf_history.py"))
    except Fail:
        commit, dirty = "unknown", False
    return {"tool": "tools/perf_history.py", "tool_commit": commit + ("-dirty" if dirty else ""),
            "host": socket.gethostname(), "python": platform.python_version(), "written": now()}


# ---------------------------------------------------------------- commits

def resolve_commits(spec=None, last=None, every=1):
    """'A..B' (git's meaning: after A up to B, first-parent, oldest first), comma lists of refs and
    ranges, or the last N commits of HEAD. --every K keeps every K-th commit of each range (its
    newest always)."""
    out = []
    if last:
        out = git("rev-list", "--first-parent", "--reverse", f"-n{last}", "HEAD").split()
        out = out[::-1][::every][::-1] if every > 1 else out
    for item in (spec.split(",") if spec else []):
        item = item.strip()
        if not item:
            continue
        if ".." in item:
            a, b = item.split("..", 1)
            r = git("rev-list", "--first-parent", "--reverse", f"{a}..{b or 'HEAD'}").split()
            if every > 1:
                r = r[::-1][::every][::-1]
            out += r
        else:
            out.append(git("rev-parse", "--verify", item + "^{commit}"))
    seen, res = set(), []
    for c in out:
        if c not in seen:
            seen.add(c)
            res.append(c)
    return res


def commit_info(sha):
    fmt = git("show", "-s", "--format=%H%x00%ct%x00%cI%x00%s", sha)
    full, ct, ci, subj = fmt.split("\x00", 3)
    return {"sha": full, "short": full[:7], "time": int(ct), "date": ci, "subject": subj}


def commit_order(shas):
    """Position of each commit in this repository's history (oldest = 0); None when unknown."""
    try:
        order = git("rev-list", "--topo-order", "--reverse", "--all").split()
    except Fail:
        return {}
    pos = {c: i for i, c in enumerate(order)}
    return {s: pos.get(s) for s in shas}


# ---------------------------------------------------------------- building

def build_commit(sha, cache, jobs=2, log=print):
    """Builds bench_train_step and sgdbench of one commit under cache/<sha>/ (git archive, cmake,
    ccache, nice 19); cached: a finished build (BUILD_OK) or a failed one (BUILD_FAILED) is not redone.
    Returns {'bench': path, 'cli': path or None, 'compiler': ...} or raises Fail."""
    d = os.path.join(cache, sha)
    os.makedirs(d, exist_ok=True)
    ok, failed = os.path.join(d, "BUILD_OK"), os.path.join(d, "BUILD_FAILED")
    with open(os.path.join(d, "lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if os.path.exists(ok):
            with open(ok) as f:
                return json.load(f)
        if os.path.exists(failed):
            with open(failed) as f:
                raise Fail(f"{sha[:12]}: build failed before ({failed}): {f.read().strip()[-300:]}")
        src, bld = os.path.join(d, "src"), os.path.join(d, "build")
        if not os.path.exists(os.path.join(src, "CMakeLists.txt")):
            os.makedirs(src, exist_ok=True)
            arch = subprocess.run(["git", "-C", ROOT, "archive", sha], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", src], input=arch, check=True)
        if not os.path.exists(os.path.join(src, "bench", "bench_train_step.cpp")):
            with open(failed, "w") as f:
                f.write("no bench/bench_train_step.cpp in this commit")
            raise Fail(f"{sha[:12]}: no bench/bench_train_step.cpp in this commit")
        nice = ["nice", "-n", "19"]
        launcher = ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"] if shutil_which("ccache") else []
        with open(os.path.join(d, "build.log"), "w") as logf:
            log(f"perf_history.py: building {sha[:12]} in {bld} (nice 19, -j{jobs})")
            steps = [nice + ["cmake", "-S", src, "-B", bld, "-DCMAKE_BUILD_TYPE=Release", "-DSGDBENCH_BUILD_TESTS=OFF",
                             "-DSGDBENCH_MPI=OFF"] + launcher,
                     nice + ["cmake", "--build", bld, "-j", str(jobs), "--target", "bench_train_step", "sgdbench"]]
            # base_dir = the cache: every commit's sources are ../src/... from its build directory, so ccache
            # hits across commits for files that did not change
            env = dict(os.environ, CCACHE_BASEDIR=os.path.realpath(cache), CCACHE_NOHASHDIR="1")
            for cmd in steps:
                p = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
                if p.returncode:
                    logf.flush()
                    with open(os.path.join(d, "build.log")) as f:
                        tail = f.read()[-400:].replace("\n", " | ")
                    with open(failed, "w") as f:
                        f.write(tail)
                    raise Fail(f"{sha[:12]}: build failed (see {d}/build.log): {tail[-200:]}")
        info = {"bench": os.path.join(bld, "bench", "bench_train_step"),
                "cli": os.path.join(bld, "sgdbench") if os.path.exists(os.path.join(bld, "sgdbench")) else None,
                "compiler": compiler_of(bld), "built": now()}
        atomic_write(ok, json.dumps(info))
        return info


def shutil_which(name):
    import shutil
    return shutil.which(name)


def compiler_of(bld):
    cache = os.path.join(bld, "CMakeCache.txt")
    cid = ver = None
    for root, _, files in os.walk(os.path.join(bld, "CMakeFiles")):
        if "CMakeCXXCompiler.cmake" in files:
            with open(os.path.join(root, "CMakeCXXCompiler.cmake")) as f:
                t = f.read()
            m1 = re.search(r'CMAKE_CXX_COMPILER_ID "([^"]*)"', t)
            m2 = re.search(r'CMAKE_CXX_COMPILER_VERSION "([^"]*)"', t)
            cid, ver = (m1.group(1) if m1 else None), (m2.group(1) if m2 else None)
            break
    return f"{cid} {ver}" if cid else ("unknown" if not os.path.exists(cache) else "see CMakeCache.txt")


def atomic_write(path, text):
    tmp = f"{path}.tmp.{socket.gethostname()}.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- machine

def machine_identity(peak_build, name=None, peak=True):
    cpu, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown":
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [x for x in ("avx512f", "avx512_bf16", "amx_tile", "avx512_vnni", "avx2", "fma") if x in flags]
    cores = os.cpu_count() or 1
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    ident = f"{cpu}|{cores}|{','.join(isa)}|{mem // 1024}"
    m = {"id": hashlib.sha1(ident.encode()).hexdigest()[:12], "name": name or socket.gethostname(),
         "cpu_model": cpu, "isa": isa, "cores": cores, "memory_gib": mem // 1024, "kernel": platform.release()}
    if peak:
        m["peak_gflops"] = measure_peak(peak_build)
    return m


def measure_peak(peak_build):
    """fp32 FMA peak from the current tree's build/bench/bench_peak: best of 3 repetitions each."""
    exe = os.path.join(peak_build, "bench", "bench_peak")
    if not os.path.exists(exe):
        return {"error": f"{exe} not found (build the bench targets of the current tree)"}
    p = subprocess.run([exe, "--benchmark_format=json", "--benchmark_repetitions=3", "--benchmark_min_time=0.2"],
                       capture_output=True, text=True)
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError:
        return {"error": f"{exe}: no JSON output (exit {p.returncode})"}
    out = {"source": exe, "measured": now()}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") != "iteration" or "GFLOP/s" not in b:
            continue
        m = re.match(r"BM_PeakFma/(\w+)/(\w+)", b["name"])
        if m:
            k = f"{m.group(1)}_{m.group(2)}"
            out[k] = max(out.get(k, 0.0), b["GFLOP/s"])
    return out


def peak_for(machine, threads):
    p = machine.get("peak_gflops") or {}
    isa = "avx512" if "avx512f" in machine.get("isa", []) else "avx2"
    return p.get(f"{isa}_1_thread" if threads == 1 else f"{isa}_all_threads")


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ---------------------------------------------------------------- store

def store_path(store, machine_id):
    return os.path.join(store, f"{machine_id}.jsonl")


def append_record(store, rec):
    """One record = one line, one write() on O_APPEND, then fsync: a killed writer leaves at most a
    torn last line, which readers skip."""
    os.makedirs(store, exist_ok=True)
    path = store_path(store, rec["machine"]["id"])
    line = (json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_size:  # a torn last line from a killed writer: start ours on a new line
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_store(store, warn=None):
    """All whole records of all machines; a torn (unterminated, unparsable) last line is skipped,
    any other bad line is named on stderr and skipped."""
    warn = warn or (lambda m: print(m, file=sys.stderr))
    recs = []
    if not os.path.isdir(store):
        raise Fail(f"{store}: no such store directory (run 'record' first)")
    for fn in sorted(os.listdir(store)):
        if not fn.endswith(".jsonl"):
            continue
        path = os.path.join(store, fn)
        with open(path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        for i, raw in enumerate(lines):
            if not raw.strip():
                continue
            try:
                r = json.loads(raw)
                if not isinstance(r, dict) or "benchmark" not in r or "commit" not in r or "machine" not in r:
                    raise ValueError("not a record (needs benchmark, commit, machine)")
                if r.get("schema_version") != SCHEMA_VERSION:
                    raise ValueError(f"schema_version {r.get('schema_version')!r}, this tool reads {SCHEMA_VERSION}")
            except ValueError as e:
                if i == len(lines) - 1 and not data.endswith(b"\n"):
                    warn(f"perf_history.py: {path}:{i + 1}: torn last line skipped (a killed writer)")
                else:
                    warn(f"perf_history.py: {path}:{i + 1}: bad record skipped: {str(e)[:120]}")
                continue
            recs.append(r)
    return recs


def have(recs):
    return {(r["commit"]["sha"], r["machine"]["id"], r["benchmark"]) for r in recs}


# ---------------------------------------------------------------- running

def median(xs):
    s = sorted(xs)
    n = len(s)
    return None if not n else (s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2]))


def run_train_step(exe, rounds, reps, min_time, threads, flt=BENCH_FILTER, env_extra=None):
    """{benchmark name: {'us': [...], 'gflops': [...], 'context': {...}}} over rounds x reps."""
    env = dict(os.environ)
    env.pop("SGDBENCH_BENCH_EXTRA_WORK", None)
    env.update(env_extra or {})
    res, ctx = {}, {}
    with tempfile.TemporaryDirectory() as t:
        for r in range(rounds):
            out = os.path.join(t, f"r{r}.json")
            cmd = [exe, f"--benchmark_filter={flt}", f"--benchmark_repetitions={reps}",
                   f"--benchmark_min_time={min_time}", f"--benchmark_out={out}", "--benchmark_out_format=json"]
            if threads:
                cmd.append(f"--threads={threads}")
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            if p.returncode and threads and "threads" in p.stderr:  # an old binary without --threads
                cmd = cmd[:-1]
                p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            if p.returncode:
                raise Fail(f"{exe}: exit {p.returncode}: {p.stderr.strip()[-200:]}")
            with open(out) as f:
                doc = json.load(f)
            ctx = doc.get("context", {})
            for b in doc.get("benchmarks", []):
                if b.get("run_type") != "iteration" or b.get("error_occurred"):
                    continue
                scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
                e = res.setdefault(b["name"], {"us": [], "gflops": []})
                e["us"].append(b["real_time"] * scale)
                g = b.get("GFLOP/s") or b.get("gflops")
                if g:
                    e["gflops"].append(g)
    for e in res.values():
        e["context"] = ctx
    return res


def run_convergence(cli, threads):
    """Seconds (train time) and steps to 80% test accuracy of one fixed keras_mnist_mlp run."""
    with tempfile.TemporaryDirectory() as t:
        cmd = [cli] + (["--threads", str(threads)] if threads else []) + CONV_ARGS + ["--out", t]
        p = subprocess.run(cmd, capture_output=True, text=True)
        files = [os.path.join(dp, f) for dp, _, fs in os.walk(t) for f in fs if f.endswith(".json") and "runs" in dp]
        if p.returncode or not files:
            raise Fail(f"{cli}: convergence run failed (exit {p.returncode}): {(p.stderr or p.stdout).strip()[-200:]}")
        with open(files[0]) as f:
            doc = json.load(f)
    s = doc.get("summary", {})
    prov = doc.get("provenance", {})
    return {"seconds_to_target": s.get("seconds_to_target"), "steps_to_target": s.get("steps_to_target"),
            "target_reached": s.get("target_reached", s.get("steps_to_target") is not None),
            "final_test_acc": s.get("final_test_acc"), "train_seconds": s.get("train_seconds"),
            "onednn_version": prov.get("onednn_version"), "command": " ".join(["sgdbench"] + cmd[1:-2])}


def bench_key(gb_name):
    """'BM_TrainStep/lenet_cifar/batch:1/real_time' -> 'train_step/lenet_cifar/batch:1'."""
    n = re.sub(r"/real_time$", "", gb_name)
    return "train_step/" + n[len("BM_TrainStep/"):] if n.startswith("BM_TrainStep/") else n


def make_record(ci, machine, bench, kind, values, unit, extra, env):
    rec = {"schema_version": SCHEMA_VERSION, "kind": kind, "benchmark": bench,
           "commit": ci, "machine": machine, "unit": unit, "samples": values,
           "median": median(values), "min": min(values) if values else None,
           "max": max(values) if values else None, "env": env, "provenance": tool_provenance()}
    rec.update(extra)
    return rec


def recorded(sha, machine, done):
    return sum(1 for k in done if k[0] == sha and k[1] == machine["id"])


def write_commit(sha, info, acc, a, machine, done, log=print):
    """Appends the train-step records of one commit (acc: its accumulated rounds) and runs and
    appends its time-to-target record. Returns the number written."""
    ci = commit_info(sha)
    written = 0
    for gb_name, e in sorted(acc["res"].items()):
        key = bench_key(gb_name)
        if (sha, machine["id"], key) in done and not a.force:
            continue
        ctx = e["context"]
        threads = int(ctx.get("sgdbench_threads", a.threads or 0) or 0) or None
        env = {"onednn_version": ctx.get("onednn_version"), "onednn_isa": ctx.get("onednn_isa"),
               "compiler": info.get("compiler"), "threads": threads, "flush_denormals": ctx.get("flush_denormals"),
               "loadavg_before": acc["load"][0], "loadavg_after": acc["load"][-1], "loadavg_rounds": acc["load"],
               "started": acc["started"], "finished": now(), "interleaved_with": acc["interleaved"],
               "library_build_type": ctx.get("library_build_type"),
               "command": f"bench_train_step --benchmark_filter='{BENCH_FILTER}' --benchmark_repetitions={a.reps} "
                          f"--benchmark_min_time={a.min_time}" + (f" --threads={a.threads}" if a.threads else "")
                          + f" (x{a.rounds} rounds)"}
        gf = median(e["gflops"]) if e["gflops"] else None
        pk = peak_for(machine, threads or 1)
        extra = {"gflops_median": gf, "pct_of_peak": (100.0 * gf / pk) if gf and pk else None,
                 "gflops_samples": e["gflops"]}
        append_record(a.store, make_record(ci, machine, key, "train_step", e["us"], "us", extra, env))
        written += 1
    if not a.no_convergence and info.get("cli") and ((sha, machine["id"], CONV_NAME) not in done or a.force):
        vals, steps, err, cv = [], [], None, {}
        la = loadavg()
        for _ in range(a.conv_reps):
            try:
                cv = run_convergence(info["cli"], a.threads)
            except Fail as ex:
                err = str(ex)
                break
            if cv["seconds_to_target"] is not None:
                vals.append(cv["seconds_to_target"])
                steps.append(cv["steps_to_target"])
        env = {"onednn_version": cv.get("onednn_version"), "compiler": info.get("compiler"), "threads": a.threads,
               "loadavg_before": la, "loadavg_after": loadavg(), "finished": now(), "command": cv.get("command")}
        extra = {"steps_to_target": steps, "target_reached": bool(vals), "error": err}
        append_record(a.store, make_record(ci, machine, CONV_NAME, "time_to_target", vals, "s", extra, env))
        written += 1
    log(f"perf_history.py: {ci['short']} {ci['subject'][:60]!r}: {written} records (load {acc['load']})")
    return written


def cmd_record(a):
    """Builds every selected commit, then measures them round by round, interleaved (round r runs
    each commit once, in a seeded shuffled order), so a burst or a
    drift of load on a shared machine hits one round of several commits rather than every round of
    one, and is not aligned with the commit order; a commit's records are appended after its last
    round."""
    commits = resolve_commits(a.commits, a.last, a.every)
    if not commits:
        raise Fail("record: no commits selected (use --commits A..B,C or --last N)")
    machine = machine_identity(a.peak_build, a.machine, peak=not a.no_peak)
    print(f"perf_history.py: machine {machine['name']} ({machine['id']}): {machine['cpu_model']}, "
          f"{machine['cores']} cores, {' '.join(machine['isa'])}; peak {machine.get('peak_gflops')}", flush=True)
    done = have(read_store(a.store)) if os.path.isdir(a.store) else set()
    log = lambda m: print(m, flush=True)  # noqa: E731
    failed, todo = [], []
    for sha in commits:
        if recorded(sha, machine, done) >= a.expect and not a.force:
            log(f"perf_history.py: {sha[:7]} already recorded on {machine['name']}; skip (--force records again)")
            continue
        try:
            todo.append((sha, build_commit(sha, a.cache, a.jobs, log)))
        except Fail as e:
            print(f"perf_history.py: {e}; skipped", file=sys.stderr, flush=True)
            failed.append(sha[:12])
    acc = {sha: {"res": {}, "load": [], "started": None, "interleaved": len(todo)} for sha, _ in todo}
    total = 0
    for r in range(a.rounds):
        order = list(todo)
        random.Random(r).shuffle(order)  # seeded: the order of a round is not the commit order
        for sha, info in order:
            if sha in failed:
                continue
            c = acc[sha]
            c["started"] = c["started"] or now()
            try:
                res = run_train_step(info["bench"], 1, a.reps, a.min_time, a.threads)
            except Fail as e:
                print(f"perf_history.py: {sha[:12]}: {e}; skipped", file=sys.stderr, flush=True)
                failed.append(sha)
                continue
            c["load"].append(loadavg())
            for k, e in res.items():
                t = c["res"].setdefault(k, {"us": [], "gflops": [], "context": e["context"]})
                t["us"] += e["us"]
                t["gflops"] += e["gflops"]
            if r == a.rounds - 1:
                total += write_commit(sha, info, c, a, machine, done, log)
        log(f"perf_history.py: round {r + 1}/{a.rounds} done ({len(todo)} commits)")
    print(f"perf_history.py: {total} records appended to {a.store}"
          + (f"; {len(failed)} commit(s) skipped: {', '.join(f[:12] for f in failed)}" if failed else ""))
    return 0


def cmd_build(a):
    for sha in resolve_commits(a.commits, a.last, a.every):
        try:
            info = build_commit(sha, a.cache, a.jobs, log=lambda m: print(m, flush=True))
            print(f"{sha[:12]} {info['bench']}")
        except Fail as e:
            print(f"perf_history.py: {e}", file=sys.stderr)
    return 0



# ---------------------------------------------------------------- change points

def robust_sigma(y):
    """Noise scale of a series with a few steps: RMS of its consecutive differences with the largest
    tenth (at least one: the steps) trimmed, corrected for the trimming (truncated normal) and for
    sqrt(2), then inflated by 1 + 1/sqrt(2m) for the few differences a short history has."""
    d = sorted(abs(y[i + 1] - y[i]) for i in range(len(y) - 1))
    m = len(d)
    if m < 2:
        return 0.0
    k = max(1, round(0.1 * m))
    keep = d[:m - k]
    q = k / m
    t = _norm_ppf(1 - q / 2)
    c2 = 1 - 2 * t * math.exp(-t * t / 2) / math.sqrt(2 * math.pi) / (1 - q)
    rms = math.sqrt(sum(x * x for x in keep) / len(keep))
    return rms / math.sqrt(2 * c2) * (1 + 1 / math.sqrt(2 * m))


def _norm_ppf(p):
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _seg_cost(y, i, j):
    seg = sorted(y[i:j])
    m = seg[len(seg) // 2] if len(seg) % 2 else 0.5 * (seg[len(seg) // 2 - 1] + seg[len(seg) // 2])
    return sum(abs(v - m) for v in seg), m


def detect_steps(values, beta=2.5, min_effect=0.05, z=3.5, min_size=2, sigma_floor=0.002, log_scale=True):
    """Change points of a noisy piecewise-constant series (asv's step_detect idea): the exact
    minimiser of sum |y - segment median| + gamma * (#segments), gamma = beta * sigma * ln(n) with
    sigma the series' robust noise; then, smallest first, steps are merged away that are below
    min_effect (relative) or below z standard errors of the two segments' medians
    (1.25 sigma sqrt(1/n1 + 1/n2)), and segments inside the series shorter than min_size points (an
    outlier commit is not a level; the first and last segments may be one point: a history's first
    commit, and a regression at the newest commit, must be reportable).
    values: one number per commit (its median), oldest first; positive if log_scale.
    Returns (steps, levels): steps = [{'index', 'before', 'after', 'ratio'}], levels per point."""
    n = len(values)
    if n < 2:
        return [], list(values)
    y = [math.log(v) for v in values] if log_scale else list(values)
    sigma = max(robust_sigma(y), sigma_floor)
    gamma = beta * sigma * math.log(max(n, 3))
    cost = {}
    for i in range(n):
        for j in range(i + 1, n + 1):
            cost[i, j] = _seg_cost(y, i, j)
    best, arg = [0.0] + [math.inf] * n, [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            c = best[i] + cost[i, j][0] + gamma
            if c < best[j] - 1e-15:
                best[j], arg[j] = c, i
    bounds, j = [], n
    while j > 0:
        bounds.append(arg[j])
        j = arg[j]
    cuts = sorted(b for b in bounds if b > 0)
    thr = math.log1p(min_effect) if log_scale else min_effect
    while True:  # merge the smallest step below the minimum effect, refit, repeat
        edges = [0] + cuts + [n]
        lv = [_seg_cost(y, edges[k], edges[k + 1])[1] for k in range(len(edges) - 1)]
        small = []
        for k in range(len(cuts)):
            if k > 0 and edges[k + 1] - edges[k] < min_size:  # a short segment inside: outliers, not a level
                small.append((0.0, k - 1 if abs(lv[k] - lv[k - 1]) < abs(lv[k + 1] - lv[k]) else k))
                continue
            d = abs(lv[k + 1] - lv[k])
            se = 1.25 * sigma * math.sqrt(1 / (edges[k + 1] - edges[k]) + 1 / (edges[k + 2] - edges[k + 1]))
            if d < thr or d < z * se:
                small.append((d / max(thr, z * se), k))
        if not small:
            break
        cuts.pop(min(small)[1])
    edges = [0] + cuts + [n]
    levels = []
    for k in range(len(edges) - 1):
        levels += [lv[k]] * (edges[k + 1] - edges[k])
    f = math.exp if log_scale else (lambda v: v)
    steps = [{"index": cuts[k], "before": f(lv[k]), "after": f(lv[k + 1]),
              "ratio": f(lv[k + 1]) / f(lv[k]) if log_scale else lv[k + 1] - lv[k]} for k in range(len(cuts))]
    return steps, [f(v) for v in levels]



def mann_whitney_p(a, b):
    """Two-sided Mann-Whitney U p-value, normal approximation with tie correction (no scipy needed)."""
    n1, n2 = len(a), len(b)
    if not n1 or not n2:
        return 1.0
    allv = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks, i, ties = [0.0] * len(allv), 0, 0.0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, allv) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    zz = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
    return min(1.0, math.erfc(max(zz, 0) / math.sqrt(2)))


# ---------------------------------------------------------------- series and report

def series(recs):
    """{(machine id, benchmark): [record, ...] in commit order (one per commit: the newest)}."""
    shas = {r["commit"]["sha"] for r in recs}
    pos = commit_order(shas)
    groups = {}
    for r in sorted(recs, key=lambda r: r["provenance"].get("written", "")):
        groups.setdefault((r["machine"]["id"], r["benchmark"]), {})[r["commit"]["sha"]] = r
    out = {}
    for k, by in groups.items():
        out[k] = sorted(by.values(), key=lambda r: (pos.get(r["commit"]["sha"]) if pos.get(r["commit"]["sha"])
                                                   is not None else math.inf, r["commit"]["time"]))
    return out


def find_steps(recs, statistic="min", **kw):
    """Change points per (machine, benchmark) on each commit's min (or median) over its samples:
    [{benchmark, machine, commit, previous, before, after, change_pct, p_value}]."""
    found = []
    for (mid, bench), rs in sorted(series(recs).items()):
        pts = [r for r in rs if r.get(statistic)]
        if len(pts) < 3:
            continue
        steps, _ = detect_steps([r[statistic] for r in pts], **kw)
        for s in steps:
            a, b = pts[s["index"] - 1], pts[s["index"]]
            found.append({"benchmark": bench, "machine": mid, "machine_name": b["machine"]["name"],
                          "unit": b.get("unit"), "commit": b["commit"]["short"], "commit_sha": b["commit"]["sha"],
                          "subject": b["commit"]["subject"], "previous": a["commit"]["short"],
                          "index": s["index"], "before": s["before"], "after": s["after"],
                          "change_pct": 100 * (s["ratio"] - 1), "statistic": statistic,
                          "p_value": mann_whitney_p(a["samples"], b["samples"])})
    return found


def fmt_change(st):
    c = st["change_pct"]
    if st["unit"] in ("us", "s") and c < 0:
        return f"{c:+.1f}% ({st['before'] / st['after']:.2f}x faster)"
    return f"{c:+.1f}%" + (f" ({st['after'] / st['before']:.2f}x slower)" if c > 0 and st["unit"] in ("us", "s") else "")


def cmd_steps(a):
    recs = read_store(a.store)
    st = find_steps(recs, a.statistic, beta=a.beta, min_effect=a.min_effect)
    for s in st:
        print(f"{s['benchmark']:<40} {s['machine_name']:<10} {s['previous']}..{s['commit']} "
              f"{s['before']:.4g} -> {s['after']:.4g} {s['unit']}  {fmt_change(s)}  {s['subject'][:50]}")
    if not st:
        print("no change points")
    return 0


def _plot(path, title, rs, steps, ylabel, pct_peak=False):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ncol = 2 if pct_peak and any(r.get("pct_of_peak") for r in rs) else 1
    fig, axes = plt.subplots(1, ncol, figsize=(6.4 * ncol, 3.6), squeeze=False)
    x = list(range(len(rs)))
    labels = [r["commit"]["short"] for r in rs]
    ax = axes[0][0]
    med = [r["median"] if r.get("median") else float("nan") for r in rs]
    lo = [r["min"] if r.get("min") else float("nan") for r in rs]
    hi = [r["max"] if r.get("max") else float("nan") for r in rs]
    ax.fill_between(x, lo, hi, alpha=0.25, color="C0", label="min-max")
    ax.plot(x, med, "o-", color="C0", label="median")
    for s in steps:
        i = x[labels.index(s["commit"])]
        ax.axvline(i - 0.5, color="C3", ls="--", lw=1)
        ax.annotate(f"{s['commit']}\n{s['change_pct']:+.0f}%", (i - 0.5, max(v for v in hi if v == v)),
                    color="C3", fontsize=8, ha="left", va="top")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    for a_ in axes[0]:
        a_.set_xticks(x)
        a_.set_xticklabels(labels, rotation=60, fontsize=7)
        a_.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    if ncol == 2:
        ax2 = axes[0][1]
        ax2.plot(x, [r.get("pct_of_peak") or float("nan") for r in rs], "s-", color="C2")
        ax2.set_ylabel("% of measured fp32 FMA peak")
        ax2.set_ylim(bottom=0)
        ax2.set_title("normalised: GFLOP/s / bench_peak", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def html_escape(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def cmd_report(a):
    recs = read_store(a.store)
    if not recs:
        raise Fail(f"{a.store}: no records")
    os.makedirs(os.path.join(a.out, "plots"), exist_ok=True)
    machines = {}
    for r in recs:  # the machine's best measured peak (a peak measured on a busy machine reads low)
        m = machines.setdefault(r["machine"]["id"], dict(r["machine"], peak_gflops={}))
        for k, v in (r["machine"].get("peak_gflops") or {}).items():
            if isinstance(v, float):
                m["peak_gflops"][k] = max(v, m["peak_gflops"].get(k, 0.0))
    for r in recs:
        pk = peak_for(machines[r["machine"]["id"]], r.get("env", {}).get("threads") or 1)
        if r.get("gflops_median") and pk:
            r["pct_of_peak"] = 100.0 * r["gflops_median"] / pk
    ser = series(recs)
    steps = find_steps(recs, a.statistic, beta=a.beta, min_effect=a.min_effect)
    body = []
    for mid, m in sorted(machines.items()):
        pk = m.get("peak_gflops") or {}
        body.append(f"<h2>Machine {html_escape(m['name'])} <small>({mid})</small></h2><p>{html_escape(m['cpu_model'])}, "
                    f"{m['cores']} cores, ISA {html_escape(' '.join(m['isa']))}; measured fp32 FMA peak (GFLOP/s, best of the records' "
                    f"bench_peak runs; % of peak below uses the 1-thread figure for 1-thread runs): "
                    + html_escape(", ".join(f"{k} {v:.0f}" for k, v in pk.items() if isinstance(v, float))) + "</p>")
        conv = ser.get((mid, CONV_NAME), [])
        train = {b: rs for (mm, b), rs in ser.items() if mm == mid and b != CONV_NAME}
        # per commit: speed (geometric mean over benchmarks, relative to the oldest commit) beside time-to-target
        commits = []
        for rs in list(train.values()) + [conv]:
            for r in rs:
                if r["commit"]["sha"] not in [c["sha"] for c in commits]:
                    commits.append(r["commit"])
        order = commit_order([c["sha"] for c in commits])
        commits.sort(key=lambda c: (order.get(c["sha"]) if order.get(c["sha"]) is not None else math.inf, c["time"]))
        base = {b: rs[0]["median"] for b, rs in train.items() if rs and rs[0].get("median")}
        rows = []
        for c in commits:
            rat = [base[b] / r["median"] for b, rs in train.items() for r in rs
                   if r["commit"]["sha"] == c["sha"] and r.get("median") and b in base]
            cv = [r for r in conv if r["commit"]["sha"] == c["sha"]]
            envs = [r["env"] for b, rs in train.items() for r in rs if r["commit"]["sha"] == c["sha"]]
            ld = [e.get("loadavg_before") for e in envs]
            lib = envs[0].get("onednn_version") if envs else None
            cc = envs[0].get("compiler") if envs else None
            gm = math.exp(sum(math.log(v) for v in rat) / len(rat)) if rat else None
            tt = cv[0] if cv else None
            rows.append((c, gm, len(rat), tt, ld[0] if ld else None, lib, cc))
        body.append("<h3>Speed beside convergence, per commit</h3><table><tr><th>commit</th><th>date</th><th>subject</th>"
                    "<th>train-step speed vs oldest (geomean)</th><th>benchmarks</th>"
                    f"<th>{html_escape(CONV_NAME)}: seconds (steps)</th><th>oneDNN</th><th>compiler</th><th>load avg</th></tr>")
        for c, gm, nb, tt, ld, lib, cc in rows:
            ttxt = ("not recorded" if tt is None else
                    f"{tt['median']:.2f} s ({median(tt['steps_to_target']):.0f} steps)" if tt.get("median") else
                    "target not reached" + (f": {html_escape(tt.get('error'))}" if tt.get("error") else ""))
            body.append(f"<tr><td><code>{c['short']}</code></td><td>{c['date'][:10]}</td><td>{html_escape(c['subject'][:90])}</td>"
                        f"<td>{'' if gm is None else f'{gm:.2f}x'}</td><td>{nb}</td><td>{ttxt}</td>"
                        f"<td>{html_escape(lib or '')}</td><td>{html_escape(cc or '')}</td>"
                        f"<td>{html_escape(ld) if ld else ''}</td></tr>")
        body.append("</table>")
        mst = [s for s in steps if s["machine"] == mid]
        body.append("<h3>Latest changes (change points, newest first)</h3>")
        if mst:
            body.append("<table><tr><th>benchmark</th><th>first commit of the step</th><th>previous recorded</th>"
                        "<th>before</th><th>after</th><th>change</th><th>U-test p (the two commits)</th><th>subject</th></tr>")
            for s in sorted(mst, key=lambda s: -s["index"]):
                body.append(f"<tr><td>{html_escape(s['benchmark'])}</td><td><code>{s['commit']}</code></td>"
                            f"<td><code>{s['previous']}</code></td><td>{s['before']:.4g} {s['unit']}</td>"
                            f"<td>{s['after']:.4g} {s['unit']}</td><td>{html_escape(fmt_change(s))}</td>"
                            f"<td>{s['p_value']:.3g}</td><td>{html_escape(s['subject'][:70])}</td></tr>")
            body.append("</table>")
        else:
            body.append("<p>No change points.</p>")
        body.append('<div class="grid">')
        for b, rs in sorted(train.items()) + ([(CONV_NAME, conv)] if conv else []):
            fn = f"plots/{mid}_{re.sub(r'[^A-Za-z0-9]+', '_', b)}.png"
            bs = [s for s in mst if s["benchmark"] == b]
            unit = rs[0].get("unit", "")
            _plot(os.path.join(a.out, fn), f"{b} on {m['name']}", rs, bs,
                  "seconds to 80% test accuracy" if b == CONV_NAME else f"time per step ({unit})",
                  pct_peak=b != CONV_NAME)
            body.append(f'<figure><img src="{fn}" alt="{html_escape(b)}"><figcaption>{html_escape(b)}: median with '
                        f'min-max band over {len(rs[0]["samples"])} samples per commit; red lines: change points, '
                        f'labelled by the first commit of the step</figcaption></figure>')
        body.append("</div>")
    prov = tool_provenance()
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sgdbench performance history</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1400px}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}} img{{max-width:100%}} figure{{margin:0.5em}}
.grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(640px,1fr))}} figcaption{{font-size:12px}}</style>
</head><body><h1>sgdbench performance history</h1>
<p>{len(recs)} records from <code>{html_escape(os.path.relpath(a.store, ROOT) if a.store.startswith(ROOT) else a.store)}</code>;
change points: penalised L1 piecewise-constant fit on log({a.statistic}) per commit over its samples (beta {a.beta},
minimum effect {100 * a.min_effect:g}%, 3.5 standard errors); plots show the median with the min-max band. Report written {prov['written']} by {prov['tool']} at {prov['tool_commit']}.</p>
{''.join(body)}
</body></html>
"""
    atomic_write(os.path.join(a.out, "index.html"), page)
    atomic_write(os.path.join(a.out, "steps.json"), json.dumps(
        {"schema_version": SCHEMA_VERSION, "provenance": prov, "store": a.store, "records": len(recs),
         "detector": {"method": "penalised L1 piecewise-constant (optimal partitioning)", "beta": a.beta,
                      "statistic": a.statistic, "z": 3.5, "min_size_inside": 2,
                      "min_effect": a.min_effect}, "steps": steps}, indent=1))
    print(f"perf_history.py: wrote {os.path.join(a.out, 'index.html')} ({len(ser)} series, {len(steps)} change points)")
    return 0



# ---------------------------------------------------------------- bisect

def bisect_commits(commits, measure, min_effect=0.05, alpha=0.05, log=print, statistic="median"):
    """First commit at which a benchmark got slower. commits: oldest (good) .. newest (bad);
    measure(sha) -> samples (larger = slower). The two ends' levels (median or min of the samples)
    must differ by more than min_effect with Mann-Whitney p < alpha; each middle commit is bad when its level is nearer
    (in log) to the bad end's than to the good end's. Returns a dict with the first bad commit."""
    cache = {}
    level = {"min": min, "max": max, "median": median}[statistic]

    def m(i):
        if i not in cache:
            cache[i] = measure(commits[i])
            log(f"perf_history.py: bisect: {commits[i][:12]} {statistic} {level(cache[i]):.4g} ({len(cache[i])} samples)")
        return cache[i]

    g, b = m(0), m(len(commits) - 1)
    mg, mb = level(g), level(b)
    p = mann_whitney_p(g, b)
    if not (mb > mg * (1 + min_effect) and p < alpha):
        return {"slower": False, "good_median": mg, "bad_median": mb, "p_value": p, "measured": len(cache)}
    cut = 0.5 * (math.log(mg) + math.log(mb))
    lo, hi = 0, len(commits) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if math.log(level(m(mid))) > cut:
            hi = mid
        else:
            lo = mid
    return {"slower": True, "first_bad": commits[hi], "last_good": commits[lo], "good_median": level(m(lo)),
            "bad_median": level(m(hi)), "change_pct": 100 * (level(m(hi)) / level(m(lo)) - 1),
            "p_value": mann_whitney_p(m(lo), m(hi)), "measured": len(cache)}


def cmd_bisect(a):
    good = git("rev-parse", "--verify", a.good + "^{commit}")
    bad = git("rev-parse", "--verify", a.bad + "^{commit}")
    commits = [good] + git("rev-list", "--first-parent", "--reverse", f"{good}..{bad}").split()
    if commits[-1] != bad:
        raise Fail(f"bisect: {a.bad} is not a first-parent descendant of {a.good}")
    bench = a.benchmark if "/" in a.benchmark and not a.benchmark.startswith("BM_") else bench_key(a.benchmark)
    machine = machine_identity(a.peak_build, a.machine, peak=not a.no_peak)
    known = {}
    if os.path.isdir(a.store) and not a.fresh:
        for r in read_store(a.store):
            if r["machine"]["id"] == machine["id"] and r["benchmark"] == bench and r.get("samples"):
                known[r["commit"]["sha"]] = r["samples"]

    def measure(sha):
        if sha in known:
            print(f"perf_history.py: bisect: {sha[:12]} from the store: min {min(known[sha]):.4g}, "
                  f"median {median(known[sha]):.4g}", flush=True)
            return known[sha]
        info = build_commit(sha, a.cache, a.jobs, log=lambda s: print(s, flush=True))
        ci = commit_info(sha)
        la0 = loadavg()
        if bench == CONV_NAME:
            vals = [run_convergence(info["cli"], a.threads)["seconds_to_target"] for _ in range(a.rounds * a.reps)]
            vals = [v for v in vals if v is not None]
            unit, kind, extra = "s", "time_to_target", {}
        else:
            gb = "BM_TrainStep/" + bench[len("train_step/"):] + "/real_time"
            res = run_train_step(info["bench"], a.rounds, a.reps, a.min_time, a.threads, flt="^" + re.escape(gb) + "$")
            if gb not in res:
                raise Fail(f"bisect: {sha[:12]} has no benchmark {gb}")
            vals, unit, kind, extra = res[gb]["us"], "us", "train_step", {"gflops_samples": res[gb]["gflops"]}
        env = {"threads": a.threads, "loadavg_before": la0, "loadavg_after": loadavg(), "finished": now(),
               "compiler": info.get("compiler"), "recorded_by": "bisect"}
        if vals:
            append_record(a.store, make_record(ci, machine, bench, kind, vals, unit, extra, env))
        print(f"perf_history.py: bisect: {sha[:12]} measured: min {min(vals) if vals else float('nan'):.4g}, "
              f"median {median(vals) if vals else float('nan'):.4g}", flush=True)
        return vals

    word = "faster" if a.faster else "slower"
    print(f"perf_history.py: bisect {bench} ({word}) over {len(commits)} commits ({good[:12]}..{bad[:12]})", flush=True)
    # --faster: the same search on 1/value, so 'slower' in bisect_commits means faster here
    meas = (lambda sha: [1.0 / v for v in measure(sha)]) if a.faster else measure
    # the level of a commit: its min (default, as the change points) or median; with --faster the
    # search runs on 1/value, whose max is the min's reciprocal
    stat = a.statistic if not a.faster else {"min": "max", "median": "median"}[a.statistic]
    r = bisect_commits(commits, meas, a.min_effect, a.alpha, log=lambda m: None, statistic=stat)
    if a.faster:
        for k in ("good_median", "bad_median"):
            r[k] = 1.0 / r[k]
        if r["slower"]:
            r["change_pct"] = 100 * (r["bad_median"] / r["good_median"] - 1)
    if not r["slower"]:
        print(f"perf_history.py: {bad[:12]} is not {word} than {good[:12]} ({r['good_median']:.4g} -> "
              f"{r['bad_median']:.4g}, U-test p {r['p_value']:.3g}): nothing to bisect")
        return 1
    ci = commit_info(r["first_bad"])
    print(f"perf_history.py: first {word} commit: {ci['short']} {ci['subject'][:70]!r}: {a.statistic} {r['good_median']:.4g} -> "
          f"{r['bad_median']:.4g} ({r['change_pct']:+.1f}%, U-test p {r['p_value']:.3g} against {r['last_good'][:7]}); "
          f"{r['measured']} commits measured")
    return 0


# ---------------------------------------------------------------- gate calibration

GATE_LINE = re.compile(r"^(BM_\S+)\s+([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)%\s+(\S+)\s+(ok|REGRESSION)$")


def cmd_gate_calibrate(a):
    """Runs tools/perf_gate.py N times per injected slowdown on one build compared with itself."""
    levels = [float(x) for x in a.inject_us.split(",")]
    runs = []
    for us in levels:
        for i in range(a.runs):
            cmd = ["/usr/bin/python3", os.path.join(ROOT, "tools", "perf_gate.py"), "--baseline-build", a.build,
                   "--current-build", a.build, "--work", a.work] + (["--quick"] if a.quick else []) + \
                  (["--inject-slowdown-us", f"{us:g}"] if us else []) + a.gate_args
            t0 = now()
            la = loadavg()
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode not in (0, 1):
                raise Fail(f"perf_gate.py exit {p.returncode}: {p.stderr.strip()[-300:]}")
            rows = [GATE_LINE.match(l.strip()) for l in p.stdout.splitlines()]
            rows = [{"benchmark": r.group(1), "base_us": float(r.group(2)), "cur_us": float(r.group(3)),
                     "change_pct": float(r.group(4)), "p": None if r.group(5) == "n/a" else float(r.group(5)),
                     "regression": r.group(6) == "REGRESSION"} for r in rows if r]
            runs.append({"inject_us": us, "run": i, "exit": p.returncode, "benchmarks": rows, "started": t0,
                         "loadavg": la})
            print(f"perf_history.py: gate inject {us:g} us run {i + 1}/{a.runs}: exit {p.returncode} "
                  + " ".join(f"{r['benchmark'].split('/')[1]}/{r['benchmark'].split('/')[2]}:{r['change_pct']:+.0f}%"
                             + ("!" if r["regression"] else "") for r in rows), flush=True)
    summary = []
    for us in levels:
        rs = [r for r in runs if r["inject_us"] == us]
        names = sorted({b["benchmark"] for r in rs for b in r["benchmarks"]})
        per = {}
        for n in names:
            bs = [b for r in rs for b in r["benchmarks"] if b["benchmark"] == n]
            base = median([b["base_us"] for b in bs])
            per[n] = {"injected_pct": 100 * us / base if base else None, "caught": sum(b["regression"] for b in bs),
                      "of": len(bs), "median_change_pct": median([b["change_pct"] for b in bs])}
        summary.append({"inject_us": us, "gate_failed": sum(r["exit"] == 1 for r in rs), "runs": len(rs), "per_benchmark": per})
    doc = {"schema_version": SCHEMA_VERSION, "provenance": dict(tool_provenance(), command=" ".join(sys.argv)),
           "build": os.path.abspath(a.build), "machine": machine_identity(a.build, peak=False),
           "gate_args": (["--quick"] if a.quick else []) + a.gate_args,
           "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")},
           "summary": summary, "runs": runs}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    atomic_write(a.out, json.dumps(doc, indent=1))
    print("\n| injected per step | gate failed (of N) | per benchmark: injected % -> caught/N (median measured change) |")
    print("|---|---|---|")
    for s in summary:
        print(f"| {s['inject_us']:g} us | {s['gate_failed']}/{s['runs']} | " + "; ".join(
            f"{n.split('/')[1]}/{n.split('/')[2]}: +{v['injected_pct']:.0f}% -> {v['caught']}/{v['of']} "
            f"({v['median_change_pct']:+.1f}%)" for n, v in s["per_benchmark"].items()) + " |")
    print(f"perf_history.py: wrote {a.out}")
    fp = next((s for s in summary if s["inject_us"] == 0), None)
    return 1 if fp and fp["gate_failed"] else 0



def callgrind_count(exe, flt, threads=1):
    """(instructions, iterations) of one bench_train_step process under callgrind."""
    with tempfile.TemporaryDirectory() as t:
        out = os.path.join(t, "cg.out")
        js = os.path.join(t, "b.json")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", exe, f"--benchmark_filter={flt}",
               "--benchmark_min_time=0", f"--benchmark_out={js}", "--benchmark_out_format=json"]
        if threads:
            cmd.append(f"--threads={threads}")
        env = dict(os.environ)
        env.pop("SGDBENCH_BENCH_EXTRA_WORK", None)
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        m = re.search(r"Collected : (\d+)", p.stderr)
        if not m:
            raise Fail(f"callgrind on {exe} failed: {p.stderr.strip()[-200:]}")
        iters = 0
        try:  # a filter that matches nothing leaves the file empty
            with open(js) as f:
                iters = sum(b.get("iterations", 0) for b in json.load(f).get("benchmarks", []))
        except (OSError, ValueError):
            iters = 0
        return int(m.group(1)), iters


def cmd_instructions(a):
    """Instructions per training step (callgrind): the step's process minus a setup-only process
    (same binary, a filter that matches nothing), divided by the iterations run."""
    if not shutil_which("valgrind"):
        raise Fail("valgrind not installed (apt-get install valgrind)")
    gb = "^BM_TrainStep/" + a.benchmark + "/real_time$"
    rows = []
    for b in a.builds.split(","):
        exe = b if os.path.isfile(b) else os.path.join(b, "bench", "bench_train_step")
        if not os.path.exists(exe):
            raise Fail(f"{exe}: not found")
        for r in range(a.repeat):
            total, iters = callgrind_count(exe, gb)
            setup, _ = callgrind_count(exe, "^no_such_benchmark$")
            per = (total - setup) / iters if iters else None
            rows.append({"build": b, "repeat": r, "instructions": total, "setup_instructions": setup,
                         "iterations": iters, "per_step": per})
            print(f"{b}: run {r + 1}: {total:,} instructions, {iters} iterations, setup {setup:,}: "
                  f"{per:,.0f} per step" if per else f"{b}: run {r + 1}: no iterations", flush=True)
    if a.out:
        atomic_write(a.out, json.dumps({"schema_version": SCHEMA_VERSION, "provenance": dict(
            tool_provenance(), command=" ".join(sys.argv)), "benchmark": a.benchmark, "rows": rows}, indent=1))
    return 0


# ---------------------------------------------------------------- command line (kept last)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def commit_args(p):
        p.add_argument("--commits", help="A..B (after A up to B), refs, comma lists of both")
        p.add_argument("--last", type=int, help="the last N commits of HEAD (first parent)")
        p.add_argument("--every", type=int, default=1, help="keep every K-th commit of each range")
        p.add_argument("--cache", default=DEFAULT_CACHE, help="per-commit builds (default build-perf/history)")
        p.add_argument("--jobs", type=int, default=2, help="compile jobs (compiles run under nice 19)")

    r = sub.add_parser("record", help="build commits and append their benchmark records")
    commit_args(r)
    r.add_argument("--store", default=DEFAULT_STORE)
    r.add_argument("--machine", help="machine name (default: host name); the id is a hash of CPU, cores, ISA, memory")
    r.add_argument("--peak-build", default=os.path.join(ROOT, "build"), help="build with bench/bench_peak")
    r.add_argument("--no-peak", action="store_true")
    r.add_argument("--rounds", type=int, default=3, help="benchmark processes per commit, interleaved across commits")
    r.add_argument("--reps", type=int, default=3, help="repetitions per process")
    r.add_argument("--min-time", type=float, default=0.1, help="seconds per repetition")
    r.add_argument("--threads", type=int, default=1, help="threads (0 = the binary's default)")
    r.add_argument("--conv-reps", type=int, default=1, help="time-to-target runs per commit")
    r.add_argument("--no-convergence", action="store_true")
    r.add_argument("--force", action="store_true", help="record again even when the store has the commit")
    r.add_argument("--expect", type=int, default=16, help=argparse.SUPPRESS)
    b = sub.add_parser("build", help="only build commits into the cache")
    commit_args(b)

    def det_args(p):
        p.add_argument("--store", default=DEFAULT_STORE)
        p.add_argument("--beta", type=float, default=2.5, help="penalty = beta * noise * ln(n)")
        p.add_argument("--min-effect", type=float, default=0.05, help="smallest step reported (0.05 = 5%%)")
        p.add_argument("--statistic", choices=("min", "median"), default="min",
                       help="per-commit figure the steps are found on (default min: load only adds time)")
    rp = sub.add_parser("report", help="static HTML page + PNGs from the store")
    det_args(rp)
    rp.add_argument("--out", help="output directory (default: STORE/report)")
    sp = sub.add_parser("steps", help="print the change points")
    det_args(sp)
    bs = sub.add_parser("bisect", help="find the commit that made a benchmark slower")
    bs.add_argument("--benchmark", required=True, help="e.g. train_step/lenet_cifar/batch:1 (or BM_TrainStep/...)")
    bs.add_argument("--good", required=True)
    bs.add_argument("--bad", required=True)
    bs.add_argument("--store", default=DEFAULT_STORE, help="reuses its samples and appends new ones")
    bs.add_argument("--fresh", action="store_true", help="measure every commit again, ignoring the store")
    bs.add_argument("--cache", default=DEFAULT_CACHE)
    bs.add_argument("--jobs", type=int, default=2)
    bs.add_argument("--machine")
    bs.add_argument("--peak-build", default=os.path.join(ROOT, "build"))
    bs.add_argument("--no-peak", action="store_true")
    bs.add_argument("--rounds", type=int, default=2)
    bs.add_argument("--reps", type=int, default=5)
    bs.add_argument("--min-time", type=float, default=0.1)
    bs.add_argument("--threads", type=int, default=1)
    bs.add_argument("--min-effect", type=float, default=0.05)
    bs.add_argument("--alpha", type=float, default=0.05)
    bs.add_argument("--faster", action="store_true", help="find the commit that made it faster instead")
    bs.add_argument("--statistic", choices=("min", "median"), default="min",
                    help="a commit's level: the min (default, as the change points) or median of its samples")
    gc = sub.add_parser("gate-calibrate", help="false-positive rate and sensitivity of tools/perf_gate.py")
    gc.add_argument("--build", default=os.path.join(ROOT, "build"), help="build compared with itself")
    gc.add_argument("--runs", type=int, default=10, help="gate runs per injected slowdown")
    gc.add_argument("--inject-us", default="0,50,300", help="comma list of microseconds per step (0 = identical)")
    gc.add_argument("--quick", action="store_true", default=True)
    gc.add_argument("--full", dest="quick", action="store_false", help="the full gate instead of --quick")
    gc.add_argument("--work", default=os.path.join(ROOT, "build-perf", "calibrate"))
    gc.add_argument("--out", default=os.path.join(ROOT, "results", "perf_gate_calibration", "calibration.json"))
    gc.add_argument("gate_args", nargs="*", help="after --: more perf_gate.py arguments")
    ins = sub.add_parser("instructions", help="instructions per training step of builds (callgrind)")
    ins.add_argument("--builds", required=True, help="comma list of build directories or bench_train_step paths")
    ins.add_argument("--benchmark", default="lenet_cifar/batch:32", help="MODEL/batch:N")
    ins.add_argument("--repeat", type=int, default=2)
    ins.add_argument("--out", help="write the counts as JSON here")
    a = ap.parse_args(argv)
    if a.cmd == "report" and not a.out:
        a.out = os.path.join(a.store, "report")
    if a.cmd in ("record", "build") and not (a.commits or a.last):
        ap.error("record/build: give --commits or --last")
    try:
        return {"record": cmd_record, "build": cmd_build, "report": cmd_report, "steps": cmd_steps,
                "bisect": cmd_bisect, "gate-calibrate": cmd_gate_calibrate, "instructions": cmd_instructions}[a.cmd](a)
    except Fail as e:
        print(f"perf_history.py: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
