#!/usr/bin/python3
"""sgdbench vs PyTorch, side by side: the same models' training steps (zero_grad, forward,
cross-entropy, backward, SGD lr 0.01 momentum 0.9 on one fixed random batch, fp32, NCHW, train
mode; as ../shared/anchors/README.md) timed in PyTorch and with bench_train_step, interleaved
in one invocation. Prints images/s for both and the ratio sgdbench / PyTorch per model, batch
size and thread count.

Usage: /usr/bin/python3 tools/compare_pytorch.py [--bench build/bench/bench_train_step]
          [--models lenet_cifar,keras_mnist_mlp] [--batches 1,32,128,1024] [--threads 1,2] [--rounds 2]

Needs Debian's python3-torch (tools/setup.sh --with-torch). The anchor figures were taken with
PyTorch using OpenBLAS's OpenMP build for Linear layers and glibc malloc told to keep its memory:
  apt-get install libopenblas0-openmp      (becomes the system libblas.so.3 via alternatives)
  --tuned   runs the PyTorch side with GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736
With Debian's default reference BLAS, PyTorch's Linear layers are 2-20x slower.
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


def worker():
    """Reads {"model", "batch", "threads", "seconds"} lines; answers {"images_per_second"}."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import torch_models
    for line in sys.stdin:
        req = json.loads(line)
        torch.set_num_threads(req["threads"])
        zoo, shape = MODELS[req["model"]]
        torch.manual_seed(0)
        net = torch_models.build(zoo, shape).train()
        x = torch.rand(req["batch"], *shape)
        y = torch.randint(0, 10, (req["batch"],))
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
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


def sgdbench_ips(binary, model, batch, threads, seconds):
    out = subprocess.run([binary, f"--threads={threads}", f"--benchmark_filter=^BM_TrainStep/{model}/batch:{batch}/real_time$",
                          f"--benchmark_min_time={seconds}", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True).stdout
    b = [x for x in json.loads(out)["benchmarks"] if x.get("run_type") == "iteration"]
    if not b:
        sys.exit(f"compare_pytorch.py: {binary} has no benchmark {model}/batch:{batch}")
    return b[0]["images/s"]


def main():
    if "--worker" in sys.argv:
        return worker()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "bench_train_step"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,32,128,1024")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved measurements per cell (the best is kept)")
    ap.add_argument("--seconds", type=float, default=0.5, help="measuring time per measurement")
    ap.add_argument("--tuned", action="store_true", help="PyTorch with the anchor's malloc tuning (GLIBC_TUNABLES)")
    a = ap.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("compare_pytorch.py: PyTorch not found. Install Debian's python3-torch (tools/setup.sh --with-torch) "
                 "and run with /usr/bin/python3. For the anchor's set-up also: apt-get install libopenblas0-openmp")
    if not os.path.exists(a.bench):
        sys.exit(f"compare_pytorch.py: {a.bench} not found; build first (cmake --build build)")
    env = dict(os.environ)
    if a.tuned:
        env["GLIBC_TUNABLES"] = TUNABLES
    blas = subprocess.run(["update-alternatives", "--query", "libblas.so.3-x86_64-linux-gnu"], capture_output=True,
                          text=True).stdout
    blas_line = next((l for l in blas.splitlines() if l.startswith("Value:")), "Value: unknown")
    print(f"PyTorch {__import__('torch').__version__}; BLAS {blas_line[7:]}; malloc tuning {'on' if a.tuned else 'off'}")
    w = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=env)

    def torch_ips(model, batch, threads):
        w.stdin.write(json.dumps({"model": model, "batch": batch, "threads": threads, "seconds": a.seconds}) + "\n")
        w.stdin.flush()
        return json.loads(w.stdout.readline())["images_per_second"]

    print(f"{'model':<17} {'threads':>7} {'batch':>6} {'sgdbench img/s':>15} {'PyTorch img/s':>14} {'ratio':>7}")
    for threads in [int(t) for t in a.threads.split(",")]:
        for model in a.models.split(","):
            if model not in MODELS:
                sys.exit(f"compare_pytorch.py: unknown model {model} (known: {', '.join(MODELS)})")
            for batch in [int(b) for b in a.batches.split(",")]:
                s, t = 0.0, 0.0
                for _ in range(a.rounds):
                    t = max(t, torch_ips(model, batch, threads))
                    time.sleep(0.3)  # let PyTorch's OpenMP threads stop spinning before we measure
                    s = max(s, sgdbench_ips(a.bench, model, batch, threads, a.seconds))
                print(f"{model:<17} {threads:>7} {batch:>6} {s:>15,.0f} {t:>14,.0f} {s / t:>7.2f}", flush=True)
    w.stdin.close()
    w.wait()


if __name__ == "__main__":
    main()
