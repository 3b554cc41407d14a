#!/usr/bin/env python3
"""Writes the reference outputs of FAB's box-constrained hyperplane projections that
crates/robustcnn/tests/fab.rs compares with attacks::fab_projection: AutoAttack's own
projection_linf and projection_l2 on random rows of several widths, with offsets from tiny (the
hyperplane is reachable inside the box) to huge (it is not, and the step saturates at the box).
Usage: pip install torch git+https://github.com/fra31/auto-attack
       python3 scripts/fab-projection-fixtures.py > crates/robustcnn/tests/fixtures/fab_projections.json
"""
import json
import sys

import torch
from autoattack.fab_projections import projection_l2, projection_linf

torch.manual_seed(0)
cases = {"linf": [], "l2": []}
for dims in [3, 7, 16, 40]:
    for scale in [0.01, 0.1, 1.0, 3.0, 30.0]:
        rows = 6
        t = torch.rand(rows, dims)
        t[0, 0] = 0.0  # a coordinate on each face of the box
        t[1, -1] = 1.0
        w = torch.randn(rows, dims)
        w[torch.rand(rows, dims) < 0.2] = 0.0  # coordinates the hyperplane ignores
        b = (w * t).sum(1) + scale * torch.randn(rows)
        for norm, project in [("linf", projection_linf), ("l2", projection_l2)]:
            d = project(t.clone(), w.clone(), b.clone())
            cases[norm].append({"t": t.tolist(), "w": w.tolist(), "b": b.tolist(), "d": d.tolist()})
json.dump({"torch": torch.__version__, "cases": cases}, sys.stdout)
