#!/usr/bin/python3
"""Writes results/<experiment>/REPORT.md: what was run (spec, provenance, data), a table per model
of every method and learning rate (mean ± std over seeds), and the plots (made by plot.py).

Usage: /usr/bin/python3 tools/report.py RESULTS [RESULTS ...] [--no-plots]

RESULTS: a results root, an experiment directory or a runs directory. One REPORT.md per
experiment, next to its runs/ directory. Malformed result files are reported and skipped.
"""
import argparse
import datetime
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgdresults as R  # noqa: E402


def _repo_commit():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        commit = subprocess.run(["git", "-C", here, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no", "--", "tools"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _one_or_list(values):
    v = sorted({str(x) for x in values})
    return v[0] if len(v) == 1 else ", ".join(v)


def method_rows(runs):
    """One row per (method, lr), sorted by batch size then label then lr."""
    rows = []
    target = max((r["config"].get("target_acc", 0) for r in runs), default=0)
    for (label, lr), rs in R.group(runs, lambda r: (r["config"]["label"], r["config"]["lr"])).items():
        n = len(rs)
        statuses = R.group(rs, lambda r: r["status"])
        fin = R.mean_std([R.final_acc(r) for r in rs])
        best = R.mean_std([r["summary"].get("best_test_acc") if r["status"] != "diverged" else None for r in rs])
        reached = [r for r in rs if r["summary"].get("target_reached")]
        to = {k: R.mean_std([r["summary"].get(k) for r in reached])
              for k in ("steps_to_target", "samples_to_target", "seconds_to_target")}
        ips = R.mean_std([r["summary"].get("images_per_second") for r in rs])
        rows.append({
            "sort": (R.batch_value(rs[0]["config"], rs[0]), label, lr),
            "method": label, "batch": str(rs[0]["config"]["batch_size"]), "lr": lr, "seeds": n,
            "status": ", ".join(f"{len(v)} {k}" for k, v in sorted(statuses.items())),
            "final": fin, "best": best, "reached": len(reached), "to": to, "ips": ips, "target": target,
        })
    return sorted(rows, key=lambda x: x["sort"])


def _to_cell(row, key, digits):
    m, s = row["to"][key]
    if m is None:
        return "not reached"
    cell = R.fmt_pm(m, s, digits=digits)
    return cell if row["reached"] == row["seeds"] else f"{cell} ({row['reached']}/{row['seeds']})"


def table(runs):
    rows = method_rows(runs)
    target = rows[0]["target"] if rows else 0
    head = ["method", "batch", "lr", "seeds", "status", "final test acc (%)", "best test acc (%)"]
    if target:
        t = f"{100 * target:g}%"
        head += [f"steps to {t}", f"samples to {t}", f"train s to {t}"]
    head += ["images/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["method"], r["batch"], f"{r['lr']:g}", str(r["seeds"]), r["status"],
                 R.fmt_pm(*r["final"], pct=True), R.fmt_pm(*r["best"], pct=True)]
        if target:
            cells += [_to_cell(r, "steps_to_target", 0), _to_cell(r, "samples_to_target", 0),
                      _to_cell(r, "seconds_to_target", 2)]
        cells.append(R.fmt_pm(*r["ips"], digits=0))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(runs, exp_dir, plots):
    exp = runs[0]["experiment"]
    prov = [r.get("provenance", {}) for r in runs]
    data = [r.get("data", {}) for r in runs]
    spec_files = _one_or_list(r.get("spec_file", "?") for r in runs)
    root = os.path.relpath(os.path.dirname(exp_dir)) if os.path.dirname(exp_dir) else "."
    desc = ""
    spec_copy = os.path.join(exp_dir, "spec.json")
    if os.path.exists(spec_copy):
        try:
            import json
            with open(spec_copy) as f:
                desc = json.load(f).get("description", "")
        except (OSError, ValueError):
            pass
    statuses = R.group(runs, lambda r: r["status"])
    out = [f"# {exp}", ""]
    if desc:
        out += [desc, ""]
    out += [
        "## How it was made", "",
        f"- Runs: `sgdbench run {spec_files} --out {root}` (spec copy: `spec.json`); "
        f"report: `/usr/bin/python3 tools/report.py {os.path.relpath(exp_dir)}` at git commit "
        f"`{_repo_commit()}`, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"- {len(runs)} runs: " + ", ".join(f"{len(v)} {k}" for k, v in sorted(statuses.items())) + ".",
        f"- sgdbench {_one_or_list(p.get('sgdbench_version') for p in prov)} at commit "
        f"{_one_or_list(p.get('git_commit') for p in prov)}; oneDNN {_one_or_list(p.get('onednn_version') for p in prov)} "
        f"({_one_or_list(p.get('onednn_isa') for p in prov)}); {_one_or_list(p.get('compiler') for p in prov)}.",
        f"- CPU: {_one_or_list(p.get('cpu_model') for p in prov)}; threads per run: "
        f"{_one_or_list(p.get('threads') for p in prov)}; runs from {min(p.get('started', '?') for p in prov)} "
        f"to {max(p.get('finished', '?') for p in prov)}.",
        f"- Data: {_one_or_list(d.get('source') for d in data)}, train {_one_or_list(d.get('train') for d in data)}, "
        f"test {_one_or_list(d.get('test') for d in data)} images of {_one_or_list('x'.join(map(str, d.get('shape', []))) for d in data)}, "
        f"preprocess {_one_or_list(d.get('preprocess') for d in data)}, checksum {_one_or_list(d.get('checksum') for d in data)}.",
        "", "Accuracies are on the test split, mean ± standard deviation over seeds; a diverged run has no final "
        "accuracy. Steps/samples/seconds to target are read at the logged points (per epoch and log-spaced "
        "steps), so they are upper bounds at that resolution; (k/n) means only k of n seeds reached it. "
        "images/s is training throughput including batching and the update, excluding evaluation.", ""]
    for model, rs in sorted(R.group(runs, R.model_name).items()):
        out += [f"## {model}", "", table(rs), ""]
        for p in plots:
            name = os.path.basename(p)
            if p.endswith(".png") and model in name:
                out += [f"![{name}]({os.path.relpath(p, exp_dir)})", ""]
    for p in plots:
        if p.endswith(".png") and os.path.basename(p).startswith("throughput"):
            out += ["## Throughput", "", f"![throughput]({os.path.relpath(p, exp_dir)})", ""]
    path = os.path.join(exp_dir, "REPORT.md")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out))
    os.replace(tmp, path)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--no-plots", action="store_true", help="only the tables (no matplotlib needed)")
    a = ap.parse_args()
    runs = R.load_runs_or_exit(a.results, "report.py")
    for exp, rs in sorted(R.group(runs, lambda r: r["experiment"]).items()):
        exp_dir = R.experiment_dir(rs[0])
        plots = []
        if not a.no_plots:
            import plot
            plots = plot.plot_experiment(rs, os.path.join(exp_dir, "plots"))
        print(write_report(rs, exp_dir, plots))


if __name__ == "__main__":
    main()
