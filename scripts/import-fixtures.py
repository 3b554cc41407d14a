#!/usr/bin/env python3
"""Writes the fixtures of crates/cli/tests/import.rs and crates/robustcnn/tests/import_names.rs:

- wrn16_2_robustbench.safetensors: RobustBench's own WideResNet-16-2 (random weights and batch-norm
  statistics, stored in float16 to stay small), and wrn16_2_io.safetensors: 8 images and the
  logits RobustBench's module gives on them with those weights (computed in float32);
- wrn16_2_partial.pt: torch.save of a checkpoint dict {"state_dict": its first tensors and CIFAR-10
  mu/sigma buffers under DataParallel's "module." names, "epoch": 3}, as training scripts save them;
- names.json: every state-dict name and shape of torchvision's resnet18/resnet50, timm's
  resnet18/resnet50 and RobustBench's WideResNet-28-10 and PreActResNet-18;
- resnet_io.safetensors: 2 images and the logits torchvision's resnet18 and resnet50 and timm's
  resnet50 give on them (behind ImageNet's mean/std) with patterned weights: every tensor is filled
  by `patterned` below, a formula the Rust test recomputes bit for bit, so full-size weights need
  no fixture file;
- small_cnn_scripted.pt: a small Fashion-MNIST CNN (batch norm, normalisation inside) exported with
  torch.jit.script, and small_cnn_io.safetensors: 8 images, its logits in eval mode and the input
  gradient of the summed cross-entropy against labels 0..7.
Usage: pip install torch torchvision timm safetensors git+https://github.com/RobustBench/robustbench
       python3 scripts/import-fixtures.py crates/robustcnn/tests/fixtures/import
"""
import importlib.util
import json
import os
import sys

import numpy as np
import timm
import torch
import torchvision
from safetensors.torch import save_file


def robustbench_module(name):
    """robustbench.model_zoo.architectures.NAME, loaded without the package's heavy __init__."""
    root = os.path.dirname(importlib.util.find_spec("robustbench").origin)
    path = os.path.join(root, "model_zoo", "architectures", name + ".py")
    spec = importlib.util.spec_from_file_location("rb_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PHI = 0.6180339887498949
SQRT2 = 1.4142135623730951


def patterned(k, name, shape):
    """Tensor k of a state dict: u_i = frac((i + 1) * PHI + k * SQRT2) in float64, scaled by kind
    (crates/robustcnn/tests/import.rs computes the same)."""
    n = int(np.prod(shape)) if shape else 1
    u = ((np.arange(n, dtype=np.float64) + 1.0) * PHI + k * SQRT2) % 1.0
    if name.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    if name.endswith("running_var"):
        v = 0.5 + u
    elif name.endswith("running_mean") or name.endswith("bias"):
        v = (2.0 * u - 1.0) * 0.1
    elif len(shape) == 1:  # a batch norm's weight
        v = 0.25 + 0.5 * u
    else:  # a convolution's or linear layer's weight, uniform with variance 1 / fan-in
        v = (2.0 * u - 1.0) * np.sqrt(3.0 / (n // shape[0]))
    return torch.from_numpy(v.astype(np.float32)).reshape(shape)


def patterned_logits(model, x):
    """The model's logits on x, behind ImageNet's mean/std, with every tensor patterned."""
    state = model.state_dict()
    model.load_state_dict({name: patterned(k, name, list(t.shape)) for k, (name, t) in enumerate(state.items())})
    model.eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        return model((x - mean) / std)


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
wide = robustbench_module("wide_resnet")
model = wide.WideResNet(depth=16, widen_factor=2, num_classes=10)
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
    # The weights as float16 holds them, so that the logits are those of the stored weights.
    for t in model.state_dict().values():
        if t.is_floating_point():
            t.copy_(t.half().float())
model.eval()
# Whole multiples of 1/255, so that the images can be stored as bytes in a CIFAR-10 batch file.
x = torch.randint(0, 256, (8, 3, 32, 32)).float() / 255
with torch.no_grad():
    logits = model(x)
state = model.state_dict()
save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()},
          f"{out}/wrn16_2_robustbench.safetensors")
save_file({"input": x, "logits": logits}, f"{out}/wrn16_2_io.safetensors")
partial = {"module." + k: v for k, v in list(state.items())[:4]}
partial["module.mu"] = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
partial["module.sigma"] = torch.tensor([0.2471, 0.2435, 0.2616]).view(1, 3, 1, 1)
torch.save({"state_dict": partial, "epoch": 3}, f"{out}/wrn16_2_partial.pt")

names = {}
for arch in ["resnet18", "resnet50"]:
    names[f"torchvision/{arch}"] = getattr(torchvision.models, arch)(weights=None).state_dict()
    names[f"timm/{arch}"] = timm.create_model(arch, pretrained=False).state_dict()
names["robustbench/wrn-28-10"] = wide.WideResNet(depth=28, widen_factor=10).state_dict()
resnet = robustbench_module("resnet")
# The layout of Rice et al. 2020 (RobustBench's Rice2020OverfittingNetL2 without its mu/sigma).
names["robustbench/preact-resnet18"] = resnet.PreActResNet(resnet.PreActBlockV2, [2, 2, 2, 2], bn_before_fc=True).state_dict()
shapes = {k: [[n, list(t.shape)] for n, t in sd.items()] for k, sd in names.items()}
with open(f"{out}/names.json", "w") as f:
    json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__,
               "models": shapes}, f)

torch.manual_seed(1)
x = torch.randint(0, 256, (2, 3, 64, 64)).float() / 255
io = {"input": x}
for arch in ["resnet18", "resnet50"]:
    io[f"torchvision/{arch}"] = patterned_logits(getattr(torchvision.models, arch)(weights=None), x)
io["timm/resnet50"] = patterned_logits(timm.create_model("resnet50", pretrained=False), x)
save_file(io, f"{out}/resnet_io.safetensors")


class SmallCnn(torch.nn.Module):
    """1x28x28 images in [0, 1] to 10 logits, normalising them itself."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(0.2860))
        self.register_buffer("std", torch.tensor(0.3530))
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 32, 3, stride=2, padding=1), torch.nn.ReLU())
        self.fc = torch.nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features((x - self.mean) / self.std), 1))


torch.manual_seed(2)
cnn = SmallCnn()
with torch.no_grad():
    for m in cnn.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
cnn.eval()
torch.jit.save(torch.jit.script(cnn), f"{out}/small_cnn_scripted.pt")
x = (torch.randint(0, 256, (8, 1, 28, 28)).float() / 255).requires_grad_(True)
logits = cnn(x)
torch.nn.functional.cross_entropy(logits, torch.arange(8), reduction="sum").backward()
save_file({"input": x.detach(), "logits": logits.detach(), "input_grad": x.grad}, f"{out}/small_cnn_io.safetensors")
