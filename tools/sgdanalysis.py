"""The analyses that plot.py and report.py share: each method at its best learning rate with
bootstrap intervals, pairwise comparisons, tuning-budget curves, the batch-size scaling fit, the
gradient noise scale B_simple (history "noise_scale") and gradient/weight norms (history
"grad_norms"). Joins sgdresults (runs, the best-lr rule) and sgdstats (numbers); draws and
writes nothing.
"""
import itertools
import math

import sgdresults as R
import sgdstats as S

TO_TARGET = ("steps_to_target", "samples_to_target", "seconds_to_target")


def _mean(values):
    v = [x for x in values if x is not None]
    return sum(v) / len(v) if v else None


def mean_ci(values):
    """(mean, (lo, hi) 95% bootstrap interval, count) of the non-None values."""
    v = [x for x in values if x is not None]
    return _mean(v), S.bootstrap_ci(v), len(v)


def best_runs(runs_of_method, criterion):
    """A method at its best learning rate, with mean and 95% bootstrap CI over seeds of final and
    best test accuracy and of steps/samples/seconds to target (over the seeds that reached it)."""
    lr, rs = R.select_best_lr(runs_of_method, criterion)
    out = {"lr": lr, "runs": rs, "seeds": len(rs)}
    if rs:
        out["final"] = mean_ci([r["summary"].get("final_test_acc") for r in rs])
        out["best"] = mean_ci([r["summary"].get("best_test_acc") for r in rs])
        for k in TO_TARGET:
            out[k] = mean_ci([r["summary"].get(k) if r["summary"].get("target_reached") else None for r in rs])
    return out


def batch_label(runs):
    b = runs[0]["config"]["batch_size"]
    return "full batch" if b == "full" else f"batch {b}"


def pairwise(runs_of_model, criterion):
    """Each pair of methods run at the same batch size, both at their best learning rate: the
    per-seed values of the criterion compared with sgdstats.compare. Returns a list of dicts with
    the two methods (a, b: label, family, lr, values), the batch and compare()'s numbers."""
    out = []
    by_batch = R.group(runs_of_model, lambda r: R.batch_value(r["config"], r))
    for b in sorted(by_batch):
        methods = R.group(by_batch[b], R.method)
        sides = []
        for label in sorted(methods):
            lr, rs = R.select_best_lr(methods[label], criterion)
            if rs:
                sides.append({"label": label, "family": R.optimizer_family(rs[0]["config"]), "lr": lr,
                              "values": [R.run_score(r, criterion) for r in rs]})
        for a, c in itertools.combinations(sides, 2):
            out.append({"a": a, "b": c, "batch": batch_label(by_batch[b]),
                        **S.compare(a["values"], c["values"])})
    return out


def tuning_scores(run, criterion):
    """A run's score for the tuning-budget curve: test accuracy (best over the history for
    criterion 'best', else final); a diverged or unfinished run scores 0."""
    if run["status"] not in R.FINISHED:
        return 0.0
    v = run["summary"].get("best_test_acc" if criterion == "best" else "final_test_acc")
    return v if v is not None else 0.0


def tuning(runs_of_method, criterion):
    """Tuning-budget curves of one method: for k = 1..K random learning-rate draws from its grid
    (uniform, with replacement), the expected best accuracy and, with a target, the chance that at
    least one draw reached it (the expected best of 0/1 scores); exact per seed, mean over seeds."""
    by_seed = R.group(runs_of_method, lambda r: r["config"]["seed"])
    acc = [[tuning_scores(r, criterion) for r in rs] for rs in by_seed.values()]
    out = {"acc": S.tuning_curve(acc), "grid": max(len(g) for g in acc), "seeds": len(acc)}
    if any(r["config"].get("target_acc", 0) > 0 for r in runs_of_method):
        hit = [[1.0 if (r["status"] in R.FINISHED and r["summary"].get("target_reached")) else 0.0 for r in rs]
               for rs in by_seed.values()]
        out["reach"] = S.tuning_curve(hit)
    return out


def seconds_per_step(runs):
    """t(B): mean measured training seconds per step of the finished runs (any learning rate)."""
    return _mean([r["summary"]["train_seconds"] / r["summary"]["steps"] for r in runs
                  if r["status"] in R.FINISHED and r["summary"].get("steps")])


def batch_scaling(runs_of_model):
    """Per optimizer family run at several batch sizes with a target: per batch size the best
    learning rate by steps to target, its steps of each seed and t(B); the fit of S(B) with
    bootstrap intervals over seeds; T(B) = S(B) t(B) from the fit at the measured batch sizes and
    its minimiser. Returns {family: dict}; fit is None with fewer than two batch sizes that
    reached the target, or when the steps do not fall with the batch size."""
    runs = [r for r in runs_of_model if r["config"].get("target_acc", 0) > 0]
    out = {}
    for fam, rs in sorted(R.group(runs, lambda r: R.optimizer_family(r["config"])).items()):
        by_b = R.group(rs, lambda r: R.batch_value(r["config"], r))
        points = []
        for b in sorted(by_b):
            lr, best = R.select_best_lr(by_b[b], "steps_to_target")
            p = {"B": b, "full": by_b[b][0]["config"]["batch_size"] == "full", "lr": lr,
                 "t": seconds_per_step(by_b[b]), "steps": [r["summary"]["steps_to_target"] for r in best]}
            for k in TO_TARGET:
                p[k] = _mean([r["summary"][k] for r in best])
            points.append(p)
        used = [p for p in points if p["steps"]]
        fit = S.fit_batch_scaling_bootstrap({p["B"]: p["steps"] for p in used}) if len(used) >= 2 else None
        res = {"points": points, "fit": fit, "target": rs[0]["config"]["target_acc"]}
        timed = [p for p in used if p["t"]]
        if fit and timed:
            fitted = S.scaling_curve([p["B"] for p in timed], fit["s_min"], fit["b_crit"])
            T, b_opt = S.time_to_target([p["B"] for p in timed], fitted, [p["t"] for p in timed])
            for p, t_fit in zip(timed, T):
                p["T_fit"] = float(t_fit)
            res["b_opt"] = b_opt
            res["b_opt_measured"] = S.time_to_target([p["B"] for p in timed],
                                                     [p["steps_to_target"] for p in timed],
                                                     [p["t"] for p in timed])[1]
        out[fam] = res
    return out


def has_noise_scale(runs):
    return any(h.get("noise_scale") for r in runs for h in r["history"])


def has_grad_norms(runs):
    return any("grad_norms" in h for r in runs for h in r["history"])


def last_noise_scale(run):
    """A run's noise-scale estimates at its last logged point, or None when it logged none:
    b_simple (None where the |G|^2 estimate was <= 0 there), grad_sq, trace_cov, step, and the
    last defined b_simple with its step (last_defined, last_defined_step; None if never)."""
    points = [h for h in run["history"] if "noise_scale" in h]
    if not any(h["noise_scale"] for h in points):
        return None
    last = points[-1]
    ns = last["noise_scale"] or {}
    defined = [h for h in points if h["noise_scale"] and h["noise_scale"].get("b_simple") is not None]
    return {"b_simple": ns.get("b_simple"), "grad_sq": ns.get("grad_sq"), "trace_cov": ns.get("trace_cov"),
            "step": last["step"], "last_defined": defined[-1]["noise_scale"]["b_simple"] if defined else None,
            "last_defined_step": defined[-1]["step"] if defined else None}


def noise_scale(runs_of_model, criterion):
    """Per method (sorted by batch size, then label) whose runs logged the noise scale: its best
    learning rate by `criterion` (R.select_best_lr) and over those runs (one per seed) B_simple at
    the last logged point as mean_ci (its count: the runs where it is defined), the means of the
    |G|^2 and tr(Sigma) estimates there, and the mean last defined B_simple with its steps."""
    rows = []
    methods = R.group([r for r in runs_of_model if has_noise_scale([r])], R.method)
    for label in sorted(methods, key=lambda l: (R.batch_value(methods[l][0]["config"], methods[l][0]), l)):
        lr, rs = R.select_best_lr(methods[label], criterion)
        last = [last_noise_scale(r) for r in rs]
        last = [x for x in last if x]
        row = {"label": label, "family": R.optimizer_family(methods[label][0]["config"]), "lr": lr,
               "batch": str(methods[label][0]["config"]["batch_size"]), "runs": len(rs), "logged": len(last)}
        if last:
            row["b_simple"] = mean_ci([x["b_simple"] for x in last])
            row["grad_sq"] = _mean([x["grad_sq"] for x in last])
            row["trace_cov"] = _mean([x["trace_cov"] for x in last])
            row["last_defined"] = mean_ci([x["last_defined"] for x in last])
            row["last_defined_steps"] = sorted({x["last_defined_step"] for x in last if x["last_defined_step"] is not None})
        rows.append(row)
    return rows


def family_b_simple(runs_of_model, criterion):
    """Per optimizer family: B_simple at the last logged point of the runs at each batch size's
    best learning rate by `criterion`, pooled over batch sizes and seeds: {family: {"mean", "ci",
    "n" (runs where it is defined), "runs" (runs that logged the noise scale)}}; families whose
    chosen runs logged none are left out."""
    out = {}
    for fam, rs in sorted(R.group(runs_of_model, lambda r: R.optimizer_family(r["config"])).items()):
        values = []
        for b, rb in R.group(rs, lambda r: R.batch_value(r["config"], r)).items():
            values += [x for x in (last_noise_scale(r) for r in R.select_best_lr(rb, criterion)[1]) if x]
        if values:
            m, ci, n = mean_ci([x["b_simple"] for x in values])
            out[fam] = {"mean": m, "ci": ci, "n": n, "runs": len(values)}
    return out


def noise_scale_series(runs, key="b_simple", gaps=False):
    """(steps, mean over runs) of noise_scale[key] at each logged step where a run has it defined
    (points matched by step); with gaps, also the steps where the noise scale was measured but no
    run has key defined, with NaN (a line drawn through them breaks there)."""
    by_step = {}
    for r in runs:
        for h in r["history"]:
            ns = h.get("noise_scale")
            if ns and ns.get(key) is not None:
                by_step.setdefault(h["step"], []).append(ns[key])
            elif ns and gaps:
                by_step.setdefault(h["step"], [])
    steps = sorted(by_step)
    return steps, [sum(by_step[s]) / len(by_step[s]) if by_step[s] else math.nan for s in steps]


def grad_norm_series(runs, part):
    """part "grad" or "weights": {name: (steps, mean over runs)} of the per-parameter L2 norms at
    each logged step that has them, with the global norm under "total" and, for "grad" with
    clipping, the global norm before clipping under "before clipping" (points matched by step)."""
    by = {}
    for r in runs:
        for h in r["history"]:
            g = h.get("grad_norms") or {}
            if part not in g:
                continue
            vals = dict(g[part]["params"], total=g[part]["total"])
            if part == "grad" and "norm_before_clip" in g:
                vals["before clipping"] = g["norm_before_clip"]
            for name, v in vals.items():
                by.setdefault(name, {}).setdefault(h["step"], []).append(v)
    return {name: (sorted(d), [sum(d[s]) / len(d[s]) for s in sorted(d)]) for name, d in by.items()}


def grad_norms(runs_of_model, criterion):
    """Per method (sorted by batch size, then label) whose runs logged grad_norms, at its best
    learning rate by `criterion`: mean_ci over seeds of the global gradient and weight norms at the
    last logged point, the mean over seeds of the largest logged gradient norm, and with clipping
    (clip_scale logged) the logged points where the gradient was clipped (clip_scale < 1)."""
    rows = []
    methods = R.group([r for r in runs_of_model if has_grad_norms([r])], R.method)
    for label in sorted(methods, key=lambda l: (R.batch_value(methods[l][0]["config"], methods[l][0]), l)):
        lr, rs = R.select_best_lr(methods[label], criterion)
        row = {"label": label, "batch": str(methods[label][0]["config"]["batch_size"]), "lr": lr, "seeds": len(rs)}
        pts = [[h["grad_norms"] for h in r["history"] if "grad" in h.get("grad_norms", {})] for r in rs]
        wts = [[h["grad_norms"] for h in r["history"] if "weights" in h.get("grad_norms", {})] for r in rs]
        if rs:
            row["grad"] = mean_ci([p[-1]["grad"]["total"] if p else None for p in pts])
            row["weights"] = mean_ci([w[-1]["weights"]["total"] if w else None for w in wts])
            row["max_grad"] = _mean([max(x["grad"]["total"] for x in p) if p else None for p in pts])
            scaled = [x for p in pts for x in p if "clip_scale" in x]
            if scaled:
                row["clipped"] = (sum(x["clip_scale"] < 1 for x in scaled), len(scaled))
        rows.append(row)
    return rows


def fmt_ci(m, ci, pct=False, digits=2):
    """'mean [lo, hi]' (percent when pct); the interval is left out for a single value."""
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "–"
    f = (lambda v: f"{100 * v:.{digits}f}") if pct else (lambda v: f"{v:.{digits}f}")
    if not ci or ci[0] == ci[1]:
        return f(m)
    return f"{f(m)} [{f(ci[0])}, {f(ci[1])}]"
