"""Reading sgdbench result files (results/<experiment>/runs/<run-id>.json) for plot.py and report.py.

Loads every result under the given directories, reports unreadable or malformed files (naming
the file) and keeps the rest; groups runs by experiment, model, method and learning rate, and
aggregates over seeds. Also finds and reads `sgdbench lr-find` documents (kind "lr_find",
results/lr_find/*.json), which are not run results. Standard library only.
"""
import glob
import json
import math
import os
import statistics
import sys

REQUIRED = ("schema_version", "run_id", "experiment", "config", "status", "history", "summary")
SCHEMA_VERSIONS = (1, 2)  # 2: config.model is the model's description, config.model_name its name


def warn(tool, msg):
    print(f"{tool}: {msg}", file=sys.stderr)


def find_result_files(paths):
    """Result files under each path (a results root, an experiment dir, a runs dir, or a file)."""
    files = []
    for p in paths:
        if os.path.isfile(p):
            files.append(p)
            continue
        if not os.path.isdir(p):
            raise FileNotFoundError(p)
        files += glob.glob(os.path.join(p, "**", "runs", "*.json"), recursive=True)
        if os.path.basename(os.path.normpath(p)) == "runs":
            files += glob.glob(os.path.join(p, "*.json"))
    return sorted(set(files))


def load_runs(paths, tool="sgdresults"):
    """Returns (runs, problems): runs are parsed result dicts (with '_file'); problems are
    (file, message) for each file that was skipped."""
    runs, problems = [], []
    for f in find_result_files(paths):
        try:
            with open(f) as fh:
                d = json.load(fh)
        except json.JSONDecodeError as e:
            problems.append((f, f"invalid JSON (line {e.lineno}, column {e.colno}): {e.msg}"))
            continue
        except OSError as e:
            problems.append((f, f"cannot read: {e.strerror}"))
            continue
        if not isinstance(d, dict):
            problems.append((f, "not a result object"))
            continue
        if is_lr_find(d):
            problems.append((f, "an lr-find document, not a run result (plot it: tools/plot.py FILE)"))
            continue
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            problems.append((f, "missing field(s) " + ", ".join(repr(m) for m in missing)))
            continue
        if d["schema_version"] not in SCHEMA_VERSIONS:
            problems.append((f, f"schema_version {d['schema_version']}, this tool reads "
                                + " and ".join(map(str, SCHEMA_VERSIONS))))
            continue
        if not isinstance(d["history"], list) or not d["history"]:
            problems.append((f, "empty history"))
            continue
        d["_file"] = f
        runs.append(d)
    for f, msg in problems:
        warn(tool, f"skipping {f}: {msg}")
    return runs, problems


def is_lr_find(doc):
    return isinstance(doc, dict) and doc.get("kind") == "lr_find"


LR_FIND_REQUIRED = ("lr", "loss", "smoothed_loss", "suggested_lr", "min_loss_lr")


def read_lr_find(path):
    """An lr-find document (`sgdbench lr-find`), or None when the file is not one. Raises
    ValueError naming what is wrong when it says it is one but is malformed."""
    try:
        with open(path) as fh:
            d = json.load(fh)
    except (OSError, json.JSONDecodeError):
        return None
    if not is_lr_find(d):
        return None
    missing = [k for k in LR_FIND_REQUIRED if k not in d]
    if missing:
        raise ValueError(f"{path}: lr-find document without " + ", ".join(repr(m) for m in missing))
    if not (len(d["lr"]) == len(d["loss"]) == len(d["smoothed_loss"])) or not d["lr"]:
        raise ValueError(f"{path}: lr-find document whose lr, loss and smoothed_loss differ in length or are empty")
    d["_file"] = path
    return d


def find_lr_find_files(paths):
    """Candidate lr-find documents: each path that is a .json file, the .json files of a directory
    named lr_find, and <dir>/**/lr_find/*.json under any other directory (read_lr_find decides)."""
    files = []
    for p in paths:
        if os.path.isfile(p):
            files += [p] if p.endswith(".json") else []
        elif os.path.isdir(p):
            if os.path.basename(os.path.normpath(p)) == "lr_find":
                files += glob.glob(os.path.join(p, "*.json"))
            files += glob.glob(os.path.join(p, "**", "lr_find", "*.json"), recursive=True)
    return sorted(set(files))


def last_point_with(run, key):
    """The last history point that has `key` with a non-null value, or None."""
    for h in reversed(run["history"]):
        if h.get(key) is not None:
            return h
    return None


def model_name(run):
    """The model's display/group name: config.model_name (schema 2) or config.model (schema 1)."""
    c = run["config"]
    return c.get("model_name") or (c["model"] if isinstance(c["model"], str) else c["model"]["name"])


def load_runs_or_exit(paths, tool):
    """load_runs for a command-line tool: exits with one clear line when nothing can be read."""
    try:
        runs, _ = load_runs(paths, tool)
    except FileNotFoundError as e:
        sys.exit(f"{tool}: {e}: no such file or directory")
    if not runs:
        sys.exit(f"{tool}: no readable result files under " + ", ".join(paths))
    return runs


def experiment_dir(run):
    """results/<experiment> from a run's file path (.../<experiment>/runs/<id>.json)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(run["_file"])))


def batch_value(cfg, run=None):
    """Numeric batch size; full batch counts as the training-set size."""
    b = cfg["batch_size"]
    if b == "full":
        return run["data"]["train"] if run and "data" in run else math.inf
    return b


def method(run):
    return run["config"].get("label") or run["config"]["optimizer"]["name"]


# The optimizers' display names: `sgdbench describe --json` declares them; tests/test_tools.py
# fails when this copy drifts from it.
OPTIMIZER_DISPLAY = {"sgd": "SGD", "adagrad": "AdaGrad", "rmsprop": "RMSprop", "adam": "Adam", "lbfgs": "L-BFGS"}


def optimizer_family(cfg):
    """The optimizer without the batch size: 'plain SGD', 'momentum 0.9', 'Nesterov 0.9', 'Adam',
    'L-BFGS', ..."""
    o = cfg["optimizer"]
    if o["name"] == "sgd":
        m = o.get("momentum", 0)
        if m:
            return f"{'Nesterov' if o.get('nesterov') else 'momentum'} {m:g}"
        return "plain SGD"
    return OPTIMIZER_DISPLAY.get(o["name"], o["name"])


def group(runs, key):
    out = {}
    for r in runs:
        out.setdefault(key(r), []).append(r)
    return out


def mean_std(values):
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return None, None
    return statistics.fmean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)


def final_acc(run):
    """Final test accuracy; a diverged run counts as None."""
    if run["status"] == "diverged":
        return None
    return run["summary"].get("final_test_acc")


SELECT_CRITERIA = ("final", "best", "steps_to_target")
SELECT_HELP = (
    "which learning rate is a method's best: 'final' = highest mean final test accuracy, 'best' = highest "
    "mean best test accuracy over the history, 'steps_to_target' = fewest mean steps to target_acc. A rate "
    "counts only when every seed the method was run with has a finished run at that rate (status completed, "
    "stopped_at_target or budget_exhausted; diverged does not count) and, for steps_to_target, every seed "
    "reached the target. Ties go to the smaller rate. The batch-size analysis always uses steps_to_target.")
FINISHED = ("completed", "stopped_at_target", "budget_exhausted")


def run_score(run, criterion):
    """One run's number under a selection criterion (None: the run does not qualify)."""
    if run["status"] not in FINISHED:
        return None
    s = run["summary"]
    if criterion == "final":
        return s.get("final_test_acc")
    if criterion == "best":
        return s.get("best_test_acc")
    if criterion == "steps_to_target":
        return s.get("steps_to_target") if s.get("target_reached") else None
    raise ValueError(f"unknown selection criterion {criterion!r} (one of {', '.join(SELECT_CRITERIA)})")


def higher_is_better(criterion):
    return criterion != "steps_to_target"


def select_best_lr(runs_of_method, criterion="final"):
    """The one rule for a method's best learning rate (see SELECT_HELP). Returns (lr, runs of all
    seeds at that lr), or (None, []) when no rate qualifies."""
    seeds = {r["config"]["seed"] for r in runs_of_method}
    best, best_score = None, None
    for lr, rs in sorted(group(runs_of_method, lambda r: r["config"]["lr"]).items()):
        scores = [run_score(r, criterion) for r in rs]
        if {r["config"]["seed"] for r in rs} != seeds or any(v is None for v in scores):
            continue
        m = statistics.fmean(scores)
        if best_score is None or (m > best_score if higher_is_better(criterion) else m < best_score):
            best, best_score = (lr, rs), m
    return best if best else (None, [])


def fmt_pm(m, s, pct=False, digits=2):
    if m is None:
        return "–"
    if pct:
        return f"{100 * m:.{digits}f} ± {100 * s:.{digits}f}" if s else f"{100 * m:.{digits}f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}" if s else f"{m:.{digits}f}"
