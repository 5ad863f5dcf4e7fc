#!/usr/bin/python3
"""Plots from sgdbench results: learning curves, learning-rate sensitivity, batch-size scaling
(with the fit S(B) = S_min (1 + B_crit/B), its regimes and, when the runs logged it, the measured
gradient noise scale B_simple), tuning budget, throughput, and, when the runs logged them,
per-parameter gradient and weight norms (log_grad_norms) and B_simple over training
(noise_scale), as PNG and SVG; also the loss-vs-lr curve of an `sgdbench lr-find` document. The
numbers come from sgdanalysis.py; this file only draws.

Usage: /usr/bin/python3 tools/plot.py RESULTS [RESULTS ...] [--out DIR] [--formats png,svg]
                                      [--select final|best|steps_to_target]

RESULTS is a results root (results/), an experiment directory (results/quickstart), a runs
directory, or an lr-find document (results/lr_find/<model>_<data>_b<batch>.json; a directory
named lr_find, or one holding lr_find/, plots each it holds). Experiment plots go to
<experiment dir>/plots/ unless --out is given: learning_curves_<model>, lr_sensitivity_<model>,
batch_scaling_<model>, tuning_budget_<model>, grad_norms_<model>, noise_scale_<model>,
throughput. An lr-find plot goes beside its document (same stem; in --out if given). Unreadable
or malformed result files are reported (naming the file) and skipped. Needs Debian's
python3-matplotlib.
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


def _best_per_method(runs, select, keep=lambda r: True):
    """[(label, lr, runs of every seed at that lr)] per method at its best lr (R.select_best_lr),
    sorted by batch size then label; only methods with a run for which keep(run) holds."""
    methods = R.group([r for r in runs if keep(r)], lambda r: r["config"]["label"])
    out = []
    for label in sorted(methods, key=lambda l: _method_key(methods[l][0])):
        lr, rs = R.select_best_lr(methods[label], select)
        if rs:
            out.append((label, lr, rs))
    return out


def learning_curves(runs, model, out_dir, formats, select="final"):
    """Train loss and test accuracy against epochs, steps, samples and seconds; one line per
    method at its best learning rate (R.select_best_lr by `select`), mean over seeds, min-max band."""
    chosen = _best_per_method(runs, select)
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


def _num(v):
    """Three significant digits, without an exponent below 10^6: 0.0123, 63.7, 1003."""
    return f"{v:.3g}" if abs(v) < 1000 or abs(v) >= 1e6 else f"{v:.0f}"


def _b_simple_band(ax, bs, fit, color):
    """The measured B_simple (sgdanalysis.family_b_simple): a vertical line at the mean, its 95%
    bootstrap interval shaded; and B_crit of the fit as a line beside it. Returns the x range used."""
    xs = []
    if fit:
        ax.axvline(fit["b_crit"], color=color, linewidth=1, alpha=0.8, gid="b_crit_line",
                   label=f"B_crit (fit) = {_num(fit['b_crit'])}")
        xs.append(fit["b_crit"])
    if not bs or bs["mean"] is None:
        if bs:
            ax.plot([], [], " ", label=f"B_simple undefined at the last point of all {bs['runs']} runs")
        return xs
    ax.axvline(bs["mean"], color="tab:purple", linestyle="-.", linewidth=1.5, gid="b_simple_line",
               label=f"measured B_simple = {_num(bs['mean'])} (mean of {bs['n']}/{bs['runs']} runs, last point)")
    if bs["ci"] and bs["ci"][0] < bs["ci"][1]:
        ax.axvspan(bs["ci"][0], bs["ci"][1], color="tab:purple", alpha=0.12, linewidth=0,
                   label="B_simple 95% bootstrap interval")
    return xs + [v for v in (bs["ci"] or (bs["mean"],))]


def _scaling_fit_panel(ax, fam, res, color, bs=None):
    """Measured steps to target per batch size (seed mean, min-max), the fitted S(B), its two
    asymptotes, the three regimes (sgdstats.regime_bounds) shaded, the time-optimal batch, and
    with `bs` (sgdanalysis.family_b_simple) the measured B_simple beside B_crit."""
    pts = [p for p in res["points"] if p["steps"]]
    xs = [p["B"] for p in pts]
    m = [sum(p["steps"]) / len(p["steps"]) for p in pts]
    err = [[v - min(p["steps"]) for v, p in zip(m, pts)], [max(p["steps"]) - v for v, p in zip(m, pts)]]
    ax.errorbar(xs, m, yerr=err, color=color, marker="o", linestyle="none", capsize=3,
                label="measured (seed mean, min–max)")
    fit = res["fit"]
    ax.set_xscale("log")
    if m:  # a log axis needs a positive value
        ax.set_yscale("log")
    ax.set_title(fam, fontsize=10)
    ax.set_xlabel("batch size B")
    ax.set_ylabel(f"steps to {100 * res['target']:g}%")
    ax.grid(True, which="both", alpha=0.3)
    if not fit:
        ax.text(0.5, 0.5, "no fit" if m else "no fit: no batch size with every seed at target",
                transform=ax.transAxes, ha="center")
        if bs:
            marks = _b_simple_band(ax, bs, None, color)
            every = xs + marks + [p["B"] for p in res["points"]]
            ax.set_xlim(min(every) / 2, max(every) * 2)
        ax.legend(fontsize=7)
        return
    lo_x, hi_x = min(xs) / 2, max(xs) * 2
    if bs:
        marks = _b_simple_band(ax, bs, fit, color)
        lo_x, hi_x = min([lo_x] + [v / 2 for v in marks]), max([hi_x] + [v * 2 for v in marks])
    grid = [lo_x * (hi_x / lo_x) ** (i / 200) for i in range(201)]
    ax.plot(grid, S.scaling_curve(grid, fit["s_min"], fit["b_crit"]), color=color,
            label=f"fit: S_min {_num(fit['s_min'])}, B_crit {_num(fit['b_crit'])}")
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


def batch_scaling(runs, model, out_dir, formats, select="final"):
    """Top: steps, samples and seconds to the target accuracy against batch size (log-log), best
    learning rate per batch size by steps to target (R.select_best_lr), with a perfect-scaling
    reference line. Bottom: per optimizer family the fit S(B) = S_min (1 + B_crit / B) with the
    regimes shaded (sgdanalysis.batch_scaling) and, where the runs logged the noise scale, the
    measured B_simple (sgdanalysis.family_b_simple: each batch size's best lr by `select`)."""
    data = A.batch_scaling(runs)
    b_simple = A.family_b_simple(runs, select) if A.has_noise_scale(runs) else {}
    if not any(len(d["points"]) > 1 for d in data.values()):
        return []
    if not any(p["steps"] for d in data.values() for p in d["points"]):
        return []  # no batch size of any optimizer reached the target with every seed: nothing to draw
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
        _scaling_fit_panel(axes[1][i], fam, res, c, b_simple.get(fam))
    for ax, (k, ylabel) in zip(axes[0], keys):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("batch size (full batch = training-set size)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes[0][3:]) + list(axes[1][len(data):]):
        ax.set_visible(False)
    axes[0][0].legend(fontsize=8)
    ns = (f";\nB_simple: last logged point, runs at each batch size's best lr by {select}" if b_simple else "")
    fig.suptitle(f"{runs[0]['experiment']}: {model} — to {100 * target:g}% test accuracy, best learning rate "
                 f"per batch size (all seeds at target); bottom: fit and regimes (10% from each asymptote)" + ns,
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


def grad_norms(runs, model, out_dir, formats, select="final"):
    """Per method at its best learning rate (columns, four per row): the L2 norm of each
    parameter's gradient (as the update used it) and of its weights against optimizer steps,
    log-log (x linear under a decade of steps), mean over seeds (sgdanalysis.grad_norm_series);
    the global norm in black and, with clipping, the norm before clipping dashed. Vanishing or
    exploding gradients show as layers whose lines fall or rise by orders of magnitude. Written
    only when the runs logged grad_norms."""
    chosen = _best_per_method(runs, select, lambda r: A.has_grad_norms([r]))
    if not chosen:
        return []
    ncol = min(4, len(chosen))
    nrow = (len(chosen) + ncol - 1) // ncol
    fig, axes = plt.subplots(2 * nrow, ncol, figsize=(5 * ncol + 1, 7.5 * nrow), squeeze=False)
    names = sorted({n for _, _, rs in chosen for part in ("grad", "weights")
                    for n in A.grad_norm_series(rs, part)} - {"total", "before clipping"})
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    color = {n: cmap(i % cmap.N) for i, n in enumerate(names)}
    color.update({"total": "black", "before clipping": "black"})
    for i, (label, lr, rs) in enumerate(chosen):
        seeds = len({r["config"]["seed"] for r in rs})
        clip = (rs[0]["config"].get("clip") or {}).get("norm", 0)
        for k, (part, what) in enumerate((("grad", "gradient"), ("weights", "weight"))):
            ax = axes[2 * (i // ncol) + k][i % ncol]
            series = A.grad_norm_series(rs, part)
            for name in names + ["total", "before clipping"]:
                if name not in series:
                    continue
                xs, ys = series[name]
                pts = [(x, y) for x, y in zip(xs, ys) if x > 0 and y > 0]  # log axes: step 0, zero norms
                if pts:
                    ax.plot(*zip(*pts), color=color[name], marker=".", markersize=3,
                            linewidth=2 if name == "total" else 1.2, linestyle="--" if name == "before clipping" else "-",
                            label={"total": "global norm", "before clipping": "global norm before clipping"}.get(name, name))
            if part == "grad" and clip:
                ax.axhline(clip, color="tab:red", linestyle=":", linewidth=1, label=f"clip norm {clip:g}")
            steps = [x for xs, _ in series.values() for x in xs if x > 0]
            ax.set_xscale("log" if steps and max(steps) >= 10 * min(steps) else "linear")  # log: a decade or more
            ax.set_yscale("log")
            ax.set_xlabel("optimizer steps")
            ax.set_ylabel(f"{what} L2 norm")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"{label}, lr {lr:g}" + (f" ({seeds} seeds, mean)" if seeds > 1 else "") + f": {what}s",
                         fontsize=10)
    for j in range(len(chosen), nrow * ncol):
        for k in range(2):
            axes[2 * (j // ncol) + k][j % ncol].set_visible(False)
    handles, labels = {}, []
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in handles:
                handles[l] = h
                labels.append(l)
    fig.subplots_adjust(hspace=0.35, wspace=0.25)
    # One legend for all panels, below them (bbox_inches="tight" makes room), so it hides no line.
    fig.legend([handles[l] for l in labels], labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(len(labels), 6), fontsize=9, frameon=False)
    fig.suptitle(f"{runs[0]['experiment']}: {model} — per-parameter gradient and weight norms at logged points, "
                 f"each method at its best learning rate by {select}", fontsize=13)
    return _save(fig, out_dir, f"grad_norms_{model}", formats)


def noise_scale(runs, model, out_dir, formats, select="final"):
    """The gradient noise scale over training, per method at its best learning rate, one line per
    seed (a mean over seeds would mix in only the seeds where B_simple is defined): B_simple =
    tr(Sigma)/|G|^2 with the method's batch size as a dotted line (B well below B_simple: steps
    scale as 1/B), and the two estimates it is the ratio of (sgdanalysis.noise_scale_series).
    A gap in B_simple: the |G|^2 estimate was <= 0 there."""
    chosen = _best_per_method(runs, select, lambda r: A.has_noise_scale([r]))
    if not chosen:
        return []
    fig, axes = plt.subplots(1, 3, figsize=(19, 5.5), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    smallest = []
    for i, (label, lr, rs) in enumerate(chosen):
        c = colors[i % len(colors)]
        seeds = len({r["config"]["seed"] for r in rs})
        name = f"{label}, lr {lr:g}" + (f" ({seeds} seeds)" if seeds > 1 else "")
        for j, r in enumerate(sorted(rs, key=lambda r: r["config"]["seed"])):
            for ax, key in zip(axes[0], ("b_simple", "grad_sq", "trace_cov")):
                xs, ys = A.noise_scale_series([r], key, gaps=key == "b_simple")
                ax.plot(xs, ys, color=c, marker=".", markersize=4, linewidth=1.2, alpha=0.9,
                        linestyle=("-", "--", "-.", ":")[j % 4], label=name if j == 0 else None)
                if key == "grad_sq":
                    smallest += [abs(v) for v in ys if v]
        b = R.batch_value(rs[0]["config"], rs[0])
        axes[0][0].axhline(b, color=c, linestyle=":", linewidth=1)
    axes[0][0].plot([], [], color="gray", linestyle=":", label="the method's batch size")
    if any(len(rs) > 1 for _, _, rs in chosen):
        axes[0][0].plot([], [], color="gray", linestyle="--", label="line style: seed")
    for ax, ylabel, scale in zip(axes[0], ("B_simple = tr(Σ) / |G|²  (samples)", "|G|² estimate (EMA)",
                                           "tr(Σ) estimate (EMA)"), ("log", "symlog", "log")):
        ax.set_xscale("log")
        if scale == "symlog":  # |G|^2 estimates can go negative: linear near 0, log beyond
            ax.set_yscale("symlog", linthresh=10 ** math.floor(math.log10(min(smallest))) if smallest else 1)
        else:
            ax.set_yscale(scale)
        ax.set_xlabel("optimizer steps")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][1].axhline(0, color="gray", linewidth=0.8)
    axes[0][0].legend(fontsize=8)
    fig.subplots_adjust(wspace=0.3)
    fig.suptitle(f"{runs[0]['experiment']}: {model} — gradient noise scale over training (McCandlish et al. 2018), "
                 f"each method at its best learning rate by {select}; gaps: |G|² estimate ≤ 0", fontsize=12)
    return _save(fig, out_dir, f"noise_scale_{model}", formats)


def lr_find_markers(doc):
    """Where the lr-find plot marks the suggested and the minimum-loss learning rates: {"suggested":
    (lr, smoothed loss there), "min_loss": (...)}, the loss taken at the recorded lr nearest on a
    log scale; a rate the document leaves null is left out."""
    out = {}
    for key, field in (("suggested", "suggested_lr"), ("min_loss", "min_loss_lr")):
        lr = doc.get(field)
        if lr is None or lr <= 0:
            continue
        dist = [abs(math.log(x / lr)) if x > 0 else math.inf for x in doc["lr"]]
        i = dist.index(min(dist))
        out[key] = (lr, doc["smoothed_loss"][i])
    return out


def lr_find(doc, out_dir=None, formats=("png", "svg")):
    """Loss of each step and its smoothed loss against the learning rate (log x) of an lr-find
    document, the suggested lr (steepest fall of the smoothed loss) and the min-loss lr marked
    (their artists carry gid suggested_lr / min_loss_lr, kept as ids in the SVG; a rate of 0 or
    null counts as none suggested). Written beside the document (same stem) or in out_dir.
    Returns (paths, markers as drawn: {key: (lr, loss)})."""
    fig, ax = plt.subplots(figsize=(9, 5.5))
    lr, loss, smooth = doc["lr"], doc["loss"], doc["smoothed_loss"]
    ax.plot(lr, loss, color="tab:gray", alpha=0.45, linewidth=0.8, label="loss of each step")
    ax.plot(lr, smooth, color="tab:blue", linewidth=1.8,
            label=f"smoothed loss (EMA {doc.get('range', {}).get('smooth', '?')})")
    marks = lr_find_markers(doc)
    drawn = {}
    for key, color, text in (("suggested", "tab:red", "suggested lr (steepest fall)"),
                             ("min_loss", "tab:green", "lr of the lowest smoothed loss")):
        if key not in marks:
            ax.plot([], [], " ", label=f"no {text} in the document")
            continue
        x, y = marks[key]
        ax.axvline(x, color=color, linestyle="--", linewidth=1, gid=f"{key}_lr_line")
        (pt,) = ax.plot([x], [y], color=color, marker="o", markersize=8, linestyle="none",
                        gid=f"{key}_lr", label=f"{text} {x:.3g}")
        drawn[key] = (float(pt.get_xdata()[0]), float(pt.get_ydata()[0]))
    finite = [v for v in smooth if v is not None and math.isfinite(v)]
    raw = [v for v in loss if v is not None and math.isfinite(v)]
    if finite:  # the divergence at the end would flatten the interesting part
        lo, top = min(finite + raw), max(finite[: max(1, len(finite) // 10)])
        ax.set_ylim(lo - 0.1 * (top - lo) - 1e-12, top + 0.5 * (top - lo) + 1e-12)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss (mini-batch)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    c = doc.get("config", {})
    model = c.get("model_name") or (c["model"] if isinstance(c.get("model"), str)
                                    else (c.get("model") or {}).get("name")) or "?"
    data = (c.get("data") or {}).get("name", "?")
    ax.set_title(f"lr range test: {model} on {data}, {c.get('label', '?')} (batch {c.get('batch_size', '?')}); "
                 f"stop: {doc.get('stop_reason', '?')}", fontsize=10)
    stem = os.path.splitext(os.path.basename(doc["_file"]))[0] if "_file" in doc else "lr_find"
    out = out_dir or os.path.dirname(os.path.abspath(doc.get("_file", "lr_find.json")))
    return _save(fig, out, stem, formats), drawn


def plot_experiment(runs, out_dir, formats=("png", "svg"), select="final"):
    """All plots that this experiment's runs support; returns the written paths."""
    written = []
    for model, rs in sorted(R.group(runs, R.model_name).items()):
        written += learning_curves(rs, model, out_dir, formats, select)
        written += lr_sensitivity(rs, model, out_dir, formats)
        written += batch_scaling(rs, model, out_dir, formats, select)
        written += tuning_budget(rs, model, out_dir, formats, select)
        written += grad_norms(rs, model, out_dir, formats, select)
        written += noise_scale(rs, model, out_dir, formats, select)
    written += throughput(runs, out_dir, formats)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+",
                    help="results root, experiment directory, runs directory or lr-find document (.json)")
    ap.add_argument("--out", help="write all plots here instead of <experiment>/plots")
    ap.add_argument("--formats", default="png,svg", help="comma-separated: png, svg, pdf (default png,svg)")
    ap.add_argument("--select", choices=R.SELECT_CRITERIA, default="final", help=R.SELECT_HELP + " (default final)")
    a = ap.parse_args()
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    lr_docs = []
    for f in R.find_lr_find_files(a.results):
        try:
            doc = R.read_lr_find(f)
        except ValueError as e:
            R.warn("plot.py", f"skipping {e}")
            continue
        if doc:
            lr_docs.append(doc)
            for p in lr_find(doc, a.out, formats)[0]:
                print(p)
    lr_files = {os.path.abspath(d["_file"]) for d in lr_docs}
    rest = [p for p in a.results if os.path.abspath(p) not in lr_files]
    if lr_docs and all(os.path.exists(p) for p in rest) and not R.find_result_files(rest):
        return  # only lr-find documents (or directories holding nothing else) were given
    runs = R.load_runs_or_exit(rest, "plot.py")
    for exp, rs in sorted(R.group(runs, lambda r: r["experiment"]).items()):
        out = a.out if a.out else os.path.join(R.experiment_dir(rs[0]), "plots")
        if a.out and len({r["experiment"] for r in runs}) > 1:
            out = os.path.join(a.out, exp)
        for p in plot_experiment(rs, out, formats, a.select):
            print(p)


if __name__ == "__main__":
    main()
