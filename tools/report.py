#!/usr/bin/python3
"""Writes results/<experiment>/REPORT.md: what was run (spec, provenance, data), a table per model
of every method and learning rate (mean ± std over seeds), each method at its best learning rate
with 95% bootstrap intervals, pairwise tests, tuning budget, the batch-size fit, and, when the
runs logged them, the gradient noise scale B_simple (section "Gradient noise scale", compared
with the fit's B_crit) and the final gradient and weight norms ("Gradient and weight norms"),
then the plots (made by plot.py). The numbers come from sgdanalysis.py; this file only formats them.

Usage: /usr/bin/python3 tools/report.py RESULTS [RESULTS ...] [--no-plots]
                                        [--select final|best|steps_to_target]

RESULTS: a results root, an experiment directory or a runs directory. One REPORT.md per
experiment, next to its runs/ directory. Malformed result files are reported and skipped.
"""
import argparse
import datetime
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgdanalysis as A  # noqa: E402
import sgdresults as R  # noqa: E402
import sgdstats as S  # noqa: E402


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


CRITERION_TEXT = {"final": "highest mean final test accuracy", "best": "highest mean best test accuracy",
                  "steps_to_target": "fewest mean steps to target"}


def _target(runs):
    return max((r["config"].get("target_acc", 0) for r in runs), default=0)


def best_table(runs, criterion):
    """Each method at its best learning rate: mean [95% bootstrap CI] over seeds."""
    t = f"{100 * _target(runs):g}%"
    head = ["method", "batch", "seeds", "best lr", "final test acc (%)", "best test acc (%)"]
    if _target(runs):
        head += [f"steps to {t}", f"samples to {t}", f"train s to {t}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    methods = R.group(runs, R.method)
    for label in sorted(methods, key=lambda l: (R.batch_value(methods[l][0]["config"], methods[l][0]), l)):
        b = A.best_runs(methods[label], criterion)
        cells = [label, str(methods[label][0]["config"]["batch_size"]),
                 str(len({r["config"]["seed"] for r in methods[label]}))]
        if b["lr"] is None:
            lines.append("| " + " | ".join(cells + ["no rate qualifies"] + [""] * (len(head) - 4)) + " |")
            continue
        cells += [f"{b['lr']:g}", A.fmt_ci(*b["final"][:2], pct=True),
                  A.fmt_ci(*b["best"][:2], pct=True)]
        if _target(runs):
            for k, digits in zip(A.TO_TARGET, (0, 0, 2)):
                m, ci, n = b[k]
                cells.append("not reached" if n == 0 else A.fmt_ci(m, ci, digits=digits)
                             + ("" if n == b["seeds"] else f" ({n}/{b['seeds']})"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_sentence(c, criterion, target):
    """'momentum 0.9 reaches 85% in fewer steps than plain SGD at batch 32: 178 vs 316, p = ...'."""
    a, b = c["a"], c["b"]
    names = (a["family"], b["family"]) if a["family"] != b["family"] else (a["label"], b["label"])
    hib = R.higher_is_better(criterion)
    a_first = (c["mean_a"] >= c["mean_b"]) if hib else (c["mean_a"] <= c["mean_b"])
    (w, l), (mw, ml) = (names, (c["mean_a"], c["mean_b"])) if a_first else (names[::-1], (c["mean_b"], c["mean_a"]))
    share = c["cles"] if a_first == hib else 1 - c["cles"]
    if criterion == "steps_to_target":
        d = 0 if min(mw, ml) >= 100 else 1
        what, nums = f"reaches {100 * target:g}% in fewer steps than", f"{mw:.{d}f} vs {ml:.{d}f}"
    else:
        what = "ends at a higher test accuracy than" if criterion == "final" else "reaches a higher best test accuracy than"
        nums = f"{100 * mw:.2f}% vs {100 * ml:.2f}%"
    if mw == ml:
        what = "is level with"
    n = (f"{c['n_a']} seed{'s' if c['n_a'] > 1 else ''} each" if c["n_a"] == c["n_b"]
         else f"{c['n_a']} and {c['n_b']} seeds")
    if min(c["n_a"], c["n_b"]) < 2:
        return f"{w} {what} {l} at {c['batch']}: {nums}, {n} (too few seeds for a test)."
    welch = "" if c["p_welch"] is None else f", Welch p = {c['p_welch']:.2g}"
    return (f"{w} {what} {l} at {c['batch']}: {nums}, p = {c['p_mw']:.2g}, {n} "
            f"(better in {100 * share:.0f}% of seed pairs, rank-biserial {abs(c['rank_biserial']):.2f}{welch}).")


def tuning_table(runs, criterion, key):
    methods = R.group(runs, R.method)
    curves = {label: A.tuning(rs, criterion) for label, rs in methods.items()}
    K = max(len(c["acc"]) for c in curves.values())
    head = ["method", "grid", "seeds"] + [f"k={k}" for k in range(1, K + 1)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in sorted(methods, key=lambda l: (R.batch_value(methods[l][0]["config"], methods[l][0]), l)):
        c = curves[label]
        vals = [f"{100 * v:.1f}" for v in c.get(key, [])]
        lines.append("| " + " | ".join([label, str(c["grid"]), str(c["seeds"])] + vals + [""] * (K - len(vals))) + " |")
    return "\n".join(lines)


def scaling_section(runs):
    """The batch-size fit per optimizer family; [] when no family has two usable batch sizes."""
    data = {f: d for f, d in A.batch_scaling(runs).items() if len([p for p in d["points"] if p["steps"]]) >= 2}
    if not data:
        return []
    t = f"{100 * next(iter(data.values()))['target']:g}%"
    out = ["### Batch-size scaling fit", "",
           f"S(B) = S_min (1 + B_crit / B) fitted by least squares (relative residuals) to the steps to {t} "
           "at each batch size's best learning rate by steps_to_target (seed means; only batch sizes where "
           "every seed reached the target). Intervals: 95% bootstrap over seeds resampled within each "
           "batch size (learning rates fixed). E_min = S_min B_crit samples. Regimes: perfect scaling "
           "below 0.1 B_crit (S within 10% of S_min B_crit / B), maximal data parallelism above 10 B_crit "
           "(S within 10% of S_min), diminishing returns between. Time to target T(B) = S(B) t(B), t(B) = "
           "measured training seconds per step at B (all finished runs); its minimiser is taken over the "
           "measured batch sizes.", "",
           "| optimizer | S_min [95% CI] | B_crit [95% CI] | E_min (samples) | time-optimal B (fit / measured) |",
           "|---|---|---|---|---|"]
    for fam, d in data.items():
        f = d["fit"]
        if not f:
            out.append(f"| {fam} | no fit: steps do not fall with the batch size | | | |")
            continue
        opt = f"{d['b_opt']:g} / {d['b_opt_measured']:g}" if d.get("b_opt") else "–"
        none = "" if f["b_crit_ci"] else " (one seed: no interval)"
        out.append(f"| {fam} | {A.fmt_ci(f['s_min'], f['s_min_ci'], digits=1)}{none} | "
                   f"{A.fmt_ci(f['b_crit'], f['b_crit_ci'], digits=1)}{none} | {f['s_min'] * f['b_crit']:.0f} | {opt} |")
    out.append("")
    for fam, d in data.items():
        f = d["fit"]
        out += [f"{fam}:", "", f"| batch | best lr | seeds | steps to {t} | fit S(B) | regime | ms/step | "
                f"T(B) from fit (s) | measured s to {t} |", "|---|---|---|---|---|---|---|---|---|"]
        for p in d["points"]:
            b = "full" if p["full"] else f"{p['B']:g}"
            if not p["steps"]:
                out.append(f"| {b} | no rate qualifies | | | | | | | |")
                continue
            fit_s, regime = "–", "–"
            if f:
                fit_s = f"{float(S.scaling_curve([p['B']], f['s_min'], f['b_crit'])[0]):.0f}"
                lo, hi = S.regime_bounds(f["b_crit"])
                regime = "perfect scaling" if p["B"] < lo else "max. parallelism" if p["B"] > hi else "diminishing"
            ms = f"{1000 * p['t']:.3g}" if p["t"] else "–"
            tf = f"{p['T_fit']:.3g}" if "T_fit" in p else "–"
            out.append(f"| {b} | {p['lr']:g} | {len(p['steps'])} | {sum(p['steps']) / len(p['steps']):.0f} | {fit_s} | "
                       f"{regime} | {ms} | {tf} | {p['seconds_to_target']:.3g} |")
        out.append("")
    return out


FACTOR_OF_A_FEW = 3  # how far B_crit may be from B_simple and still count as "B_crit ≈ B_simple"


def _digits(m):
    """Decimals for about three significant digits (none from 100 up)."""
    return 0 if not m or abs(m) >= 100 else 1 if abs(m) >= 10 else max(2, 2 - math.floor(math.log10(abs(m))))


def _fmt_sig(m, ci=None):
    return A.fmt_ci(m, ci, digits=_digits(m))


def b_crit_sentence(fam, fit, bs, criterion):
    """'plain SGD: the fitted B_crit 64.0 [..] is 0.40 times the measured B_simple 160 [..] ...'."""
    b_crit = f"B_crit {_fmt_sig(fit['b_crit'], fit['b_crit_ci'])}"
    if bs["mean"] is None:
        return (f"{fam}: the fitted {b_crit}; B_simple is undefined at the last point of all {bs['runs']} "
                "runs, so there is nothing to compare it with.")
    ratio = fit["b_crit"] / bs["mean"]
    close = 1 / FACTOR_OF_A_FEW <= ratio <= FACTOR_OF_A_FEW
    return (f"{fam}: the fitted {b_crit} is {ratio:.2g} times the measured B_simple {_fmt_sig(bs['mean'], bs['ci'])} "
            f"(mean over the {bs['n']} of {bs['runs']} runs where it is defined, each batch size's best lr by "
            f"{criterion}): " + (f"within a factor of {FACTOR_OF_A_FEW}, as McCandlish et al. (2018) predict "
                                 "(B_crit ≈ B_simple up to a factor of a few)." if close else
                                 f"more than a factor of {FACTOR_OF_A_FEW} apart, farther than the factor of a few "
                                 "McCandlish et al. (2018) predict."))


def noise_scale_section(runs, criterion):
    """B_simple at the last logged point per method at its best lr, and B_crit against it; [] when
    no run logged the noise scale."""
    if not A.has_noise_scale(runs):
        return []
    out = ["### Gradient noise scale", "",
           "B_simple = tr(Σ) / |G|² (McCandlish et al. 2018, the gradient noise scale: the batch size at which "
           "the mini-batch gradient's noise equals its signal), as sgdbench estimates it from gradients at two "
           "batch sizes (config noise_scale: small, big) with moving averages. Runs: each method's best "
           f"learning rate by {criterion} (the rule of the best-lr table), one run per seed; B_simple is read "
           "at each run's last logged point. Mean [95% percentile bootstrap interval] over the runs where it "
           "is defined there (defined: k/n); it is undefined where the |G|² estimate is ≤ 0, which happens late "
           "in training when the gradient is small beside its noise. B_simple grows as the loss falls, so the "
           "value at the end of training is larger than earlier in it; the last column gives the last defined "
           "value (mean over runs) and its logged step(s).", "",
           "| method | batch | best lr | runs | B_simple at the last point | defined | ‖G‖² estimate | "
           "tr(Σ) estimate | last defined B_simple (step) |", "|---|---|---|---|---|---|---|---|---|"]
    for row in A.noise_scale(runs, criterion):
        cells = [row["label"], row["batch"]]
        if row["lr"] is None:
            out.append("| " + " | ".join(cells + ["no rate qualifies"] + [""] * 6) + " |")
            continue
        cells += [f"{row['lr']:g}", str(row["runs"])]
        if not row["logged"]:
            out.append("| " + " | ".join(cells + ["not logged"] + [""] * 4) + " |")
            continue
        m, ci, n = row["b_simple"]
        lm, lci, ln = row["last_defined"]
        steps = ", ".join(map(str, row["last_defined_steps"]))
        cells += [_fmt_sig(m, ci), f"{n}/{row['logged']}", _fmt_sig(row["grad_sq"]), _fmt_sig(row["trace_cov"]),
                  "–" if lm is None else f"{_fmt_sig(lm)} (step{'s' if len(row['last_defined_steps']) > 1 else ''} {steps})"]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    fits = {f: d["fit"] for f, d in A.batch_scaling(runs).items() if d["fit"]}
    measured = A.family_b_simple(runs, criterion)
    both = [f for f in fits if f in measured]
    if both:
        out += ["The critical batch size of the batch-size fit against the measured noise scale (pooled over "
                "the family's batch sizes):", ""]
        out += [f"- {b_crit_sentence(f, fits[f], measured[f], criterion)}" for f in both] + [""]
    return out


def grad_norm_section(runs, criterion):
    """Final global gradient and weight norms per method at its best lr; [] when none logged them."""
    rows = A.grad_norms(runs, criterion)
    if not rows:
        return []
    clip = any("clipped" in r for r in rows)
    out = ["### Gradient and weight norms", "",
           f"Global L2 norms at the last logged point, each method at its best learning rate by {criterion}: the "
           "gradient as the update used it (after clipping) and the weights; mean [95% percentile bootstrap "
           "interval] over seeds. Largest: the largest gradient norm at a logged point (mean over seeds); a "
           "gradient that vanishes shows as a final norm orders of magnitude below the largest, one that explodes "
           "as a largest norm far above the rest. Per-parameter curves: the grad_norms plot."
           + (" Clipped: logged points whose gradient was scaled down (clip_scale < 1)." if clip else ""), "",
           "| method | batch | best lr | seeds | final gradient norm | final weight norm | gradient / weight | "
           "largest gradient norm |" + (" clipped |" if clip else ""), "|---|---|---|---|---|---|---|---|" + ("---|" if clip else "")]
    for r in rows:
        cells = [r["label"], r["batch"]]
        if r["lr"] is None:
            out.append("| " + " | ".join(cells + ["no rate qualifies"] + [""] * (4 + clip)) + " |")
            continue
        g, w = r["grad"], r["weights"]
        ratio = "–" if g[0] is None or not w[0] else f"{g[0] / w[0]:.2g}"
        cells += [f"{r['lr']:g}", str(r["seeds"]), _fmt_sig(g[0], g[1]), _fmt_sig(w[0], w[1]), ratio,
                  _fmt_sig(r["max_grad"])]
        if clip:
            cells.append(f"{r['clipped'][0]}/{r['clipped'][1]}" if "clipped" in r else "–")
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def stats_sections(runs, criterion):
    """Markdown lines: best-lr table with CIs, pairwise comparisons, tuning budget, batch-size fit,
    gradient noise scale, gradient and weight norms (the last three when the runs support them)."""
    target = _target(runs)
    out = [f"### Each method at its best learning rate (by {criterion})", "",
           f"Best learning rate: the {CRITERION_TEXT[criterion]} among the rates where every seed finished "
           "(not diverged)" + (" and reached the target" if criterion == "steps_to_target" else "")
           + ". Mean [95% percentile bootstrap interval, 10,000 resamples] over seeds; to-target columns "
           "over the seeds that reached it ((k/n) when not all did).", "", best_table(runs, criterion), ""]
    pairs = A.pairwise(runs, criterion)
    if pairs:
        out += ["### Comparisons at the same batch size", "",
                "Each pair of methods run at the same batch size, each at its best learning rate, compared on "
                f"the selection criterion ({criterion}) over seeds: p is the two-sided Mann-Whitney U test "
                "(with 3 seeds each it cannot go below 0.1, with 5 each 0.008); the effect size is the share of "
                "(seed, seed) pairs in which the first-named method is better (common-language effect size, "
                "ties half) and the rank-biserial correlation (2 share - 1); Welch's t-test p is a second "
                "opinion that assumes normality.", ""]
        out += [f"- {comparison_sentence(c, criterion, target)}" for c in pairs] + [""]
    if any(len({r["config"]["lr"] for r in rs}) > 1 for rs in R.group(runs, R.method).values()):
        acc = "best" if criterion == "best" else "final"
        out += ["### Tuning budget", "",
                f"Expected best {acc} test accuracy (%) after k learning rates drawn at random (uniform, with "
                "replacement) from each method's grid: exact order statistics on each seed's grid, mean over "
                "seeds; a diverged run scores 0.", "", tuning_table(runs, criterion, "acc"), ""]
        if target:
            out += [f"Chance (%) that at least one of k random draws reaches {100 * target:g}%:", "",
                    tuning_table(runs, criterion, "reach"), ""]
    return out + scaling_section(runs) + noise_scale_section(runs, criterion) + grad_norm_section(runs, criterion)


def write_report(runs, exp_dir, plots, criterion="final"):
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
        "images/s is training throughput including batching and the update, excluding evaluation."
        + (" L-BFGS: one step runs several full-batch loss-and-gradient evaluations (up to max_eval, in its "
           "line search) while samples and images/s count one pass over the training set per step, so compare "
           "it with GD by steps and training seconds, not by samples." if any(
               r["config"]["optimizer"]["name"] == "lbfgs" for r in runs) else ""), ""]
    for model, rs in sorted(R.group(runs, R.model_name).items()):
        out += [f"## {model}", "", table(rs), ""] + stats_sections(rs, criterion)
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
    ap.add_argument("--no-plots", action="store_true", help="only the tables (no matplotlib needed; numpy and scipy are)")
    ap.add_argument("--select", choices=R.SELECT_CRITERIA, default="final", help=R.SELECT_HELP + " (default final)")
    a = ap.parse_args()
    runs = R.load_runs_or_exit(a.results, "report.py")
    for exp, rs in sorted(R.group(runs, lambda r: r["experiment"]).items()):
        exp_dir = R.experiment_dir(rs[0])
        plots = []
        if not a.no_plots:
            import plot
            plots = plot.plot_experiment(rs, os.path.join(exp_dir, "plots"), select=a.select)
        print(write_report(rs, exp_dir, plots, a.select))


if __name__ == "__main__":
    main()
