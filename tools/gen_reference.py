#!/usr/bin/python3
"""Writes PyTorch goldens for sgdbench's model tests into tests/data/.

For each model (the zoo's models/*.json and tests/data/models/*.json, built by tools/torch_models.py
from the same descriptions the C++ side reads): fixed weights (the model's init from a fixed seed),
a fixed batch and labels; the logits, the mean cross-entropy loss, every parameter gradient, and
the parameters after 3 steps of SGD (lr 0.01, momentum 0.9) on that batch, all in train mode;
for models with batch norm also the running statistics after the 3 steps ("state.<layer>.<name>")
and the eval-mode logits then ("eval_logits"). Dropout is disabled.
Files: tests/data/golden_<model>.json (manifest: shapes and offsets) + golden_<model>.bin
(little-endian float32, tensors back to back).

Also golden_optim.{json,bin} on tests/data/models/small_mlp.json (input 1x6x6, 3 classes, 24
samples): torch.optim.LBFGS's parameters after each of 3 steps (closure = full-batch mean loss),
once with line_search_fn="strong_wolfe" (lr 1, max_iter 8, history 5) and once without (lr 0.2,
max_iter 4); and torch.nn.utils.clip_grad_norm_ (max_norm = half the gradient's norm) and
clip_grad_value_ (0.02) applied to the gradient at the initial parameters.

Usage: /usr/bin/python3 tools/gen_reference.py [--out tests/data]
Needs Debian's python3-torch (tools/setup.sh --with-torch). Tests never need PyTorch.
"""
import argparse
import json
import os
import sys

try:
    import torch
except ImportError:
    sys.exit("gen_reference.py: PyTorch not found; install Debian's python3-torch "
             "(tools/setup.sh --with-torch) and run with /usr/bin/python3")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
# Model (zoo name or description file), input shape (smaller than the tutorial's where the
# weights would be large), batch.
CASES = [
    ("lenet", (3, 32, 32), 8),
    ("keras_cifar_cnn", (3, 20, 20), 8),
    ("keras_mnist_mlp", (1, 14, 14), 8),
    ("keras_mnist_cnn", (1, 10, 10), 8),
    ("fmnist_2conv", (1, 8, 8), 8),
    (os.path.join(TESTS, "models", "bn_small.json"), (3, 12, 12), 8),
]
LR, MOMENTUM, STEPS = 0.01, 0.9, 3


def write_golden(path_base, manifest, tensors):
    manifest["tensors"] = {}
    blob = bytearray()
    for k, t in tensors.items():
        a = t.float().contiguous().numpy().astype("<f4")
        manifest["tensors"][k] = {"shape": list(t.shape), "offset": len(blob) // 4, "count": int(a.size)}
        blob += a.tobytes()
    with open(path_base + ".bin", "wb") as f:
        f.write(blob)
    with open(path_base + ".json", "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{path_base}: {len(blob) // 4} floats")


LBFGS_RUNS = [("wolfe", dict(lr=1.0, max_iter=8, history_size=5, line_search_fn="strong_wolfe")),
              ("fixed", dict(lr=0.2, max_iter=4, history_size=5, line_search_fn=None))]
LBFGS_STEPS, CLIP_VALUE = 3, 0.02


def optim_golden(out):
    """L-BFGS iterates and clipped gradients on small_mlp (see the module docstring)."""
    shape, batch, classes = (1, 6, 6), 24, 3
    torch.manual_seed(99)
    desc = torch_models.load(os.path.join(TESTS, "models", "small_mlp.json"))
    x = torch.rand(batch, *shape, dtype=torch.float64).float().double()
    y = torch.randint(0, classes, (batch,))
    net0 = torch_models.build_from_desc(desc, shape, classes=classes, dropout=False).double()
    with torch.no_grad():
        for p in net0.parameters():
            p.copy_(p.float().double())
    tensors = {"input": x, "labels": y.double()}
    for n, p in net0.named_parameters():
        tensors["param." + n] = p.detach().clone()
    loss = torch.nn.functional.cross_entropy(net0(x), y)
    loss.backward()
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in net0.parameters()))
    max_norm = 0.5 * total.item()
    grads = [p.grad.detach().clone() for p in net0.parameters()]
    torch.nn.utils.clip_grad_norm_(net0.parameters(), max_norm)
    for n, p in net0.named_parameters():
        tensors["clip_norm." + n] = p.grad.detach().clone()
    for p, g in zip(net0.parameters(), grads):
        p.grad.copy_(g)
    torch.nn.utils.clip_grad_value_(net0.parameters(), CLIP_VALUE)
    for n, p in net0.named_parameters():
        tensors["clip_value." + n] = p.grad.detach().clone()
    runs = {}
    for name, kw in LBFGS_RUNS:
        net = torch_models.build_from_desc(desc, shape, classes=classes, dropout=False).double()
        net.load_state_dict(net0.state_dict())
        opt = torch.optim.LBFGS(net.parameters(), **kw)
        evals = [0]

        def closure():
            opt.zero_grad()
            l = torch.nn.functional.cross_entropy(net(x), y)
            l.backward()
            evals[0] += 1
            return l

        losses = []
        for s in range(LBFGS_STEPS):
            losses.append(opt.step(closure).item())
            for n, p in net.named_parameters():
                tensors[f"lbfgs.{name}.{s}.{n}"] = p.detach().clone()
        tensors[f"lbfgs.{name}.losses"] = torch.tensor(losses, dtype=torch.float64)
        runs[name] = dict(kw, steps=LBFGS_STEPS, evaluations=evals[0])
    manifest = {"model": "small_mlp", "model_file": "tests/data/models/small_mlp.json", "input_shape": list(shape),
                "batch": batch, "classes": classes, "clip_norm": max_norm, "clip_value": CLIP_VALUE,
                "grad_norm": total.item(), "lbfgs": runs, "dtype": "float64 reference, stored float32",
                "generator": "tools/gen_reference.py", "torch_version": torch.__version__}
    write_golden(os.path.join(out, "golden_optim"), manifest, tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    for model, shape, batch in CASES:
        torch.manual_seed(1234)
        desc = torch_models.load(model)
        name = desc["name"]
        net = torch_models.build_from_desc(desc, shape, dropout=False).double()
        # Round weights and inputs to float32 so both sides start from the same numbers.
        x = torch.rand(batch, *shape, dtype=torch.float64).float().double()
        y = torch.randint(0, 10, (batch,))
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(p.float().double())
        tensors = {"input": x, "labels": y.double()}
        for n, p in net.named_parameters():
            tensors["param." + n] = p.detach().clone()
        logits = net(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        tensors["logits"] = logits.detach()
        tensors["loss"] = loss.detach().reshape(1)
        for n, p in net.named_parameters():
            tensors["grad." + n] = p.grad.detach().clone()
        opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
        losses = []
        for _ in range(STEPS):
            opt.zero_grad()
            l = torch.nn.functional.cross_entropy(net(x), y)
            losses.append(l.item())
            l.backward()
            opt.step()
        tensors["step_losses"] = torch.tensor(losses, dtype=torch.float64)
        for n, p in net.named_parameters():
            tensors["after." + n] = p.detach().clone()
        for n, b in net.named_buffers():
            if n.endswith("running_mean") or n.endswith("running_var"):
                tensors["state." + n] = b.detach().clone()
        if any(k.startswith("state.") for k in tensors):
            with torch.no_grad():
                tensors["eval_logits"] = net.eval()(x).detach()

        manifest = {"model": name, "model_file": os.path.relpath(model, os.path.join(TESTS, "..", "..")) if
                    os.sep in model else f"models/{model}.json", "input_shape": list(shape), "batch": batch, "classes": 10,
                    "lr": LR, "momentum": MOMENTUM, "steps": STEPS, "dtype": "float64 reference, stored float32",
                    "generator": "tools/gen_reference.py", "torch_version": torch.__version__}
        write_golden(os.path.join(args.out, f"golden_{name}"), manifest, tensors)
        print(f"  loss {loss.item():.6f}")
    optim_golden(args.out)


if __name__ == "__main__":
    main()
