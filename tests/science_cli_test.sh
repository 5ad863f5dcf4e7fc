#!/usr/bin/env bash
# The science commands end to end: lr-find (file, suggestion, errors), the new spec fields'
# errors, and export --format csv|deepobs checked against the formats' own rules (RFC 4180 CSV
# read back by Python's csv module; DeepOBS 1.2's layout and keys as its analyzer reads them:
# deepobs/analyzer/shared_utils.py, abstract_runner.py). Usage: science_cli_test.sh path/to/sgdbench
set -u
bin="$1"; fails=0; n=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
expect() {  # expect RC 'stderr substring' args...
  local want="$1" pat="$2"; shift 2; n=$((n+1))
  local err; err=$("$bin" "$@" 2>&1 >/dev/null); local rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qF -- "$pat" <<<"$err"; then fail "sgdbench $* -> rc $rc (want $want), stderr: $err"; fi
}
syn='--data synthetic --set data.synthetic.shape=[1,8,8] --set data.synthetic.train=800 --set data.synthetic.classes=4'

# lr-find: a file with one point per step, lrs growing geometrically from --start, a suggestion inside the range.
n=$((n+1))
out=$("$bin" --threads 1 lr-find --model keras_mnist_mlp $syn --batch-size 16 --start 1e-4 --end 10 --steps 120 \
      --output "$tmp/sub/dir/lrf.json" 2>&1) || fail "lr-find exited $?: $out"
grep -q "suggested lr" <<<"$out" || fail "lr-find prints no suggestion: $out"
/usr/bin/python3 - "$tmp/sub/dir/lrf.json" <<'PY' || fail "lr-find file"
import json, math, sys
d = json.load(open(sys.argv[1]))
assert d["kind"] == "lr_find" and d["schema_version"] >= 2, d.keys()
lr = d["lr"]; assert len(lr) == len(d["loss"]) == len(d["smoothed_loss"]) >= 10
assert abs(lr[0] - 1e-4) < 1e-12 and all(abs(b / a - 10 ** (5 / 119)) < 1e-9 for a, b in zip(lr, lr[1:]))
assert lr[0] < d["suggested_lr"] < lr[-1], d["suggested_lr"]
assert d["config"]["model_name"] == "keras_mnist_mlp" and "provenance" in d
PY
expect 2 "lr-find: needs 0 < --start < --end" lr-find --model keras_mnist_mlp $syn --start 1 --end 0.1 --output "$tmp/x.json"
expect 2 "lr-find: needs mini-batches" lr-find --model keras_mnist_mlp $syn --batch-size full --output "$tmp/x.json"
expect 2 "--steps" lr-find $syn --steps 2

# The new fields' errors name the field.
spec() { echo "{\"experiment\": \"s\", \"base\": {\"data\": {\"name\": \"synthetic\", \"synthetic\": {\"train\": 200, \"shape\": [1, 8, 8]}}, $1}}" > "$tmp/s.json"; }
spec '"batch_size": 8, "noise_scale": {"every_steps": 10, "big": 12}'
expect 3 "s.json: base.noise_scale.big: 12 is not a multiple >= 2 of the small batch 8" validate "$tmp/s.json"
spec '"batch_size": "full", "noise_scale": {"every_steps": 10}'
expect 3 "s.json: base.noise_scale.small: needed with batch_size \"full\"" validate "$tmp/s.json"
spec '"batch_size": "full", "noise_scale": {"every_steps": 10, "method": "consecutive"}'
expect 3 "s.json: base.noise_scale: needs mini-batches" validate "$tmp/s.json"
spec '"batch_size": 8, "noise_scale": {"every_steps": 3, "big": 64, "method": "consecutive"}'
expect 3 "s.json: base.noise_scale.every_steps: 3 is shorter than one measurement" validate "$tmp/s.json"
spec '"clip": {"norm": -1}'
expect 3 "s.json: base.clip.norm" validate "$tmp/s.json"
spec '"optimizer": {"name": "lbfgs", "line_search": "armijo"}'
expect 3 "s.json: base.optimizer.line_search" validate "$tmp/s.json"
# L-BFGS's history is 2 x history_size parameter vectors: bounded before anything is allocated.
echo '{"experiment": "s", "base": {"data": {"name": "synthetic", "synthetic": {"shape": [3, 32, 32]}}, "model": "lenet", "optimizer": {"name": "lbfgs", "history_size": 10000}}}' > "$tmp/s.json"
expect 3 "s.json: base.optimizer.history_size: 10000 pairs of" validate "$tmp/s.json"
echo '{"experiment": "s", "base": {"data": {"name": "synthetic", "synthetic": {"shape": [1, 1, 64]}}, "model": "keras_mnist_mlp", "augment": {"hflip": true}}}' > "$tmp/s.json"
expect 3 "s.json: base.augment: needs images" validate "$tmp/s.json"

# A small experiment to export: 2 methods x 2 seeds, one with a comma in its label; one stops at
# its target early (padded in DeepOBS), GD runs with L-BFGS.
cat > "$tmp/e.json" <<'JSON'
{"experiment": "exp", "base": {"model": "keras_mnist_mlp", "epochs": 3, "log_every_steps": 10,
  "data": {"name": "fashion-mnist", "limit": 600, "test_limit": 500, "limit_mode": "stratified"}},
 "grid": {"variants": [
   {"label": "SGD, batch 32", "batch_size": 32, "lr": 0.05, "noise_scale": {"every_steps": 4, "big": 128}},
   {"batch_size": "full", "optimizer": {"name": "lbfgs", "max_iter": 3}, "lr": 1, "eval_train": true},
   {"batch_size": 64, "lr": 0.1, "optimizer": {"name": "sgd", "momentum": 0.9}, "target_acc": 0.3, "stop_at_target": true}],
  "seed": [1, 2]}}
JSON
"$bin" --threads 1 run "$tmp/e.json" --out "$tmp/r" --quiet >/dev/null 2>&1 || fail "export fixture run"
expect 0 "exported 6 runs" export "$tmp/r/exp" --format csv --output "$tmp/e.csv"
expect 0 "exported 6 runs (6 files)" export "$tmp/r" --format deepobs --output "$tmp/deepobs"
expect 2 "no runs/ directory" export "$tmp" --format csv
expect 2 "not a directory" export "$tmp/nonexistent"
expect 2 "--format" export "$tmp/r/exp" --format xml
# A result file with a field of the wrong type is named and skipped, not an internal error.
cp -r "$tmp/r/exp" "$tmp/odd"; f=$(ls "$tmp"/odd/runs/*.json | head -1)
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['config']['seed']='x'; json.dump(d,open(sys.argv[1],'w'))" "$f"
expect 0 "not a result sgdbench can export" export "$tmp/odd" --format deepobs --output "$tmp/odd_deepobs"
expect 2 "--diverge" lr-find --diverge 1
n=$((n+2))
/usr/bin/python3 - "$tmp/r/exp" "$tmp/e.csv" <<'PY' || fail "csv export"
import csv, glob, json, sys
runs = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/runs/*.json")]
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
assert len(rows) == sum(len(r["history"]) for r in runs), (len(rows), [len(r["history"]) for r in runs])
assert {r["label"] for r in rows} == {r["config"]["label"] for r in runs}, {r["label"] for r in rows}
assert "SGD, batch 32" in {r["label"] for r in rows}  # the comma survived quoting
by = {(r["run_id"], int(r["step"])): r for r in rows}
for run in runs:
    for h in run["history"]:
        row = by[(run["run_id"], h["step"])]
        assert abs(float(row["test_acc"]) - h["test_acc"]) < 1e-12
        ns = h.get("noise_scale")
        want = "" if not ns or ns["b_simple"] is None else ns["b_simple"]
        assert (row["b_simple"] == "") == (want == ""), (row["b_simple"], want)
PY
/usr/bin/python3 - "$tmp/deepobs" "$tmp/r/exp" <<'PY' || fail "deepobs export"
import glob, json, os, sys
root = sys.argv[1]
# DeepOBS config.py naming tables: the test-problem folder is "<data set>_<problem>".
DATA = {"two", "quadratic", "mnist", "fmnist", "cifar10", "cifar100", "svhn", "imagenet", "tolstoi"}
PROB = {"d_beale", "d_branin", "d_rosenbrock", "deep", "logreg", "mlp", "2c2d", "3c3d", "vae", "vgg_16",
        "vgg_19", "allcnnc", "wrn164", "wrn404", "inception_v3", "char_rnn"}
def float2str(x):  # deepobs/abstract_runner/abstract_runner_utils.py
    s = "{:.10e}".format(x); mant, exp = s.split("e"); return mant.rstrip("0") + "e" + exp
assert float2str(0.01) == "1.e-02" and float2str(0.999) == "9.99e-01"
files = glob.glob(root + "/*/*/*/*.json")
assert len(files) == 6, files
settings = {}
for f in files:
    tp, opt, setting, name = f[len(root) + 1:].split(os.sep)
    ds, prob = tp.split("_", 1)
    assert ds in DATA and prob in PROB, tp
    assert tp == "fmnist_mlp", tp
    assert "num_epochs" in setting and " " not in f, setting
    assert name.startswith("random_seed__") and name.endswith(".json"), name
    d = json.load(open(f))
    for k in ("train_losses", "test_losses", "optimizer_hyperparams", "training_params", "testproblem",
              "num_epochs", "batch_size", "random_seed", "optimizer_name", "minibatch_train_losses"):
        assert k in d, (k, f)
    assert d["testproblem"] == tp and d["optimizer_name"] == opt
    assert setting.startswith("num_epochs__%d__batch_size__%d" % (d["num_epochs"], d["batch_size"])), setting
    parts = ["__%s__%s" % (k, float2str(v) if isinstance(v, float) else str(v))
             for k, v in sorted(d["optimizer_hyperparams"].items())]
    parts += ["__%s__%s" % (k, v) for k, v in sorted(d["training_params"].items())]
    assert setting == "num_epochs__%d__batch_size__%d" % (d["num_epochs"], d["batch_size"]) + "".join(parts), setting
    assert name == "random_seed__%d__" % d["random_seed"] + name.split("__", 2)[2]
    for k in ("train_losses", "test_losses", "train_accuracies", "test_accuracies", "valid_losses"):
        if k in d:
            assert len(d[k]) == d["num_epochs"] + 1, (k, len(d[k]))
            assert all(isinstance(v, float) for v in d[k]), (k, d[k])
    if "train_accuracies" in d:
        assert "test_accuracies" in d  # the analyzer reads them together
    settings.setdefault((tp, opt, setting), []).append(d)
# As the analyzer aggregates: the runs of one setting are the seeds, with equal-length lists.
assert sorted(len(v) for v in settings.values()) == [2, 2, 2], settings.keys()
for key, ds in settings.items():
    assert len({len(d["test_losses"]) for d in ds}) == 1
    assert sorted(d["random_seed"] for d in ds) == [1, 2]
# Values: the per-epoch test losses are the run's epoch points (padded after an early stop).
for f in files:
    d = json.load(open(f)); rid = d["sgdbench"]["run_id"]
    run = json.load(open(os.path.join(sys.argv[2], "runs", rid + ".json")))
    ep = [h["test_loss"] for h in run["history"] if h["kind"] == "epoch"]
    assert d["test_losses"][:len(ep)] == ep and all(v == ep[-1] for v in d["test_losses"][len(ep):])
    # train_losses: per epoch, the mini-batch losses of every logged point in it, weighted by samples.
    if "train_accuracies" not in d:
        prev, acc, want = 0, [0.0, 0], []
        for h in run["history"]:
            if h["train_loss"] is not None and h["samples"] > prev:
                acc[0] += h["train_loss"] * (h["samples"] - prev); acc[1] += h["samples"] - prev
            prev = h["samples"]
            if h["kind"] == "epoch" and h["step"] > 0:
                want.append(acc[0] / acc[1]); acc = [0.0, 0]
        got = d["train_losses"][1:1 + len(want)]
        assert all(abs(a - b) <= 1e-12 * abs(b) for a, b in zip(got, want)), (got, want)
    if run["config"]["optimizer"]["name"] == "lbfgs":
        assert d["optimizer_name"] == "LBFGS" and d["batch_size"] == 600
        assert d["train_accuracies"] == [h["train_full_acc"] for h in run["history"] if h["kind"] == "epoch"]
PY
echo "science_cli: $((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
