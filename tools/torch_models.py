"""The sgdbench model zoo in PyTorch, layer for layer (same names, C,H,W flatten order).

Shared by tools/gen_reference.py (goldens) and tools/compare_pytorch.py (speed side by side).
Needs Debian's python3-torch (run with /usr/bin/python3).
"""
import torch
import torch.nn as nn


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


def _out(shape, layers):
    with torch.no_grad():
        return Net(layers)(torch.zeros(1, *shape)).shape[1:]


def build(name, shape, classes=10, dropout=True):
    """Returns the zoo model `name` for input shape (C, H, W); PyTorch default init."""
    c = shape[0]
    L = []
    if name == "lenet":
        L = [("conv1", nn.Conv2d(c, 6, 5)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
             ("conv2", nn.Conv2d(6, 16, 5)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
             ("flatten", nn.Flatten())]
        n = _out(shape, L)[0]
        L += [("fc1", nn.Linear(n, 120)), ("relu3", nn.ReLU()), ("fc2", nn.Linear(120, 84)),
              ("relu4", nn.ReLU()), ("fc3", nn.Linear(84, classes))]
    elif name == "keras_cifar_cnn":
        L = [("conv1", nn.Conv2d(c, 32, 3)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
             ("conv2", nn.Conv2d(32, 64, 3)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
             ("conv3", nn.Conv2d(64, 64, 3)), ("relu3", nn.ReLU()), ("flatten", nn.Flatten())]
        n = _out(shape, L)[0]
        L += [("dense1", nn.Linear(n, 64)), ("relu4", nn.ReLU()), ("dense2", nn.Linear(64, classes))]
    elif name == "keras_mnist_mlp":
        n = shape[0] * shape[1] * shape[2]
        L = [("flatten", nn.Flatten()), ("dense1", nn.Linear(n, 128)), ("relu1", nn.ReLU()),
             ("dropout", nn.Dropout(0.2 if dropout else 0.0)), ("dense2", nn.Linear(128, classes))]
    elif name == "keras_mnist_cnn":
        L = [("conv1", nn.Conv2d(c, 32, 3)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
             ("flatten", nn.Flatten())]
        n = _out(shape, L)[0]
        L += [("dense1", nn.Linear(n, 128)), ("relu2", nn.ReLU()), ("dense2", nn.Linear(128, classes))]
    else:
        raise ValueError(f"unknown model {name}")
    return Net(L)
