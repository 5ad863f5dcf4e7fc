"""The analyses that plot.py and report.py share: each method at its best learning rate with
bootstrap intervals, pairwise comparisons, tuning-budget curves and the batch-size scaling fit.
Joins sgdresults (runs, the best-lr rule) and sgdstats (numbers); draws and writes nothing.
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


def fmt_ci(m, ci, pct=False, digits=2):
    """'mean [lo, hi]' (percent when pct); the interval is left out for a single value."""
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "–"
    f = (lambda v: f"{100 * v:.{digits}f}") if pct else (lambda v: f"{v:.{digits}f}")
    if not ci or ci[0] == ci[1]:
        return f(m)
    return f"{f(m)} [{f(ci[0])}, {f(ci[1])}]"
