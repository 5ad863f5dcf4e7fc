#!/usr/bin/python3
"""Data-parallel scaling on this machine, and a cost model for a cluster.

Measures the training step time (train_seconds / steps of a real `sgdbench train` run on
Fashion-MNIST, evaluation excluded) for 1 rank x 1 thread, 1 rank x 2 threads and 2 MPI ranks x 1
thread (data-parallel) at batch 32, 128 and 1024, and for 1 rank x 1 thread at the per-rank batch
sizes the model needs. Then predicts the step time of N ranks at global batch B on a cluster:

    t_N(B) = t_1(B / N) + allreduce(4 * parameters bytes, N)
    allreduce(S, N) = 2 (N - 1) / N * S / bandwidth + 2 (N - 1) * latency    (ring all-reduce)

with t_1 measured here (one core per rank) and the network given (--bandwidth GB/s, --latency us;
default 12.5 GB/s and 2 us: 100 Gb/s InfiniBand). Writes data_parallel.json and README.md to --out.

Usage: /usr/bin/python3 tools/dp_scaling.py [--sgdbench build/sgdbench] [--out DIR]
                                            [--models lenet,keras_mnist_mlp] [--bandwidth 12.5] [--latency 2]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

STEPS = {16: 300, 32: 200, 64: 150, 128: 100, 512: 30, 1024: 20}


def step_time(binary, model, batch, ranks, threads, tmp):
    out = tempfile.mkdtemp(dir=tmp)
    cmd = [binary, "--threads", str(threads), "train", "--model", model, "--batch-size", str(batch),
           "--epochs", "1000", "--lr", "0.01", "--set", f"max_steps={STEPS[batch]}",
           "--set", "data.limit=20000", "--set", "eval_batch=2000", "--quiet", "--out", out]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks), "--bind-to", "core"] + cmd + ["--data-parallel"]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    r = json.load(open(glob.glob(out + "/train/runs/*.json")[0]))
    return r["summary"]["train_seconds"] / r["summary"]["steps"], r


def params_of(binary, model):
    j = json.loads(subprocess.run([binary, "models", "--model", model, "--json"], check=True,
                                  capture_output=True, text=True).stdout)
    return j["parameters"]


def allreduce(size_bytes, n, bw, lat):
    return 0.0 if n == 1 else 2 * (n - 1) / n * size_bytes / bw + 2 * (n - 1) * lat


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sgdbench", default="build/sgdbench")
    ap.add_argument("--out", default="results/reference/data_parallel")
    ap.add_argument("--models", default="keras_mnist_mlp,lenet,keras_mnist_cnn")
    ap.add_argument("--bandwidth", type=float, default=12.5, help="GB/s")
    ap.add_argument("--latency", type=float, default=2.0, help="microseconds")
    a = ap.parse_args()
    bw, lat = a.bandwidth * 1e9, a.latency * 1e-6
    res = {"command": " ".join(["/usr/bin/python3"] + sys.argv), "network": {"GB/s": a.bandwidth, "latency_us": a.latency},
           "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            m = {"parameters": params_of(a.sgdbench, model), "measured": {}, "t1": {}}
            for b in sorted(STEPS):
                m["t1"][b], run = step_time(a.sgdbench, model, b, 1, 1, tmp)
                print(f"{model} batch {b}: 1 rank x 1 thread {1e3 * m['t1'][b]:.2f} ms/step", flush=True)
            res["provenance"] = run["provenance"]
            for b in (32, 128, 1024):
                t12, _ = step_time(a.sgdbench, model, b, 1, 2, tmp)
                t21, _ = step_time(a.sgdbench, model, b, 2, 1, tmp)
                pred = m["t1"][b // 2] + allreduce(4 * m["parameters"], 2, 20e9, 0.5e-6)
                m["measured"][b] = {"1x1": m["t1"][b], "1x2": t12, "2x1": t21, "2x1_model_shm": pred}
                print(f"{model} batch {b}: 1x2 {1e3 * t12:.2f} ms, 2x1 {1e3 * t21:.2f} ms", flush=True)
            m["predicted"] = {}
            for n in (8, 16, 64):
                for B in (1024, 4096):
                    local = B // n
                    if local not in m["t1"]:
                        continue
                    t = m["t1"][local] + allreduce(4 * m["parameters"], n, bw, lat)
                    m["predicted"][f"{n}x{B}"] = {"step_s": t, "speedup_vs_1": m["t1"][1024] * B / 1024 / t,
                                                  "allreduce_s": allreduce(4 * m["parameters"], n, bw, lat)}
            res["models"][model] = m
    os.makedirs(a.out, exist_ok=True)
    json.dump(res, open(os.path.join(a.out, "data_parallel.json"), "w"), indent=1)
    lines = [f"# Data-parallel scaling (made by `{res['command']}`)", "",
             f"Machine: {res['provenance']['cpu_model']}, {res['provenance']['hardware_threads']} hardware threads, "
             f"oneDNN {res['provenance']['onednn_version']}, {res['provenance'].get('mpi', {}).get('library', 'MPI')}.",
             "", "## Measured here: ms per training step (images/s)", "",
             "| model | batch | 1 rank x 1 thread | 1 rank x 2 threads | 2 ranks x 1 thread (data-parallel) | best |",
             "|---|---|---|---|---|---|"]
    for model, m in res["models"].items():
        for b, v in m["measured"].items():
            cells = {k: f"{1e3 * v[k]:.2f} ({b / v[k]:,.0f})" for k in ("1x1", "1x2", "2x1")}
            best = min(("1x2", "2x1"), key=lambda k: v[k])
            lines.append(f"| {model} | {b} | {cells['1x1']} | {cells['1x2']} | {cells['2x1']} | "
                         f"{'2 ranks' if best == '2x1' else '2 threads'} |")
    lines += ["", f"## Predicted for a cluster ({a.bandwidth} GB/s, {a.latency} us; one core per rank)", "",
              "t_N(B) = t_1(B/N) + ring all-reduce of 4 x parameters bytes; speed-up against one core at the same "
              "global batch (t_1(1024) x B/1024).", "",
              "| model | parameters | ranks x global batch | step ms | all-reduce ms | speed-up |", "|---|---|---|---|---|---|"]
    for model, m in res["models"].items():
        for k, v in m["predicted"].items():
            lines.append(f"| {model} | {m['parameters']:,} | {k} | {1e3 * v['step_s']:.2f} | "
                         f"{1e3 * v['allreduce_s']:.3f} | {v['speedup_vs_1']:.1f}x |")
    open(os.path.join(a.out, "README.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
