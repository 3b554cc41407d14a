#!/usr/bin/env python3
"""Cross-checks robustcnn against PyTorch (optional; needs torch and safetensors, not part of the tests).

  scripts/pytorch-crosscheck.py load RUN_DIR [IDX_DIR]
      Builds ResNet-20 (option A) as a plain PyTorch module with robustcnn's parameter names, loads
      RUN_DIR/best.safetensors (else model.safetensors) with load_state_dict(strict=True), evaluates the
      Fashion-MNIST test set from IDX_DIR (default Debian's) and prints its accuracy beside
      RUN_DIR/results/clean.json.
  scripts/pytorch-crosscheck.py speed [VARIANTS] [--device cuda]
      Times PyTorch's own ResNet-20 training step, inference and input gradient at batch 128 on
      3x32x32 random data, as `robustcnn bench` does, in each variant (comma-separated; default all):
      fp32 (NCHW, PyTorch's default), channels_last, channels_last+bf16 (autocast), and on CUDA
      channels_last+fp16 (autocast with a GradScaler). On the CPU with 2 threads; on CUDA it also
      times PGD-10 (as `robustcnn bench --attacks`) and synchronises before reading the clock.
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
    args = sys.argv[2:]
    device = "cpu"
    if "--device" in args:
        i = args.index("--device")
        if i + 1 >= len(args):
            sys.exit("speed: --device needs a value (cpu or cuda)")
        device = args[i + 1]
        del args[i : i + 2]
    if device != "cpu" and not torch.cuda.is_available():
        sys.exit(f"speed: --device {device}, but this PyTorch sees no CUDA device")
    if device == "cpu":
        torch.set_num_threads(2)
    default = ["fp32", "channels_last", "channels_last+bf16"] + (["channels_last+fp16"] if device != "cpu" else [])
    for variant in args[0].split(",") if args else default:
        speed_variant(variant, device)


def speed_variant(variant, device):
    """One row: fp32 NCHW (PyTorch's default), channels_last, or channels_last + autocast in bf16 or
    fp16 (the best-practice setup: torch.autocast(device, dtype=...), weights left in fp32; fp16 with
    torch.amp.GradScaler, CUDA only)."""
    if variant not in ("fp32", "channels_last", "channels_last+bf16", "channels_last+fp16"):
        sys.exit(f"speed: unknown variant {variant} (fp32, channels_last, channels_last+bf16, channels_last+fp16)")
    if variant.endswith("+fp16") and device == "cpu":
        sys.exit("speed: channels_last+fp16 is for CUDA (--device cuda)")
    torch.manual_seed(0)
    cuda = device != "cpu"
    last = variant != "fp32"
    fmt = torch.channels_last if last else torch.contiguous_format
    model = ResNet20(cin=3).to(device).to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.rand(128, 3, 32, 32, device=device).to(memory_format=fmt)
    y = torch.randint(0, 10, (128,), device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(variant.split("+")[-1])
    scaler = torch.amp.GradScaler(device, enabled=dtype == torch.float16)

    def autocast():
        return torch.autocast(device.split(":")[0], dtype=dtype or torch.float32, enabled=dtype is not None)

    def timed(f, iters=20):
        for _ in range(3):
            f()
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(iters):
            f()
        if cuda:
            torch.cuda.synchronize()
        return iters * 128 / (time.perf_counter() - t)

    def train():
        model.train()
        opt.zero_grad()
        with autocast():
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

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

    def pgd10():
        # torchattacks' PGD: random start in the ε-ball, 10 signed steps of α, projection, [0, 1].
        model.eval()
        eps, alpha = 8 / 255, 2 / 255
        adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(10):
            adv.requires_grad_(True)
            with autocast():
                loss = F.cross_entropy(model(adv), y)
            (g,) = torch.autograd.grad(loss, adv)
            adv = (x + (adv.detach() + alpha * g.sign() - x).clamp(-eps, eps)).clamp(0, 1)

    where = f"{torch.cuda.get_device_name(device)}" if cuda else f"{torch.get_num_threads()} threads"
    iters = 100 if cuda else 20
    row = (f"PyTorch {torch.__version__} {variant}, {where}, resnet20 batch 128 3x32x32: "
           f"train {timed(train, iters):.1f} img/s, inference {timed(infer, iters):.1f} img/s, "
           f"input gradient {timed(input_grad, iters):.1f} img/s")
    if cuda:
        row += f", PGD-10 {timed(pgd10, iters // 5):.1f} img/s"
    print(row)


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
    elif len(sys.argv) >= 2 and sys.argv[1] == "speed":
        speed()
    elif len(sys.argv) == 2 and sys.argv[1] == "attacks":
        attacks()
    else:
        sys.exit(__doc__)
