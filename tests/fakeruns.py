"""Hand-built sgdbench result dicts for the tool tests (test_stats.py, test_tools.py): only the
fields plot.py and report.py read, with histories that may carry noise_scale and grad_norms
points (results/schema.json) whose values the tests choose, so the tests can work out by hand
what the tools should print. Not a test file itself.
"""
import json
import os


def run(lr, seed, status="completed", final=0.8, best=None, steps=None, label="m", batch=32, momentum=0.0,
        seconds=None, optimizer="sgd", history=None):
    """A minimal result dict with what the tools read. Like real files, a diverged run keeps the
    accuracies of its last logged point (and may have reached the target before diverging)."""
    reached = steps is not None
    opt = {"name": optimizer, "momentum": momentum} if optimizer == "sgd" else {"name": optimizer}
    return {
        "schema_version": 2, "run_id": "0" * 16, "experiment": "fx",
        "spec_file": "fx.json", "status": status,
        "config": {"label": label, "model_name": "mlp", "model": {"name": "mlp"}, "batch_size": batch, "lr": lr,
                   "seed": seed, "target_acc": 0.8, "optimizer": opt},
        "provenance": {"threads": 1}, "data": {"train": 1000},
        "history": history or [_point(0)],
        "summary": {"final_test_acc": final, "best_test_acc": best or final,
                    "target_reached": reached, "steps_to_target": steps,
                    "samples_to_target": steps * (1000 if batch == "full" else batch) if reached else None,
                    "seconds_to_target": (seconds or 0.001 * steps) if reached else None,
                    "epochs_to_target": None, "steps": steps or 100, "train_seconds": 0.001 * (steps or 100),
                    "images_per_second": 1000.0},
    }


def _point(step, **extra):
    return {"kind": "interval", "step": step, "epoch": step / 10, "samples": 32 * step, "train_seconds": 0.001 * step,
            "eval_seconds": 0.0, "lr": 0.1, "train_loss": None if step == 0 else 1.0 / (1 + step),
            "test_loss": 1.0, "test_acc": 0.5, **extra}


def noise_history(b_simple, every=10, small=32, big=256):
    """Step 0 without a measurement (noise_scale null), then one point per value of b_simple at
    steps every, 2 every, ...: a value v gives tr(Sigma) = v and |G|^2 = 1; None gives an
    undefined B_simple (|G|^2 = -0.5, tr(Sigma) = 100), as sgdbench writes it."""
    h = [_point(0, noise_scale=None)]
    for i, v in enumerate(b_simple, start=1):
        g, tr = (1.0, float(v)) if v is not None else (-0.5, 100.0)
        h.append(_point(i * every, noise_scale={"b_simple": v, "grad_sq": g, "trace_cov": tr, "measurements": i,
                                                "small": small, "big": big}))
    return h


def grad_history(grad_total, weight_total, params=("dense1.weight", "dense1.bias"), clip_before=None):
    """Step 0 with weights only, then one point per (gradient, weight) global norm at steps 1, 2,
    ...; each parameter's norms are the global ones / sqrt(len(params)) (so they add up). With
    clip_before (a list beside grad_total), also norm_before_clip and clip_scale = grad/before."""
    def split(total):
        return {"total": total, "params": {p: total / len(params) ** 0.5 for p in params}}
    h = [_point(0, grad_norms={"weights": split(weight_total[0])})]
    for i, (g, w) in enumerate(zip(grad_total, weight_total[1:]), start=1):
        gn = {"weights": split(w), "grad": split(g)}
        if clip_before:
            gn["norm_before_clip"], gn["clip_scale"] = clip_before[i - 1], g / clip_before[i - 1]
        h.append(_point(i, grad_norms=gn))
    return h


def write_runs(runs, exp_dir):
    """Writes runs as exp_dir/runs/NNN.json (with distinct run ids); returns the runs directory."""
    d = os.path.join(exp_dir, "runs")
    os.makedirs(d, exist_ok=True)
    for i, r in enumerate(runs):
        with open(os.path.join(d, f"{i:03d}.json"), "w") as f:
            json.dump(dict(r, run_id=f"{i:016x}"), f)
    return d
