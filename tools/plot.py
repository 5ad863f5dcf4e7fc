#!/usr/bin/python3
"""Plots from sgdbench results: learning curves, learning-rate sensitivity, batch-size scaling
(with the fit S(B) = S_min (1 + B_crit/B) and its regimes), tuning budget and throughput, as PNG
and SVG. The numbers come from sgdanalysis.py; this file only draws.

Usage: /usr/bin/python3 tools/plot.py RESULTS [RESULTS ...] [--out DIR] [--formats png,svg]
                                      [--select final|best|steps_to_target]

RESULTS is a results root (results/), an experiment directory (results/quickstart) or a runs
directory. Plots go to <experiment dir>/plots/ unless --out is given. Unreadable or malformed
result files are reported (naming the file) and skipped. Needs Debian's python3-matplotlib.
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgdanalysis as A  # noqa: E402
import sgdresults as R  # noqa: E402
import sgdstats as S  # noqa: E402

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


def learning_curves(runs, model, out_dir, formats, select="final"):
    """Train loss and test accuracy against epochs, steps, samples and seconds; one line per
    method at its best learning rate (R.select_best_lr by `select`), mean over seeds, min-max band."""
    methods = R.group(runs, lambda r: r["config"]["label"])
    chosen = []
    for label in sorted(methods, key=lambda l: _method_key(methods[l][0])):
        lr, rs = R.select_best_lr(methods[label], select)
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
    fig.suptitle(f"{exp}: {model} learning curves — each method at its best learning rate by {select} "
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


REGIME_COLORS = (("perfect scaling\n(B << B_crit)", "tab:green"), ("diminishing\nreturns", "tab:olive"),
                 ("maximal data\nparallelism (B >> B_crit)", "tab:red"))


def _scaling_fit_panel(ax, fam, res, color):
    """Measured steps to target per batch size (seed mean, min-max), the fitted S(B), its two
    asymptotes, the three regimes (sgdstats.regime_bounds) shaded, and the time-optimal batch."""
    pts = [p for p in res["points"] if p["steps"]]
    xs = [p["B"] for p in pts]
    m = [sum(p["steps"]) / len(p["steps"]) for p in pts]
    err = [[v - min(p["steps"]) for v, p in zip(m, pts)], [max(p["steps"]) - v for v, p in zip(m, pts)]]
    ax.errorbar(xs, m, yerr=err, color=color, marker="o", linestyle="none", capsize=3,
                label="measured (seed mean, min–max)")
    fit = res["fit"]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(fam, fontsize=10)
    ax.set_xlabel("batch size B")
    ax.set_ylabel(f"steps to {100 * res['target']:g}%")
    ax.grid(True, which="both", alpha=0.3)
    if not fit:
        ax.text(0.5, 0.5, "no fit", transform=ax.transAxes, ha="center")
        ax.legend(fontsize=7)
        return
    lo_x, hi_x = min(xs) / 2, max(xs) * 2
    grid = [lo_x * (hi_x / lo_x) ** (i / 200) for i in range(201)]
    ax.plot(grid, S.scaling_curve(grid, fit["s_min"], fit["b_crit"]), color=color,
            label=f"fit: S_min {fit['s_min']:.3g}, B_crit {fit['b_crit']:.3g}")
    ax.plot(grid, [fit["s_min"] * fit["b_crit"] / b for b in grid], color="gray", linestyle=":", linewidth=1)
    ax.axhline(fit["s_min"], color="gray", linestyle=":", linewidth=1)
    b1, b2 = S.regime_bounds(fit["b_crit"])
    for (name, c), (a, b) in zip(REGIME_COLORS, ((lo_x, b1), (b1, b2), (b2, hi_x))):
        if b > a and b > lo_x and a < hi_x:
            ax.axvspan(max(a, lo_x), min(b, hi_x), color=c, alpha=0.1, linewidth=0, label=name.replace("\n", " "))
    if res.get("b_opt"):
        ax.axvline(res["b_opt"], color="black", linestyle="--", linewidth=1,
                   label=f"time-optimal B = {res['b_opt']:g} (fit × measured s/step)")
    ax.set_xlim(lo_x, hi_x)
    ax.set_ylim(bottom=min(min(m), fit["s_min"]) / 3)
    ax.legend(fontsize=7)


def batch_scaling(runs, model, out_dir, formats):
    """Top: steps, samples and seconds to the target accuracy against batch size (log-log), best
    learning rate per batch size by steps to target (R.select_best_lr), with a perfect-scaling
    reference line. Bottom: per optimizer family the fit S(B) = S_min (1 + B_crit / B) with the
    regimes shaded (sgdanalysis.batch_scaling)."""
    data = A.batch_scaling(runs)
    if not any(len(d["points"]) > 1 for d in data.values()):
        return []
    target = next(iter(data.values()))["target"]
    ncol = max(3, len(data))
    fig, axes = plt.subplots(2, ncol, figsize=(6 * ncol, 11), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    keys = [("steps_to_target", "steps to target"), ("samples_to_target", "samples to target"),
            ("seconds_to_target", "training seconds to target")]
    for i, (fam, res) in enumerate(data.items()):
        c = colors[i % len(colors)]
        missed = [("full" if p["full"] else f"{p['B']:g}") for p in res["points"] if not p["steps"]]
        label = fam + (f" (no lr with every seed at target at batch {', '.join(missed)})" if missed else "")
        pts = [p for p in res["points"] if p["steps"]]
        xs = [p["B"] for p in pts]
        for ax, (k, ylabel) in zip(axes[0], keys):
            ys = [p[k] for p in pts]
            ax.plot(xs, ys, color=c, marker="o", label=label)
            full = [p for p in pts if p["full"]]
            if full:
                ax.annotate("full", (full[0]["B"], full[0][k]), textcoords="offset points", xytext=(4, 4), fontsize=8)
            if k == "steps_to_target" and xs:
                ax.plot(xs, [ys[0] * xs[0] / x for x in xs], color=c, linestyle=":", linewidth=1,
                        label=f"{fam}: perfect scaling (steps ∝ 1/B)")
                if res["fit"]:
                    ax.plot(xs, S.scaling_curve(xs, res["fit"]["s_min"], res["fit"]["b_crit"]), color=c,
                            linestyle="--", linewidth=1, label=f"{fam}: fit S_min (1 + B_crit/B)")
            if k == "samples_to_target" and xs:
                ax.plot(xs, [ys[0]] * len(xs), color=c, linestyle=":", linewidth=1, label=f"{fam}: perfect scaling")
        _scaling_fit_panel(axes[1][i], fam, res, c)
    for ax, (k, ylabel) in zip(axes[0], keys):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("batch size (full batch = training-set size)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes[0][3:]) + list(axes[1][len(data):]):
        ax.set_visible(False)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{runs[0]['experiment']}: {model} — to {100 * target:g}% test accuracy, best learning rate "
                 f"per batch size (all seeds at target); bottom: fit and regimes (10% from each asymptote)",
                 fontsize=13)
    return _save(fig, out_dir, f"batch_scaling_{model}", formats)


def tuning_budget(runs, model, out_dir, formats, select="final"):
    """Expected best test accuracy after k random learning-rate draws per method
    (sgdanalysis.tuning: exact order statistics per seed, mean over seeds)."""
    methods = R.group(runs, R.method)
    curves = {label: A.tuning(rs, select) for label, rs in methods.items()}
    if not any(c["grid"] > 1 for c in curves.values()):
        return []
    fig, ax = plt.subplots(figsize=(9, 5.5))
    n_colors = len(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for i, label in enumerate(sorted(methods, key=lambda l: _method_key(methods[l][0]))):
        acc = curves[label]["acc"]
        ax.plot(range(1, len(acc) + 1), [100 * v for v in acc], marker="o", markersize=4, label=label,
                linestyle=("-", "--", ":")[(i // n_colors) % 3])
    ax.set_xlabel("k = learning rates drawn at random from the grid (with replacement)")
    ax.set_ylabel(f"expected best {'best' if select == 'best' else 'final'} test accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"{runs[0]['experiment']}: {model} — tuning budget (diverged = 0%, mean over seeds)")
    return _save(fig, out_dir, f"tuning_budget_{model}", formats)


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


def plot_experiment(runs, out_dir, formats=("png", "svg"), select="final"):
    """All plots that this experiment's runs support; returns the written paths."""
    written = []
    for model, rs in sorted(R.group(runs, R.model_name).items()):
        written += learning_curves(rs, model, out_dir, formats, select)
        written += lr_sensitivity(rs, model, out_dir, formats)
        written += batch_scaling(rs, model, out_dir, formats)
        written += tuning_budget(rs, model, out_dir, formats, select)
    written += throughput(runs, out_dir, formats)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="results root, experiment directory or runs directory")
    ap.add_argument("--out", help="write all plots here instead of <experiment>/plots")
    ap.add_argument("--formats", default="png,svg", help="comma-separated: png, svg, pdf (default png,svg)")
    ap.add_argument("--select", choices=R.SELECT_CRITERIA, default="final", help=R.SELECT_HELP + " (default final)")
    a = ap.parse_args()
    runs = R.load_runs_or_exit(a.results, "plot.py")
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    for exp, rs in sorted(R.group(runs, lambda r: r["experiment"]).items()):
        out = a.out if a.out else os.path.join(R.experiment_dir(rs[0]), "plots")
        if a.out and len({r["experiment"] for r in runs}) > 1:
            out = os.path.join(a.out, exp)
        for p in plot_experiment(rs, out, formats, a.select):
            print(p)


if __name__ == "__main__":
    main()
