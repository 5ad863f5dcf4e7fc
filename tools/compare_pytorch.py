#!/usr/bin/python3
"""sgdbench vs PyTorch, side by side: the same models' training steps (zero_grad, forward,
cross-entropy, backward, SGD lr 0.01 momentum 0.9, fp32, NCHW, train mode; as
../shared/anchors/README.md) timed in PyTorch and with bench_train_step, interleaved in one
invocation. Prints images/s for both and the ratio sgdbench / PyTorch per model, batch size and
thread count, and with --json FILE writes them with the machine and library context.

Both sides train on one random input batch with fresh random labels every step (64 pre-drawn
label sets, cycled), so neither can memorise its batch and drift into denormal arithmetic: the
figures measure training, not memorisation, and do not depend on how long a measurement runs.

Denormals: --flush-denormal (the default) turns on flush-to-zero on both sides (PyTorch:
torch.set_flush_denormal(True); sgdbench's default); --no-flush-denormal turns it off on both
(PyTorch's default; sgdbench --keep-denormals).

Best-effort PyTorch (--best-effort, what the anchor figures used): OpenBLAS's OpenMP build for
Linear layers and glibc malloc told to keep its memory. The tool does not touch the machine's
BLAS: it downloads Debian's libopenblas0-openmp package (apt-get download, no root) into a scratch
directory (--scratch, default /tmp/sgdbench-openblas), unpacks it there (dpkg -x) and puts its
libblas.so.3 first on LD_LIBRARY_PATH of the PyTorch worker process only; it also sets
GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736 for that process.
With Debian's default reference BLAS, PyTorch's Linear layers are 2-20x slower.

Usage: /usr/bin/python3 tools/compare_pytorch.py [--bench build/bench/bench_train_step]
          [--models lenet_cifar,keras_mnist_mlp] [--batches 1,4,32,128,1024] [--threads 1,2]
          [--rounds 2] [--best-effort] [--no-flush-denormal] [--json FILE]

Needs Debian's python3-torch (tools/setup.sh --with-torch).

Tables for README.md from a --json file (no PyTorch needed):
  /usr/bin/python3 tools/compare_pytorch.py --markdown FILE [--peak P1,P2 [--peak-models M,...]]
prints a table of sgdbench / PyTorch images/s = ratio per model and thread count, one of the
ratio of each side's best thread count per model (best sgdbench over best PyTorch images/s) with
its geometric mean and the one over all cells, and with --peak (GFLOP/s measured for 1, 2, ...
threads, e.g. by bench_peak) the GFLOP/s sgdbench executed and their percentage of that peak for
--peak-models (default: the conv models). Exit status 2 when FILE cannot be read or has no rows.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {  # anchor name -> (zoo model, input shape)
    "lenet_cifar": ("lenet", (3, 32, 32)),
    "lenet_fmnist": ("lenet", (1, 28, 28)),
    "keras_cifar_cnn": ("keras_cifar_cnn", (3, 32, 32)),
    "keras_mnist_mlp": ("keras_mnist_mlp", (1, 28, 28)),
    "keras_mnist_cnn": ("keras_mnist_cnn", (1, 28, 28)),
}
TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
LABEL_SETS = 64  # as bench_train_step's kLabelSets


def openblas_openmp(scratch):
    """The directory holding libblas.so.3 of Debian's libopenblas0-openmp, unpacked in scratch."""
    libdir = os.path.join(scratch, "root", "usr", "lib", "x86_64-linux-gnu", "openblas-openmp")
    if os.path.exists(os.path.join(libdir, "libblas.so.3")):
        return libdir
    os.makedirs(scratch, exist_ok=True)
    r = subprocess.run(["apt-get", "download", "libopenblas0-openmp"], cwd=scratch, capture_output=True, text=True)
    debs = [f for f in os.listdir(scratch) if f.startswith("libopenblas0-openmp") and f.endswith(".deb")]
    if not debs:
        sys.exit(f"compare_pytorch.py: apt-get download libopenblas0-openmp failed: {r.stderr.strip()}")
    subprocess.run(["dpkg", "-x", os.path.join(scratch, debs[0]), os.path.join(scratch, "root")], check=True)
    if not os.path.exists(os.path.join(libdir, "libblas.so.3")):
        sys.exit(f"compare_pytorch.py: {debs[0]} has no openblas-openmp/libblas.so.3")
    return libdir


def worker():
    """Reads {"model", "batch", "threads", "seconds"} lines; answers {"images_per_second"}."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import torch_models
    for line in sys.stdin:
        req = json.loads(line)
        torch.set_num_threads(req["threads"])
        torch.set_flush_denormal(req["flush_denormal"])
        zoo, shape = MODELS[req["model"]]
        torch.manual_seed(0)
        net = torch_models.build(zoo, shape).train()
        x = torch.rand(req["batch"], *shape)
        labels = [torch.randint(0, 10, (req["batch"],)) for _ in range(LABEL_SETS)]
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        k = [0]

        def step():
            y = labels[k[0]]
            k[0] = (k[0] + 1) % LABEL_SETS
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()

        for _ in range(5):
            step()
        times, t_end = [], time.perf_counter() + req["seconds"]
        while time.perf_counter() < t_end or len(times) < 5:
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        print(json.dumps({"images_per_second": req["batch"] / statistics.median(times)}), flush=True)


def sgdbench_run(binary, model, batch, threads, seconds, flush):
    """(images/s, GFLOP/s, "executed" or "nominal", the benchmark JSON's context, core-to-core latency in ns or
    None) of one bench_train_step measurement
    (executed: what the step computes, without the first layer's unneeded input gradient; older
    binaries without that counter give the anchor's nominal 3 x forward FLOPs)."""
    out = subprocess.run([binary, f"--threads={threads}", f"--benchmark_filter=^BM_TrainStep/{model}/batch:{batch}/real_time$",
                          f"--benchmark_min_time={seconds}", "--benchmark_format=json"] +
                         ([] if flush else ["--keep-denormals"]),
                         check=True, capture_output=True, text=True).stdout
    doc = json.loads(out)
    b = [x for x in doc["benchmarks"] if x.get("run_type") == "iteration"]
    if not b:
        sys.exit(f"compare_pytorch.py: {binary} has no benchmark {model}/batch:{batch}")
    counted = "executed" if "executed_GFLOP/s" in b[0] else "nominal"
    c2c = b[0].get("core_to_core_ns")  # binaries that record it (bench::core_to_core_ns)
    return (b[0]["images/s"], b[0].get("executed_GFLOP/s", b[0].get("GFLOP/s")), counted, doc["context"],
            c2c if isinstance(c2c, (int, float)) and c2c == c2c else None)


def markdown(doc, peaks=None, peak_models=("keras_cifar_cnn", "keras_mnist_cnn", "lenet_cifar", "lenet_fmnist")):
    """README tables (a list of lines) from a --json document; peaks: GFLOP/s for 1, 2, ... threads."""
    rows = doc["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    batches = sorted({r["batch"] for r in rows})
    threads = sorted({r["threads"] for r in rows})
    cell = {(r["model"], r["threads"], r["batch"]): r for r in rows}
    head = "| model | threads | " + " | ".join(f"b={b}" for b in batches) + " |"
    rule = "|" + "---|" * (len(batches) + 2)
    out = [head, rule]
    for m in models:
        for t in threads:
            cs = []
            for b in batches:
                r = cell.get((m, t, b))
                cs.append("" if r is None else f"{r['sgdbench_images_per_second']:,.0f} / "
                          f"{r['pytorch_images_per_second']:,.0f} = **{r['ratio']:.2f}x**")
            out.append(f"| {m} | {t} | " + " | ".join(cs) + " |")
    best = []
    out += ["", "| model | " + " | ".join(f"b={b}" for b in batches) + " |", "|" + "---|" * (len(batches) + 1)]
    for m in models:
        cs = []
        for b in batches:
            rs = [cell[(m, t, b)] for t in threads if (m, t, b) in cell]
            if not rs:
                cs.append("")
                continue
            ratio = max(r["sgdbench_images_per_second"] for r in rs) / max(r["pytorch_images_per_second"] for r in rs)
            best.append(ratio)
            cs.append(f"{ratio:.2f}x")
        out.append(f"| {m} | " + " | ".join(cs) + " |")
    out += ["", f"Best thread counts: geometric mean {statistics.geometric_mean(best):.2f}x over {len(best)} cells; "
            f"same thread count both sides: {statistics.geometric_mean([r['ratio'] for r in rows]):.2f}x over "
            f"{len(rows)} cells."]
    if peaks:
        out += ["", head, rule]
        for m in [m for m in models if m in peak_models]:
            for t in threads:
                if t > len(peaks):
                    continue
                cs = []
                for b in batches:
                    r = cell.get((m, t, b))
                    g = r["sgdbench_gflops"] if r else None
                    cs.append("" if g is None else f"{g:.0f} ({100 * g / peaks[t - 1]:.0f}%)")
                out.append(f"| {m} | {t} | " + " | ".join(cs) + " |")
    return out


def markdown_main(argv):
    ap = argparse.ArgumentParser(prog="compare_pytorch.py --markdown")
    ap.add_argument("--markdown", required=True, help="a --json file of this tool")
    ap.add_argument("--peak", help="measured GFLOP/s for 1, 2, ... threads, comma-separated")
    ap.add_argument("--peak-models", default="keras_cifar_cnn,keras_mnist_cnn,lenet_cifar,lenet_fmnist")
    a = ap.parse_args(argv)
    try:
        with open(a.markdown) as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list) or not doc["rows"]:
            raise ValueError("no rows")
        peaks = [float(p) for p in a.peak.split(",")] if a.peak else None
        if peaks and not all(p > 0 for p in peaks):  # also NaN
            raise ValueError("--peak: GFLOP/s must be positive numbers")
        for i, r in enumerate(doc["rows"]):
            missing = [k for k in ("model", "threads", "batch", "sgdbench_images_per_second",
                                   "pytorch_images_per_second", "ratio") if k not in r]
            if missing:
                raise ValueError(f"rows[{i}] has no {', '.join(missing)}")
            if not (r["sgdbench_images_per_second"] > 0 and r["pytorch_images_per_second"] > 0 and r["threads"] >= 1):
                raise ValueError(f"rows[{i}]: images/s must be positive and threads at least 1")
        lines = markdown(doc, peaks, a.peak_models.split(","))
    except (OSError, ValueError, KeyError, TypeError, ArithmeticError) as e:
        print(f"compare_pytorch.py: {a.markdown}: {e}", file=sys.stderr)
        sys.exit(2)
    print("\n".join(lines))


def main():
    if "--worker" in sys.argv:
        return worker()
    if any(x == "--markdown" or x.startswith("--markdown=") for x in sys.argv[1:]):
        return markdown_main(sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "bench_train_step"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,4,32,128,1024")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved measurements per cell (the best is kept)")
    ap.add_argument("--seconds", type=float, default=0.5, help="measuring time per measurement")
    ap.add_argument("--tuned", action="store_true", help="PyTorch with the anchor's malloc tuning (GLIBC_TUNABLES)")
    ap.add_argument("--best-effort", action="store_true",
                    help="PyTorch with OpenBLAS-OpenMP (unpacked in --scratch, LD_LIBRARY_PATH) and malloc tuning")
    ap.add_argument("--scratch", default="/tmp/sgdbench-openblas", help="where --best-effort unpacks OpenBLAS")
    ap.add_argument("--flush-denormal", action=argparse.BooleanOptionalAction, default=True,
                    help="flush denormals to zero on both sides (default on)")
    ap.add_argument("--json", help="also write the table with machine and library context to this file")
    a = ap.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("compare_pytorch.py: PyTorch not found. Install Debian's python3-torch (tools/setup.sh --with-torch) "
                 "and run with /usr/bin/python3. For the anchor's set-up also: apt-get install libopenblas0-openmp")
    if not os.path.exists(a.bench):
        sys.exit(f"compare_pytorch.py: {a.bench} not found; build first (cmake --build build)")
    env = dict(os.environ)
    if a.tuned or a.best_effort:
        env["GLIBC_TUNABLES"] = TUNABLES
    if a.best_effort:
        libdir = openblas_openmp(a.scratch)
        env["LD_LIBRARY_PATH"] = libdir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        blas_name = os.path.join(libdir, "libblas.so.3")
    else:
        blas = subprocess.run(["update-alternatives", "--query", "libblas.so.3-x86_64-linux-gnu"], capture_output=True,
                              text=True).stdout
        blas_name = next((l for l in blas.splitlines() if l.startswith("Value:")), "Value: unknown")[7:]
    setup = {"pytorch": __import__("torch").__version__, "blas": blas_name, "malloc_tuning": "GLIBC_TUNABLES" in env,
             "flush_denormal": a.flush_denormal, "label_sets": LABEL_SETS, "seconds": a.seconds, "rounds": a.rounds}
    print(f"PyTorch {setup['pytorch']}; BLAS {blas_name}; malloc tuning {'on' if setup['malloc_tuning'] else 'off'}; "
          f"flush denormals {'on' if a.flush_denormal else 'off'} (both sides)")
    w = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=env)

    def torch_ips(model, batch, threads):
        w.stdin.write(json.dumps({"model": model, "batch": batch, "threads": threads, "seconds": a.seconds,
                                  "flush_denormal": a.flush_denormal}) + "\n")
        w.stdin.flush()
        return json.loads(w.stdout.readline())["images_per_second"]

    print(f"{'model':<17} {'threads':>7} {'batch':>6} {'sgdbench img/s':>15} {'GFLOP/s':>8} {'PyTorch img/s':>14} "
          f"{'ratio':>7}")
    rows, context = [], {}
    for threads in [int(t) for t in a.threads.split(",")]:
        for model in a.models.split(","):
            if model not in MODELS:
                sys.exit(f"compare_pytorch.py: unknown model {model} (known: {', '.join(MODELS)})")
            for batch in [int(b) for b in a.batches.split(",")]:
                s, t, gf, counted, lat, best = 0.0, 0.0, 0.0, "nominal", [], 0
                for _ in range(a.rounds):
                    t = max(t, torch_ips(model, batch, threads))
                    time.sleep(0.3)  # let PyTorch's OpenMP threads stop spinning before we measure
                    ips, g, counted, context, c2c = sgdbench_run(a.bench, model, batch, threads, a.seconds,
                                                                  a.flush_denormal)
                    lat.append(c2c)
                    if ips > s:
                        s, gf, best = ips, g or 0.0, len(lat) - 1
                print(f"{model:<17} {threads:>7} {batch:>6} {s:>15,.0f} {gf:>8.1f} {t:>14,.0f} {s / t:>7.2f}", flush=True)
                rows.append({"model": model, "threads": threads, "batch": batch, "sgdbench_images_per_second": s,
                             "sgdbench_gflops": gf, "sgdbench_gflops_counted": counted,
                             "pytorch_images_per_second": t, "ratio": s / t,
                             # each round's latency: high ones ran while the host had the vCPUs apart
                             "sgdbench_core_to_core_ns": lat, "sgdbench_best_round": best})
    w.stdin.close()
    w.wait()
    ratios = [r["ratio"] for r in rows]
    if ratios:
        print(f"geometric mean ratio {statistics.geometric_mean(ratios):.2f} over {len(ratios)} cells")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"command": " ".join(sys.argv), "setup": setup, "sgdbench_context": context, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
