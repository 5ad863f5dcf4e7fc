#!/usr/bin/python3
"""Adversarial cases against the sgdbench CLI (issue 13): specs, models, command lines, data files,
faults, concurrency and numerics, each run with a 60 s timeout and a 4 GiB address-space limit.
A case passes when the process exits with the expected code, its stderr has the expected text,
every error is one `sgdbench: <kind>: ...` line naming the file or field (never `internal error`),
nothing crashed (signal), hung (timeout) or ran out of memory, and nothing half-written was left.
Prints one line per failure and a count per class.
Usage: adversarial.py path/to/sgdbench [--sanitized]   (--sanitized: an ASan build, which needs
its address space unlimited; any sanitizer report on stderr then fails the case)"""
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import gzip
import struct

BIN = os.path.abspath(sys.argv[1])
SANITIZED = "--sanitized" in sys.argv[2:]
T = tempfile.mkdtemp(prefix="sgdbench_adv_")
SYN = {"name": "synthetic", "synthetic": {"shape": [1, 8, 8], "train": 64, "test": 32}}
MLP = {"name": "tiny", "layers": [{"flatten": {}}, {"dense": {"out": 16}}, {"relu": {}},
                                   {"dense": {"out": "classes"}}]}
cases = []  # (class, name, argv, rc, pattern)


def path(name):
    return os.path.join(T, name)


def write(name, content, mode="w"):
    p = path(name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, mode) as f:
        f.write(content)
    return p


def spec(name, base=None, grid=None, raw=None, **top):
    doc = {"experiment": name, "base": {"model": MLP, "data": SYN, "epochs": 1, **(base or {})}}
    if grid is not None:
        doc["grid"] = grid
    doc.update(top)
    return write(name + ".json", raw if raw is not None else json.dumps(doc))


def case(cls, name, argv, rc, pattern=""):
    cases.append((cls, name, argv, rc, pattern))


def out(name):
    return ["--out", path("out_" + name), "--quiet"]


# ---- spec: structure, types, ranges, sizes --------------------------------------------------
S = "spec"
case(S, "empty file", ["validate", write("empty.json", "")], 3, "empty.json: invalid JSON")
case(S, "not an object", ["validate", write("list.json", "[1, 2]")], 3, "list.json")
case(S, "truncated JSON", ["validate", write("trunc.json", '{"experiment": "x", "base": {')], 3,
     "trunc.json: invalid JSON at line 1")
case(S, "binary garbage", ["validate", write("garbage.json", "\x00\xff\xfe" * 100, "w")], 3, "garbage.json")
case(S, "invalid UTF-8", ["validate", write("utf8.json", b'{"experiment": "\xff\xfe"}', "wb")], 3, "utf8.json")
case(S, "missing experiment", ["validate", write("noexp.json", '{"base": {}}')], 3, "noexp.json")
case(S, "experiment name with a slash", ["validate", spec("x", raw='{"experiment": "../../etc", "base": {}}')], 3,
     "x.json")
case(S, "experiment name empty", ["validate", spec("x2", raw='{"experiment": "", "base": {}}')], 3, "x2.json")
case(S, "unknown top-level field", ["validate", spec("unk", raw='{"experiment": "u", "bsae": {}}')], 3,
     "unk.json")
case(S, "unknown base field", ["validate", spec("unk2", {"epoch": 1})], 3, "did you mean 'epochs'")
case(S, "lr zero", ["validate", spec("lr0", {"lr": 0})], 3, "base.lr: expected number in (0")
case(S, "lr negative in grid", ["validate", spec("lrn", grid={"lr": [0.1, -1]})], 3, "grid.lr[1]")
case(S, "lr 1e309", ["validate", write("lrbig.json", '{"experiment": "x", "base": {"lr": 1e309}}')], 3,
     "number overflow")
case(S, "lr as a string", ["validate", spec("lrs", {"lr": "fast"})], 3, "base.lr")
case(S, "epochs 1e20", ["validate", write("ep.json", '{"experiment": "x", "base": {"epochs": 99999999999999999999}}')],
     3, "base.epochs: expected integer in [1, 1000000]")
case(S, "epochs fractional", ["validate", spec("epf", {"epochs": 1.5})], 3, "base.epochs")
case(S, "seed negative", ["validate", spec("seedn", {"seed": -1})], 3, "base.seed")
case(S, "batch size 0", ["validate", spec("b0", {"batch_size": 0})], 3, "base.batch_size")
case(S, "batch size 'half'", ["validate", spec("bh", {"batch_size": "half"})], 3, "base.batch_size")
case(S, "log_points_per_decade huge", ["validate", spec("lpd", {"log_points_per_decade": 2147483647})], 3,
     "log_points_per_decade")
case(S, "target_acc 2", ["validate", spec("ta", {"target_acc": 2})], 3, "target_acc")
case(S, "divergence_loss negative", ["validate", spec("dl", {"divergence_loss": -1})], 3, "divergence_loss")
case(S, "eval_batch 0", ["validate", spec("eb", {"eval_batch": 0})], 3, "eval_batch")
case(S, "empty grid axis", ["validate", spec("ea", grid={"lr": []})], 3, "grid.lr")
case(S, "grid axis not a list", ["validate", spec("ean", grid={"lr": 0.1})], 3, "grid.lr")
case(S, "grid of 10^12 runs", ["validate", spec("huge", grid={
    "lr": [i / 1e4 for i in range(1, 1001)], "seed": list(range(1000)), "epochs": list(range(1, 1001)),
    "eval_batch": list(range(1, 1001))})], 3, "expands to 1000000000000 runs, more than the limit of 100000")
case(S, "nesting 100k deep", ["validate", write("deep.json", '{"experiment": "x", "base": {"label": ' + "[" * 100000
                                                + "]" * 100000 + "}}")], 3, "nested deeper than 64 levels")
case(S, "unknown optimizer", ["validate", spec("uo", {"optimizer": {"name": "adamw"}})], 3, "unknown optimizer")
case(S, "optimizer eps negative", ["validate", spec("oe", {"optimizer": {"name": "adam", "eps": -1}})], 3, "eps")
case(S, "nesterov without momentum", ["validate", spec("nm", {"optimizer": {"name": "sgd", "nesterov": True}})], 3,
     "nesterov")
case(S, "unknown schedule", ["validate", spec("us", {"schedule": {"name": "cosin"}})], 3, "did you mean 'cosine'")
case(S, "cosine horizon negative", ["validate", spec("ch", {"schedule": {"name": "cosine", "horizon": -1}})], 3,
     "horizon")
case(S, "unknown data set", ["validate", spec("ud", {"data": {"name": "imagenet"}})], 3, "unknown data set")
case(S, "synthetic shape fractional", ["validate", spec("sf", {"data": {"name": "synthetic", "synthetic": {
    "shape": [1, 8.5, 8]}}})], 3, "shape")
case(S, "synthetic train huge", ["validate", spec("st", {"data": {"name": "synthetic", "synthetic": {
    "train": 10 ** 12}}})], 3, "synthetic.train")
case(S, "variants not objects", ["validate", spec("vn", grid={"variants": [1, 2]})], 3, "grid.variants[0]")
case(S, "parallel.data 0", ["validate", spec("pd", {"parallel": {"data": 0}})], 3, "parallel.data")
case(S, "spec is a directory", ["validate", T], 3, "it is a directory")
case(S, "spec missing", ["validate", path("nope.json")], 3, "not found")
case(S, "spec larger than 16 MiB", ["validate", write("big.json", " " * (17 << 20) + "{}")], 3,
     "more than the limit of 16777216")

# ---- model descriptions ---------------------------------------------------------------------
M = "model"


def model(name, layers, **kw):
    return write("models/" + name + ".json", json.dumps({"name": name, "layers": layers, **kw}))


for name, layers, pat in [
    ("unknown_layer", [{"conv2d": {"out": 4, "kernel": 3}}], "unknown layer 'conv2d'"),
    ("missing_field", [{"conv": {"out": 4}}], "layers[0].conv.kernel: missing"),
    ("negative_out", [{"conv": {"out": -1, "kernel": 3}}], "layers[0].conv.out"),
    ("kernel_too_big", [{"conv": {"out": 4, "kernel": 9}}, {"flatten": {}}, {"dense": {"out": "classes"}}],
     "cannot take input"),
    ("wrong_logits", [{"flatten": {}}, {"dense": {"out": 3}}], "the last layer gives 3"),
    ("empty_layers", [], "layers"),
    ("two_kinds_in_one", [{"conv": {"out": 4, "kernel": 3}, "relu": {}}], "layers[0]"),
    ("huge_conv", [{"conv": {"out": 1048576, "kernel": 1}}, {"flatten": {}}, {"dense": {"out": "classes"}}],
     "more than the limit of 268435456"),
    ("huge_dense", [{"flatten": {}}, {"dense": {"out": 1048576}}, {"dense": {"out": 1048576}},
                    {"dense": {"out": "classes"}}], "parameters, more than the limit"),
    ("dropout_rate_1", [{"flatten": {}}, {"dropout": {"rate": 1}}, {"dense": {"out": "classes"}}], "rate"),
    ("same_even_kernel", [{"conv": {"out": 2, "kernel": 2, "padding": "same"}}, {"flatten": {}},
                          {"dense": {"out": "classes"}}], "same"),
    ("pool_bigger_than_input", [{"max_pool": {"kernel": 64}}, {"flatten": {}}, {"dense": {"out": "classes"}}],
     "cannot take input"),
]:
    f = model(name, layers)
    case(M, name + " (models)", ["models", "--model", f, "--input", "1x8x8"], 5, pat)
    case(M, name + " (run)", ["run", spec("m_" + name, {"model": {"file": f}})] + out("m_" + name), 5, pat)
case(M, "model file missing", ["models", "--model", path("models/nope.json")], 5, "")
case(M, "model file is a FIFO", ["models", "--model", path("fifo")], 5, "FIFO")
case(M, "unknown zoo model in a spec", ["validate", spec("uz", {"model": "lenett"})], 3, "unknown model 'lenett'")
case(M, "init unknown", ["models", "--model", write("models/init.json", json.dumps(
    {"name": "i", "init": "he", "layers": [{"flatten": {}}, {"dense": {"out": "classes"}}]})), "--input", "1x8x8"],
     5, "init")
case(M, "eval_batch tensor over 4 GiB", ["validate", spec("ebig", {"model": "keras_cifar_cnn", "eval_batch": 1000000,
                                                                   "data": {"name": "synthetic", "synthetic": {
                                                                       "shape": [3, 32, 32]}}})], 5,
     "use a smaller eval_batch")

# ---- command line -----------------------------------------------------------------------------
C = "cli"
case(C, "no command", [], 2, "")
case(C, "unknown command", ["trian"], 2, "usage error")
case(C, "--threads 100000", ["--threads", "100000", "info"], 2, "--threads")
case(C, "--threads -1", ["--threads", "-1", "info"], 2, "--threads")
case(C, "--threads abc", ["--threads", "abc", "info"], 2, "--threads")
case(C, "--jobs 0", ["run", spec("j", {}), "--jobs", "0"] + out("j"), 2, "--jobs")
case(C, "--shard 3/2", ["run", spec("sh", {}), "--shard", "3/2"] + out("sh"), 2, "--shard")
case(C, "--shard 0/2", ["run", spec("sh0", {}), "--shard", "0/2"] + out("sh0"), 2, "--shard")
case(C, "--shard x", ["run", spec("shx", {}), "--shard", "x"] + out("shx"), 2, "--shard")
case(C, "--limit -5", ["train", "--limit", "-5"], 2, "--limit")
case(C, "--lr -1", ["train", "--lr", "-1", "--data", "synthetic"] + out("lrm"), 3, "lr")
case(C, "--lr nan", ["train", "--lr", "nan", "--data", "synthetic"] + out("lrnan"), 3, "base.lr: expected number")
case(C, "--batch-size 0", ["train", "--batch-size", "0", "--data", "synthetic"] + out("bs0"), 3, "batch_size")
case(C, "--batch-size missing value", ["train", "--batch-size"], 2, "")
case(C, "--set without =", ["validate", spec("se", {}), "--set", "epochs"], 2, "--set")
case(C, "--set unknown field", ["validate", spec("su", {}), "--set", "epoch=2"], 3, "did you mean 'epochs'")
case(C, "--set value nested 70 deep", ["validate", spec("sd", {}), "--set", "lr=" + "[" * 70 + "]" * 70], 2,
     "nested deeper than 64 levels")
case(C, "--classes 1", ["models", "--classes", "1"], 2, "--classes")
case(C, "--input 3x32", ["models", "--input", "3x32"], 2, "")
case(C, "--data-parallel in one process", ["train", "--data", "synthetic", "--data-parallel"] + out("dp"), 2,
     "needs several MPI ranks")
case(C, "parallel.data = 2 in one process", ["run", spec("pd2", {"parallel": {"data": 2}})] + out("pd2"), 2,
     "mpirun -n 2")

# ---- data files -------------------------------------------------------------------------------
D = "data"


def idx(dims, payload=None):
    n = 1
    for d in dims:
        n *= d
    hdr = struct.pack(">BBBB", 0, 0, 8, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    return hdr + (payload if payload is not None else bytes(n))


def mnist_dir(name, files):
    d = path(name)
    os.makedirs(d, exist_ok=True)
    good = {"train-images-idx3-ubyte": idx([20, 8, 8]), "train-labels-idx1-ubyte": idx([20]),
            "t10k-images-idx3-ubyte": idx([10, 8, 8]), "t10k-labels-idx1-ubyte": idx([10])}
    for k, v in good.items():
        if k not in files:
            with open(os.path.join(d, k), "wb") as f:
                f.write(v)
    for k, v in files.items():
        p = os.path.join(d, k)
        if callable(v):
            v(p)
        else:
            with open(p, "wb") as f:
                f.write(v)
    return d


def train_mnist(d, tag):
    return ["train", "--model", "keras_mnist_mlp", "--data", "mnist", "--data-dir", d] + out(tag)


TI = "train-images-idx3-ubyte"
TL = "train-labels-idx1-ubyte"
for name, files, pat in [
    ("wrong magic", {TI: b"\x00\x00\x09\x03" + idx([20, 8, 8])[4:]}, "wrong magic number"),
    ("truncated header", {TI: idx([20, 8, 8])[:10]}, "truncated"),
    ("data past the header cut", {TI: idx([20, 8, 8])[:100]}, TI),
    ("implausible dimension", {TI: idx([20, 8, 8])[:4] + struct.pack(">III", 2 ** 31 - 1, 8, 8)}, "not a plausible size"),
    ("8 GiB header", {TI: idx([20, 8, 8])[:4] + struct.pack(">III", 2 ** 28, 2 ** 10, 2 ** 10)}, "8 GiB"),
    ("label out of range", {TL: idx([20], bytes([11] * 20))}, "label 11 at index 0"),
    ("count mismatch", {TL: idx([19])}, "19 labels but"),
    ("empty file", {TI: b""}, "empty file"),
    ("gzip garbage", {TI + ".gz": b"\x1f\x8b\x08\x00garbage"}, TI),
    ("gzip trailer cut", {TI + ".gz": gzip.compress(idx([20, 8, 8]))[:-4]}, TI),
    ("a FIFO", {TI: lambda p: os.mkfifo(p)}, "is a FIFO (named pipe)"),
    ("a symlink loop", {TI: lambda p: (os.symlink(p + ".b", p), os.symlink(p, p + ".b"))}, "symbolic link loop"),
    ("a dangling symlink", {TI: lambda p: os.symlink("/nonexistent/x", p)}, "dangling symbolic link"),
    ("/dev/zero", {TI: lambda p: os.symlink("/dev/zero", p)}, "a character device"),
    ("/proc file", {TI: lambda p: os.symlink("/proc/self/status", p)}, "/proc or /sys file"),
    ("a directory", {TI: lambda p: os.mkdir(p)}, "a directory"),
    ("images of another size in test", {"t10k-images-idx3-ubyte": idx([10, 9, 9])}, "images are 9x9"),
]:
    tag = "d_" + name.replace(" ", "_").replace("/", "")
    case(D, "mnist: " + name, train_mnist(mnist_dir(tag, files), tag), 4, pat)
case(D, "mnist dir missing", train_mnist(path("nodir"), "nd"), 4, "not found")
case(D, "mnist dir is a file", train_mnist(write("afile", "x"), "af"), 4, "is a file")


def cifar_dir(name, batch, test=None):
    d = path(name)
    os.makedirs(d, exist_ok=True)
    for b in range(1, 6):
        with open(os.path.join(d, f"data_batch_{b}.bin"), "wb") as f:
            f.write(batch)
    with open(os.path.join(d, "test_batch.bin"), "wb") as f:
        f.write(batch if test is None else test)
    return d


REC = bytes([3]) + bytes(3072)
for name, batch, pat in [
    ("not a multiple of 3073", REC * 2 + b"x", "not a multiple of the 3073-byte record"),
    ("label 10", bytes([10]) + bytes(3072), "label 10, out of range"),
    ("empty batch", b"", "empty file"),
]:
    tag = "c_" + name.replace(" ", "_")
    case(D, "cifar10: " + name, ["train", "--data", "cifar10", "--data-dir", cifar_dir(tag, batch)] + out(tag), 4, pat)
case(D, "cifar10 without a directory", ["train", "--data", "cifar10"] + out("c_none"), 4, "no directory given")
case(D, "cifar10 dir missing", ["train", "--data", "cifar10", "--data-dir", path("nocifar")] + out("c_nd"), 4,
     "cifar-10-binary.tar.gz")

# ---- faults: output directory, stray files --------------------------------------------------
F = "faults"
ro = path("readonly")
os.makedirs(ro)
case(F, "--out is a file", ["run", spec("of", {}), "--out", write("outfile", "x"), "--quiet"], 7, "outfile")
if os.geteuid() != 0:  # root writes anywhere
    case(F, "--out under a read-only directory", ["run", spec("ro", {}), "--out", ro + "/sub", "--quiet"], 7, "readonly")
case(F, "--out below a file", ["run", spec("ob", {}), "--out", write("outfile2", "x") + "/sub", "--quiet"], 7,
     "outfile2")
case(F, "--out on /proc", ["run", spec("pr", {}), "--out", "/proc/sgdbench", "--quiet"], 7, "/proc/sgdbench")
rd = path("out_stray/stray/runs")
os.makedirs(rd)
write("out_stray/stray/runs/0000000000000000.json", "{not json")
write("out_stray/stray/runs/junk.json.tmp.otherhost.1.1", "x")
case(F, "stray files in runs/", ["run", spec("stray", {})] + out("stray"), 0, "")
write("out_badspec/bs/spec.json", "{garbage")
case(F, "garbage spec.json in the experiment directory", ["run", spec("bs", {})] + out("badspec"), 0, "")
write("out_badid/bi/identity.json", '{"specs": 5}')
case(F, "garbage identity.json", ["run", spec("bi", {})] + out("badid"), 0, "")

# ---- concurrency ----------------------------------------------------------------------------
K = "concurrency"
write("out_mixed/mixed/identity.json", json.dumps({"schema_version": 1, "specs": [
    {"runs_hash": "0123456789abcdef", "runs": 3, "spec_file": "other.json"}]}))
case(K, "another spec's experiment directory", ["run", spec("mixed", {})] + out("mixed"), 3,
     "already holds runs of experiment 'mixed' from a different spec")
case(K, "--allow-mixed", ["run", spec("mixed", {}), "--allow-mixed"] + out("mixed"), 0, "")

# ---- numerics ---------------------------------------------------------------------------------
N = "numerics"
case(N, "lr 1e6 diverges as a result", ["train", "--data", "synthetic", "--lr", "1e6", "--model", "keras_mnist_mlp"]
     + out("div"), 0, "")
case(N, "adam lr 1e5", ["train", "--data", "synthetic", "--optimizer", "adam", "--lr", "1e5", "--model",
                        "keras_mnist_mlp"] + out("adam"), 0, "")
case(N, "batch larger than the data", ["run", spec("bl", {"batch_size": 100000})] + out("bl"), 0, "")
case(N, "GD with chunk 1", ["run", spec("gd1", {"batch_size": "full", "chunk": 1})] + out("gd1"), 0, "")
case(N, "max_seconds tiny", ["run", spec("ms", {"max_seconds": 1e-9, "epochs": 1000})] + out("ms"), 0, "")
case(N, "log_every_steps 1 with log points", ["run", spec("le", {"log_every_steps": 1, "log_points_per_decade": 100})]
     + out("le"), 0, "")
case(N, "momentum 100", ["run", spec("mo", {"optimizer": {"name": "sgd", "momentum": 100}})] + out("mo"), 0, "")
case(N, "warmup longer than training", ["run", spec("wu", {"schedule": {"name": "cosine", "warmup_epochs": 1e6}})]
     + out("wu"), 0, "")
case(N, "2 classes, 1x1 images", ["run", spec("tiny", {"model": {"name": "t", "layers": [
    {"flatten": {}}, {"dense": {"out": "classes"}}]}, "data": {"name": "synthetic", "synthetic": {
        "shape": [1, 1, 1], "classes": 2, "train": 2, "test": 1}}})] + out("tiny"), 0, "")


def limit_memory():
    if not SANITIZED:  # ASan reserves terabytes of shadow address space
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    os.setsid()


def main():
    os.mkfifo(path("fifo"))
    os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR)
    by_class, failures = {}, []
    for cls, name, argv, want, pattern in cases:
        ok, why = True, ""
        try:
            p = subprocess.run([BIN] + argv, capture_output=True, timeout=60, preexec_fn=limit_memory, cwd=T,
                               env=dict(os.environ, OMP_NUM_THREADS="1"))
            err = p.stderr.decode(errors="replace")
            errors = [l for l in err.splitlines() if l.startswith("sgdbench: ") and "warning" not in l]
            if p.returncode < 0:
                ok, why = False, f"killed by {signal.Signals(-p.returncode).name}"
            elif p.returncode != want:
                ok, why = False, f"exit {p.returncode}, want {want}"
            elif pattern and pattern not in err:
                ok, why = False, f"stderr lacks {pattern!r}"
            elif "ERROR: AddressSanitizer" in err or "runtime error:" in err or "LeakSanitizer" in err:
                ok, why = False, "sanitizer report"
            elif "internal error" in err:
                ok, why = False, "internal error"
            elif want not in (0, 2) and len(errors) != 1:
                ok, why = False, f"{len(errors)} 'sgdbench:' error lines, want 1"
            if not ok:
                why += ": " + err.strip()[-400:]
        except subprocess.TimeoutExpired:
            ok, why = False, "hung (60 s)"
        for root, _, files in os.walk(T):
            for f in files:
                if ".tmp." in f and "otherhost" not in f:
                    ok, why = False, f"temp file left: {os.path.join(root, f)}"
                    os.remove(os.path.join(root, f))
        c = by_class.setdefault(cls, [0, 0])
        c[0] += 1
        c[1] += ok
        if not ok:
            failures.append(f"FAIL [{cls}] {name}: {why}")
    for f in failures:
        print(f)
    total = sum(c[0] for c in by_class.values())
    clean = sum(c[1] for c in by_class.values())
    print("adversarial: " + ", ".join(f"{k} {v[1]}/{v[0]}" for k, v in by_class.items()) +
          f"; {clean} of {total} cases clean")
    os.chmod(ro, stat.S_IRWXU)
    shutil.rmtree(T, ignore_errors=True)
    sys.exit(0 if clean == total else 1)


main()
