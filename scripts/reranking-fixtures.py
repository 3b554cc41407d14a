#!/usr/bin/env python3
"""Writes the reference outputs of k-reciprocal re-ranking (Zhong et al., CVPR 2017) that
crates/robustcnn/tests/reid.rs compares with eval::rerank: the re_ranking function of the layumi
re-ID baseline (Person_reID_baseline_pytorch, re_ranking.py), which LFM's code builds on, written
out below with NumPy, applied to random L2-normalised features of a few queries and a gallery.
It takes cosine similarities, turns them into 2 - 2 s, squares those, and normalises each column
by its largest value, as that code does. Its argsort is made stable here, so that tied distances
are ordered by index as the Rust code orders them (NumPy's default sort is not stable).
Usage: python3 scripts/reranking-fixtures.py > crates/robustcnn/tests/fixtures/reranking.json
"""
import json

import numpy as np


def re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3):
    original_dist = np.concatenate(
        [np.concatenate([q_q_dist, q_g_dist], axis=1), np.concatenate([q_g_dist.T, g_g_dist], axis=1)], axis=0
    )
    original_dist = 2.0 - 2 * original_dist
    original_dist = np.power(original_dist, 2).astype(np.float32)
    original_dist = np.transpose(1.0 * original_dist / np.max(original_dist, axis=0))
    V = np.zeros_like(original_dist).astype(np.float32)
    initial_rank = np.argsort(original_dist, kind="stable").astype(np.int32)
    query_num = q_g_dist.shape[0]
    all_num = q_g_dist.shape[0] + q_g_dist.shape[1]
    for i in range(all_num):
        forward = initial_rank[i, : k1 + 1]
        backward = initial_rank[forward, : k1 + 1]
        fi = np.where(backward == i)[0]
        k_reciprocal = forward[fi]
        expansion = k_reciprocal
        for j in range(len(k_reciprocal)):
            candidate = k_reciprocal[j]
            half = int(np.around(k1 / 2.0)) + 1
            c_forward = initial_rank[candidate, :half]
            c_backward = initial_rank[c_forward, :half]
            fi_c = np.where(c_backward == candidate)[0]
            c_reciprocal = c_forward[fi_c]
            if len(np.intersect1d(c_reciprocal, k_reciprocal)) > 2.0 / 3 * len(c_reciprocal):
                expansion = np.append(expansion, c_reciprocal)
        expansion = np.unique(expansion)
        weight = np.exp(-original_dist[i, expansion])
        V[i, expansion] = 1.0 * weight / np.sum(weight)
    original_dist = original_dist[:query_num,]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=np.float32)
        for i in range(all_num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe
    inv_index = [np.where(V[:, i] != 0)[0] for i in range(all_num)]
    jaccard_dist = np.zeros_like(original_dist, dtype=np.float32)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, all_num], dtype=np.float32)
        non_zero = np.where(V[i, :] != 0)[0]
        images = [inv_index[ind] for ind in non_zero]
        for j in range(len(non_zero)):
            temp_min[0, images[j]] = temp_min[0, images[j]] + np.minimum(V[i, non_zero[j]], V[images[j], non_zero[j]])
        jaccard_dist[i] = 1 - temp_min / (2.0 - temp_min)
    final_dist = jaccard_dist * (1 - lambda_value) + original_dist * lambda_value
    return final_dist[:query_num, query_num:]


rng = np.random.default_rng(0)
cases = []
for nq, ng, dim, k1, k2, lam in [(3, 12, 8, 4, 2, 0.3), (5, 30, 16, 20, 6, 0.3), (4, 25, 6, 6, 1, 0.5)]:
    # People as clusters, so that neighbourhoods mean something.
    centres = rng.normal(size=(6, dim))
    people = rng.integers(0, 6, size=nq + ng)
    f = centres[people] + 0.6 * rng.normal(size=(nq + ng, dim))
    f = (f / np.linalg.norm(f, axis=1, keepdims=True)).astype(np.float32)
    q, g = f[:nq], f[nq:]
    out = re_ranking(q @ g.T, q @ q.T, g @ g.T, k1=k1, k2=k2, lambda_value=lam)
    cases.append({"queries": nq, "gallery": ng, "dim": dim, "k1": k1, "k2": k2, "lambda": lam,
                  "features": f.flatten().tolist(), "final_dist": out.flatten().astype(float).tolist()})
print(json.dumps({"source": "scripts/reranking-fixtures.py", "cases": cases}))
