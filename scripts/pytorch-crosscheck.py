#!/usr/bin/env python3
"""Cross-checks robustcnn against PyTorch (optional; needs torch and safetensors, not part of the tests).

  scripts/pytorch-crosscheck.py load RUN_DIR [IDX_DIR]
      Builds ResNet-20 (option A) as a plain PyTorch module with robustcnn's parameter names, loads
      RUN_DIR/best.safetensors (else model.safetensors) with load_state_dict(strict=True), evaluates the
      Fashion-MNIST test set from IDX_DIR (default Debian's) and prints its accuracy beside
      RUN_DIR/results/clean.json.
  scripts/pytorch-crosscheck.py speed [VARIANTS]
      Times PyTorch's own ResNet-20 training step, inference and input gradient at batch 128 on
      3x32x32 random data with 2 threads, as `robustcnn bench` does, in each variant (comma-separated;
      default all): fp32 (NCHW, PyTorch's default), channels_last, channels_last+bf16 (autocast).
  scripts/pytorch-crosscheck.py attacks
      Times torchattacks' FGSM and PGD-10 (eps 8/255, alpha 2/255, random start) on that ResNet-20 in
      eval mode at batch 128, 2 threads, as `robustcnn bench --attacks` does (needs torchattacks).
"""
import gzip, json, os, struct, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        s = x
        if self.stride != 1 or self.pad:
            s = x[:, :, :: self.stride, :: self.stride]
            s = F.pad(s, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(y + s)


class Normalize(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, c, 1, 1))
        self.register_buffer("std", torch.ones(1, c, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class ResNet20(nn.Module):
    def __init__(self, cin=1, classes=10, n=3):
        super().__init__()
        self.normalize = Normalize(cin)
        self.conv1 = nn.Conv2d(cin, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        c = 16
        for i, cout in enumerate([16, 32, 64]):
            blocks = []
            for j in range(n):
                blocks.append(Block(c, cout, 2 if i > 0 and j == 0 else 1))
                c = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(self.normalize(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic == 0x803:
        n, h, w = struct.unpack(">III", data[4:16])
        return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).reshape(n, 1, h, w)
    return torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).long()


def load(run, idx_dir):
    from safetensors.torch import load_file

    weights = os.path.join(run, "best.safetensors")
    if not os.path.exists(weights):
        weights = os.path.join(run, "model.safetensors")
    model = ResNet20()
    model.load_state_dict(load_file(weights), strict=True)
    model.eval()
    x = idx(os.path.join(idx_dir, "t10k-images-idx3-ubyte.gz")).float() / 255
    y = idx(os.path.join(idx_dir, "t10k-labels-idx1-ubyte.gz"))
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 500]).argmax(1) for i in range(0, len(x), 500)])
    acc = (pred == y).float().mean().item()
    ours = json.load(open(os.path.join(run, "results", "clean.json")))["top1"]
    print(f"PyTorch, strict load of {weights}: test accuracy {100 * acc:.2f}%; robustcnn: {100 * ours:.2f}%")


def speed():
    torch.set_num_threads(2)
    variants = sys.argv[2].split(",") if len(sys.argv) > 2 else ["fp32", "channels_last", "channels_last+bf16"]
    for variant in variants:
        speed_variant(variant)


def speed_variant(variant):
    """One row: fp32 NCHW (PyTorch's default), channels_last, or channels_last + autocast bf16 (the
    best-practice CPU setup: torch.autocast("cpu", dtype=torch.bfloat16), weights left in fp32)."""
    if variant not in ("fp32", "channels_last", "channels_last+bf16"):
        sys.exit(f"speed: unknown variant {variant} (fp32, channels_last, channels_last+bf16)")
    torch.manual_seed(0)
    last = variant != "fp32"
    fmt = torch.channels_last if last else torch.contiguous_format
    model = ResNet20(cin=3).to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x, y = torch.rand(128, 3, 32, 32).to(memory_format=fmt), torch.randint(0, 10, (128,))
    amp = variant.endswith("+bf16")

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp)

    def timed(f, iters=20):
        for _ in range(3):
            f()
        t = time.perf_counter()
        for _ in range(iters):
            f()
        return iters * 128 / (time.perf_counter() - t)

    def train():
        model.train()
        opt.zero_grad()
        with autocast():
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def infer():
        model.eval()
        with torch.no_grad(), autocast():
            model(x)

    def input_grad():
        model.eval()
        xg = x.clone().requires_grad_(True)
        with autocast():
            loss = F.cross_entropy(model(xg), y)
        torch.autograd.grad(loss, xg)

    print(f"PyTorch {torch.__version__} {variant}, {torch.get_num_threads()} threads, resnet20 batch 128 3x32x32: "
          f"train {timed(train):.1f} img/s, inference {timed(infer):.1f} img/s, input gradient {timed(input_grad):.1f} img/s")


def attacks():
    import torchattacks

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = ResNet20(cin=3).eval()
    x, y = torch.rand(128, 3, 32, 32), torch.randint(0, 10, (128,))
    fgsm = torchattacks.FGSM(model, eps=8 / 255)
    pgd = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True)

    def timed(f, iters, warmup):
        for _ in range(warmup):
            f()
        t = time.perf_counter()
        for _ in range(iters):
            f()
        return iters * 128 / (time.perf_counter() - t)

    print(f"PyTorch {torch.__version__}, torchattacks {torchattacks.__version__}, {torch.get_num_threads()} threads, "
          f"resnet20 batch 128 3x32x32: FGSM {timed(lambda: fgsm(x, y), 20, 3):.1f} img/s, "
          f"PGD-10 {timed(lambda: pgd(x, y), 4, 1):.1f} img/s")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "/usr/share/datasets/fashion-mnist")
    elif len(sys.argv) in (2, 3) and sys.argv[1] == "speed":
        speed()
    elif len(sys.argv) == 2 and sys.argv[1] == "attacks":
        attacks()
    else:
        sys.exit(__doc__)
