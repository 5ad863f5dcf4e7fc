"""The PyTorch twin of an sgdbench model, built from the same description (models/*.json or a
user's file), layer for layer: same names (parameters 'conv1.weight', ...), C,H,W flatten order.

Shared by tools/gen_reference.py (goldens) and tools/compare_pytorch.py (speed side by side), so
a model is never written twice. Needs Debian's python3-torch (run with /usr/bin/python3).
"""
import json
import os

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "models")


class Net(nn.Module):
    """Sequential net whose parameter names match sgdbench's (e.g. 'conv1.weight')."""

    def __init__(self, layers):
        super().__init__()
        self.order = []
        for name, mod in layers:
            self.add_module(name, mod)
            self.order.append(name)

    def forward(self, x):
        for name in self.order:
            x = getattr(self, name)(x)
        return x


def load(model):
    """A model description: a zoo name (models/<name>.json) or a path to a description file."""
    path = model if (os.sep in model or model.endswith(".json")) else os.path.join(MODELS, model + ".json")
    with open(path) as f:
        d = json.load(f)
    d.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    d.setdefault("init", "pytorch_default")
    return d


def _out(shape, layers):
    net = Net(layers).eval()  # batch 1: batch norm needs eval mode here; build_from_desc resets it
    with torch.no_grad():
        return tuple(net(torch.zeros(1, *shape)).shape[1:])


def build_from_desc(desc, shape, classes=10, dropout=True):
    """The nn.Module for description `desc` on input shape (C, H, W), initialised as its "init" says."""
    L, counts = [], {}
    for entry in desc["layers"]:
        (kind, f), = entry.items()
        f = dict(f or {})
        counts[kind] = counts.get(kind, 0) + 1
        name = f.pop("name", f"{kind}{counts[kind]}")
        cur = _out(shape, L) if L else tuple(shape)
        if kind == "conv":
            k, s, p = f["kernel"], f.get("stride", 1), f.get("padding", 0)
            p = {"same": (k - 1) // 2, "valid": 0}.get(p, p)
            mod = nn.Conv2d(cur[0], f["out"], k, stride=s, padding=p, bias=f.get("bias", True))
        elif kind == "dense":
            out = classes if f["out"] == "classes" else f["out"]
            mod = nn.Linear(cur[0], out, bias=f.get("bias", True))
        elif kind == "relu":
            mod = nn.ReLU()
        elif kind == "max_pool":
            mod = nn.MaxPool2d(f["kernel"], f.get("stride", 0) or f["kernel"])
        elif kind == "avg_pool":
            mod = nn.AvgPool2d(f["kernel"], f.get("stride", 0) or f["kernel"], padding=f.get("padding", 0))
        elif kind == "global_avg_pool":
            mod = nn.AdaptiveAvgPool2d(1)
        elif kind == "dropout":
            mod = nn.Dropout(f.get("rate", 0.5) if dropout else 0.0)
        elif kind == "flatten":
            mod = nn.Flatten()
        elif kind == "batch_norm":
            bn = nn.BatchNorm2d if len(cur) == 3 else nn.BatchNorm1d
            mod = bn(cur[0], eps=f.get("eps", 1e-5), momentum=f.get("momentum", 0.1))
        else:
            raise ValueError(f"{desc['name']}: layer kind '{kind}' has no PyTorch twin in tools/torch_models.py")
        L.append((name, mod))
    net = Net(L).train()  # _out() left the modules in eval mode
    if desc.get("init") == "glorot_uniform":  # Keras: glorot_uniform kernels, zero biases
        for mod in net.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(mod.weight)
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)
    return net


def build(model, shape, classes=10, dropout=True):
    """Returns the model (a zoo name or a description file) for input shape (C, H, W)."""
    return build_from_desc(load(model), shape, classes, dropout)
