#!/usr/bin/python3
"""Plots from sgdbench results: learning curves, learning-rate sensitivity, batch-size scaling
and throughput, as PNG and SVG.

Usage: /usr/bin/python3 tools/plot.py RESULTS [RESULTS ...] [--out DIR] [--formats png,svg]

RESULTS is a results root (results/), an experiment directory (results/quickstart) or a runs
directory. Plots go to <experiment dir>/plots/ unless --out is given. Unreadable or malformed
result files are reported (naming the file) and skipped. Needs Debian's python3-matplotlib.
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgdresults as R  # noqa: E402

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot.py: matplotlib not found; install Debian's python3-matplotlib (tools/setup.sh does) "
             "and run with /usr/bin/python3")

X_AXES = [("epoch", "epochs", "linear"), ("step", "optimizer steps", "log"),
          ("samples", "training samples seen", "log"), ("train_seconds", "training time (s, excl. evaluation)", "log")]


def _save(fig, out_dir, name, formats):
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for fmt in formats:
        p = os.path.join(out_dir, f"{name}.{fmt}")
        fig.savefig(p, dpi=100, bbox_inches="tight")
        paths.append(p)
    plt.close(fig)
    return paths


def _seed_band(runs, x_key, y_key):
    """Mean and min/max over seeds of y at each step (points matched by step)."""
    by_step = {}
    for r in runs:
        for h in r["history"]:
            y = h.get(y_key)
            if y is None or (isinstance(y, float) and math.isnan(y)):
                continue
            by_step.setdefault(h["step"], []).append((h[x_key], y))
    xs, mean, lo, hi = [], [], [], []
    for step in sorted(by_step):
        pts = by_step[step]
        xs.append(sum(p[0] for p in pts) / len(pts))
        ys = [p[1] for p in pts]
        mean.append(sum(ys) / len(ys))
        lo.append(min(ys))
        hi.append(max(ys))
    return xs, mean, lo, hi


def _method_key(r):
    return (R.batch_value(r["config"], r), r["config"]["label"])


def learning_curves(runs, model, out_dir, formats):
    """Train loss and test accuracy against epochs, steps, samples and seconds; one line per
    method at its best learning rate (by mean final test accuracy), mean over seeds, min-max band."""
    methods = R.group(runs, lambda r: r["config"]["label"])
    chosen = []
    for label in sorted(methods, key=lambda l: _method_key(methods[l][0])):
        lr, rs = R.best_lr_runs(methods[label])
        if rs:
            chosen.append((label, lr, rs))
    if not chosen:
        return []
    fig, axes = plt.subplots(2, 4, figsize=(20, 8.5), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, lr, rs) in enumerate(chosen):
        c = colors[i % len(colors)]
        seeds = len({r["config"]["seed"] for r in rs})
        name = f"{label}, lr {lr:g}" + (f" ({seeds} seeds)" if seeds > 1 else "")
        for col, (xk, xlabel, scale) in enumerate(X_AXES):
            for row, yk in enumerate(("train_loss", "test_acc")):
                ax = axes[row][col]
                xs, m, lo, hi = _seed_band(rs, xk, yk)
                if scale == "log":  # the starting point (x = 0) has no place on a log axis
                    keep = [j for j, x in enumerate(xs) if x > 0]
                    xs, m, lo, hi = ([v[j] for j in keep] for v in (xs, m, lo, hi))
                if yk == "test_acc":
                    m, lo, hi = ([100 * v for v in s] for s in (m, lo, hi))
                ax.plot(xs, m, color=c, marker=".", markersize=3, linewidth=1.4, label=name)
                if seeds > 1:
                    ax.fill_between(xs, lo, hi, color=c, alpha=0.15, linewidth=0)
                ax.set_xscale(scale)
                ax.set_xlabel(xlabel)
                ax.set_ylabel("train loss (running mean of mini-batch losses)" if yk == "train_loss" else "test accuracy (%)")
                ax.grid(True, which="both", alpha=0.3)
    for col in range(4):
        axes[0][col].set_yscale("log")
    # One legend for all panels, below them, so it hides no curve.
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=10, frameon=False)
    fig.subplots_adjust(bottom=0.08 + 0.03 * ((len(labels) + 3) // 4), hspace=0.25, wspace=0.28)
    exp = runs[0]["experiment"]
    fig.suptitle(f"{exp}: {model} learning curves — each method at its best learning rate "
                 f"(mean over seeds, band = min–max)", fontsize=13)
    return _save(fig, out_dir, f"learning_curves_{model}", formats)


def lr_sensitivity(runs, model, out_dir, formats):
    """Final test accuracy against learning rate per method; diverged runs marked with x."""
    methods = R.group(runs, lambda r: r["config"]["label"])
    if not any(len({r["config"]["lr"] for r in rs}) > 1 for rs in methods.values()):
        return []
    fig, ax = plt.subplots(figsize=(9, 5.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, label in enumerate(sorted(methods, key=lambda l: _method_key(methods[l][0]))):
        c = colors[i % len(colors)]
        by_lr = R.group(methods[label], lambda r: r["config"]["lr"])
        xs, ys, es, div = [], [], [], []
        for lr in sorted(by_lr):
            m, s = R.mean_std([R.final_acc(r) for r in by_lr[lr]])
            if any(r["status"] == "diverged" for r in by_lr[lr]):
                div.append(lr)
            if m is not None:
                xs.append(lr), ys.append(100 * m), es.append(100 * s)
        ax.errorbar(xs, ys, yerr=es if any(es) else None, color=c, marker="o", markersize=4, capsize=3, label=label)
        if div:
            ax.scatter(div, [0] * len(div), color=c, marker="x", s=60, zorder=5)
    if any(r["status"] == "diverged" for r in runs):
        ax.scatter([], [], color="gray", marker="x", label="diverged (drawn at 0%)")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_ylim(bottom=-3, top=100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: covers no line
    ax.set_title(f"{runs[0]['experiment']}: {model} — learning-rate sensitivity (mean ± std over seeds)")
    return _save(fig, out_dir, f"lr_sensitivity_{model}", formats)


def batch_scaling(runs, model, out_dir, formats):
    """Steps, samples and seconds to the target accuracy against batch size (log-log), best
    learning rate per batch size, with a perfect-scaling reference line."""
    runs = [r for r in runs if r["config"].get("target_acc", 0) > 0]
    fams = R.group(runs, lambda r: R.optimizer_family(r["config"]))
    if not any(len({R.batch_value(r["config"], r) for r in rs}) > 1 for rs in fams.values()):
        return []
    target = runs[0]["config"]["target_acc"]
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    keys = [("steps_to_target", "steps to target"), ("samples_to_target", "samples to target"),
            ("seconds_to_target", "training seconds to target")]
    for i, fam in enumerate(sorted(fams)):
        c = colors[i % len(colors)]
        by_b = R.group(fams[fam], lambda r: R.batch_value(r["config"], r))
        missed = [("full" if any(r["config"]["batch_size"] == "full" for r in rs) else f"{b:g}")
                  for b, rs in sorted(by_b.items()) if not any(r["summary"].get("target_reached") for r in rs)]
        label = fam + (f" (not reached at batch {', '.join(missed)})" if missed else "")
        for ax, (k, ylabel) in zip(axes, keys):
            xs, ys, full_x = [], [], None
            for b in sorted(by_b):
                # best lr per batch size: the fewest steps to target (mean over the seeds that reached it)
                best = None
                for lr, rs in R.group(by_b[b], lambda r: r["config"]["lr"]).items():
                    m, _ = R.mean_std([r["summary"].get("steps_to_target") for r in rs])
                    if m is not None and (best is None or m < best[0]):
                        best = (m, R.mean_std([r["summary"].get(k) for r in rs])[0])
                if best:
                    xs.append(b), ys.append(best[1])
                if any(r["config"]["batch_size"] == "full" for r in by_b[b]):
                    full_x = b
            ax.plot(xs, ys, color=c, marker="o", label=label)
            if full_x is not None and full_x in xs:
                ax.annotate("full", (full_x, ys[xs.index(full_x)]), textcoords="offset points", xytext=(4, 4), fontsize=8)
            if k == "steps_to_target" and xs:
                ref = [ys[0] * xs[0] / x for x in xs]
                ax.plot(xs, ref, color=c, linestyle=":", linewidth=1, label=f"{fam}: perfect scaling (steps ∝ 1/B)")
            if k == "samples_to_target" and xs:
                ax.plot(xs, [ys[0]] * len(xs), color=c, linestyle=":", linewidth=1, label=f"{fam}: perfect scaling")
    for ax, (k, ylabel) in zip(axes, keys):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("batch size (full batch = training-set size)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{runs[0]['experiment']}: {model} — to {100 * target:g}% test accuracy, "
                 f"best learning rate per batch size", fontsize=13)
    return _save(fig, out_dir, f"batch_scaling_{model}", formats)


def throughput(runs, out_dir, formats):
    """Training images/s (incl. batching and update, excl. evaluation) against batch size per model."""
    by_model = R.group(runs, R.model_name)
    if not any(len({R.batch_value(r["config"], r) for r in rs}) > 1 for rs in by_model.values()):
        return []
    fig, ax = plt.subplots(figsize=(8, 5))
    for model, rs in sorted(by_model.items()):
        by_b = R.group(rs, lambda r: R.batch_value(r["config"], r))
        xs = sorted(by_b)
        ys = [R.mean_std([r["summary"].get("images_per_second") for r in by_b[b]])[0] for b in xs]
        ax.plot(xs, ys, marker="o", label=model)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size (full batch = training-set size)")
    ax.set_ylabel("training throughput (images/s)")
    threads = sorted({r["provenance"].get("threads") for r in runs if "provenance" in r})
    ax.set_title(f"{runs[0]['experiment']}: training throughput ({', '.join(map(str, threads))} thread(s))")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "throughput", formats)


def plot_experiment(runs, out_dir, formats=("png", "svg")):
    """All plots that this experiment's runs support; returns the written paths."""
    written = []
    for model, rs in sorted(R.group(runs, R.model_name).items()):
        written += learning_curves(rs, model, out_dir, formats)
        written += lr_sensitivity(rs, model, out_dir, formats)
        written += batch_scaling(rs, model, out_dir, formats)
    written += throughput(runs, out_dir, formats)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="results root, experiment directory or runs directory")
    ap.add_argument("--out", help="write all plots here instead of <experiment>/plots")
    ap.add_argument("--formats", default="png,svg", help="comma-separated: png, svg, pdf (default png,svg)")
    a = ap.parse_args()
    runs = R.load_runs_or_exit(a.results, "plot.py")
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    for exp, rs in sorted(R.group(runs, lambda r: r["experiment"]).items()):
        out = a.out if a.out else os.path.join(R.experiment_dir(rs[0]), "plots")
        if a.out and len({r["experiment"] for r in runs}) > 1:
            out = os.path.join(a.out, exp)
        for p in plot_experiment(rs, out, formats):
            print(p)


if __name__ == "__main__":
    main()
