//! Data-parallel training on c10d's Gloo group (docs/distributed.md): the launch environment, the
//! epoch's shards, DDP's gradient averaging against one process with the whole batch, ranks that
//! agree bitwise, and rendezvous failures as errors within their timeout.
use robustcnn::config::OptimConfig;
use robustcnn::data::loader::{batch_slice, batches_per_epoch, epoch_order, LoaderSpec};
use robustcnn::dist::{launch, Dist, Launch, Timeouts};
use robustcnn::train::optim::Optimizer;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tch::{nn, nn::Module, nn::ModuleT, Device, Kind, Tensor};

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn local(rank: usize, world: usize, port: u16) -> Launch {
    Launch { rank, world, local_rank: rank, master_addr: "127.0.0.1".into(), master_port: port, launcher: "torchrun" }
}

fn quick(seconds: u64) -> Timeouts {
    Timeouts { rendezvous: Duration::from_secs(seconds), collective: Duration::from_secs(seconds), heartbeat: None }
}

#[test]
fn torchrun_variables_give_the_rank_and_the_master() {
    let l = launch::from_vars(vars(&[
        ("WORLD_SIZE", "4"),
        ("RANK", "3"),
        ("LOCAL_RANK", "1"),
        ("MASTER_ADDR", "node7"),
        ("MASTER_PORT", "29400"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!((l.rank, l.world, l.local_rank, l.master_addr.as_str(), l.master_port), (3, 4, 1, "node7", 29400));
    assert_eq!(launch::from_vars(vars(&[])).unwrap(), None, "nothing set: one process");
    assert_eq!(launch::from_vars(vars(&[("WORLD_SIZE", "1"), ("RANK", "0")])).unwrap(), None, "a world of one");
}

#[test]
fn incomplete_torchrun_variables_are_named() {
    let e = launch::from_vars(vars(&[("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_PORT", "1")])).unwrap_err();
    assert!(e.to_string().contains("WORLD_SIZE is set but MASTER_ADDR is not"), "{e}");
    let e = launch::from_vars(vars(&[("WORLD_SIZE", "2"), ("RANK", "2"), ("MASTER_ADDR", "a"), ("MASTER_PORT", "5")]))
        .unwrap_err();
    assert!(e.to_string().contains("rank 2 is not below the world size 2"), "{e}");
    let e = launch::from_vars(vars(&[("WORLD_SIZE", "two")])).unwrap_err();
    assert!(e.to_string().contains("WORLD_SIZE=two: expected a whole number"), "{e}");
    let e = launch::from_vars(vars(&[("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_ADDR", "a"), ("MASTER_PORT", "0")]))
        .unwrap_err();
    assert!(e.to_string().contains("MASTER_PORT=0"), "{e}");
}

#[test]
fn srun_variables_take_the_first_host_of_the_node_list() {
    let l = launch::from_vars(vars(&[
        ("SLURM_NTASKS", "8"),
        ("SLURM_PROCID", "5"),
        ("SLURM_LOCALID", "1"),
        ("SLURM_STEP_ID", "0"),
        ("SLURM_JOB_NODELIST", "gpu[03-05,09],cpu1"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!((l.rank, l.world, l.local_rank, l.master_addr.as_str()), (5, 8, 1, "gpu03"));
    assert_eq!((l.master_port, l.launcher), (launch::DEFAULT_PORT, "srun"));
    // A batch script (no job step) is one process, not rank 0 of a job that never starts.
    assert_eq!(launch::from_vars(vars(&[("SLURM_NTASKS", "8"), ("SLURM_PROCID", "0")])).unwrap(), None);
    assert_eq!(launch::first_host("node1").unwrap(), "node1");
    assert_eq!(launch::first_host("a,b").unwrap(), "a");
    assert_eq!(launch::first_host("rack[2-3]-n[1-4]").unwrap(), "rack2-n[1-4]");
    assert!(launch::first_host("gpu[x]").is_err());
}

#[test]
fn the_ranks_shards_together_are_the_single_process_epoch() {
    let single = LoaderSpec { shuffle: true, seed: 3, ..LoaderSpec::evaluation(64) };
    let order = epoch_order(1000, &single, 2);
    let sharded = |rank| LoaderSpec { batch_size: 32, shard: Some((rank, 2)), ..single.clone() };
    assert_eq!(batches_per_epoch(1000, &single), batches_per_epoch(1000, &sharded(0)));
    for b in 0..batches_per_epoch(1000, &single) {
        let whole = batch_slice(&order, &single, b);
        let (a, c) = (batch_slice(&order, &sharded(0), b), batch_slice(&order, &sharded(1), b));
        assert_eq!([a, c].concat(), whole, "global batch {b}");
        assert!(a.len().abs_diff(c.len()) <= 1);
    }
    // A last batch smaller than the world is dropped, so no rank steps on nothing.
    let three = |rank| LoaderSpec { batch_size: 4, shard: Some((rank, 3)), ..single.clone() };
    assert_eq!(batches_per_epoch(26, &three(0)), 2);
    assert_eq!(batches_per_epoch(27, &three(0)), 3);
}

/// A batch-norm-free network (DDP with per-rank batch norm is not the single-process run).
fn network(vs: &nn::Path) -> nn::Sequential {
    nn::seq()
        .add(nn::conv2d(vs / "conv", 1, 4, 3, Default::default()))
        .add_fn(|x| x.relu().flatten(1, -1))
        .add(nn::linear(vs / "fc", 4 * 6 * 6, 3, Default::default()))
}

/// With batch norm between the convolution and the classifier (the zoo's, SyncBN-capable).
fn network_bn(vs: &nn::Path) -> nn::SequentialT {
    nn::seq_t()
        .add(nn::conv2d(vs / "conv", 1, 4, 3, Default::default()))
        .add(robustcnn::models::blocks::bn(vs / "bn", 4))
        .add_fn(|x| x.relu().flatten(1, -1))
        .add(nn::linear(vs / "fc", 4 * 6 * 6, 3, Default::default()))
}

/// Step `k`'s 64 images and labels, the same for every caller.
fn batch(k: i64) -> (Tensor, Tensor) {
    let g = Tensor::arange(64 * 64, (Kind::Float, Device::Cpu)).reshape([64, 1, 8, 8]);
    let x = ((&g * (0.37 + 0.11 * k as f64)).sin() + (&g * 0.013).cos()) * 0.5;
    let y = Tensor::arange(64, (Kind::Int64, Device::Cpu)).remainder(3);
    (x, y)
}

/// How a job's ranks average their gradients.
#[derive(Clone, Copy, PartialEq)]
enum Averaging {
    /// During the backward pass, in buckets of 64 then 256 bytes, so that the tiny network has several.
    Overlapped,
    /// After the backward pass.
    After,
}

/// Trains 20 SGD steps on rows `rows` of each batch; returns the flattened weights (and batch-norm
/// buffers) after every step. `bn`: the network with batch norm, under SyncBN on a job's ranks.
fn train(
    init: &[Tensor],
    rows: (i64, i64),
    dist: Option<std::sync::Arc<Dist>>,
    (bn, sync): (bool, bool),
    averaging: Averaging,
) -> Vec<Vec<f32>> {
    let vs = nn::VarStore::new(Device::Cpu);
    let net: Box<dyn Fn(&Tensor) -> Tensor> = if bn {
        let n = network_bn(&vs.root());
        Box::new(move |x| n.forward_t(x, true))
    } else {
        let n = network(&vs.root());
        Box::new(move |x| n.forward(x))
    };
    let _sync = robustcnn::dist::sync_bn::SyncBatchNorm::enter(dist.clone().filter(|_| sync));
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| named.iter().zip(init).for_each(|((_, p), v)| p.shallow_clone().copy_(v)));
    let opt = Optimizer::new(&vs, &OptimConfig { lr: 0.05, ..OptimConfig::default() }).with_dist(dist);
    let mut opt = opt.with_bucket_bytes(64, 256);
    let mut after = Vec::new();
    for k in 0..20 {
        let (x, y) = batch(k);
        let (x, y) = (x.narrow(0, rows.0, rows.1), y.narrow(0, rows.0, rows.1));
        let loss = net(&x).cross_entropy_for_logits(&y);
        opt.zero_grad();
        if averaging == Averaging::Overlapped {
            opt.backward(&loss).unwrap();
        } else {
            loss.backward();
            opt.average_grads().unwrap();
        }
        opt.step(0.05);
        if let (Averaging::Overlapped, Some((buckets, early))) = (averaging, opt.bucket_counts()) {
            assert!(buckets >= 2 && early >= 1, "{early} of {buckets} buckets launched during the backward pass");
        }
        let flat = Tensor::cat(&named.iter().map(|(_, p)| p.detach().reshape([-1])).collect::<Vec<_>>(), 0);
        after.push(Vec::<f32>::try_from(&flat).unwrap());
    }
    after
}

/// Weights after each step of one process with the whole batch, and of each of two ranks with half
/// (`bn`: the network with batch norm, under SyncBN when `sync`).
fn alone_and_on_two_ranks(bn: bool, sync: bool, averaging: Averaging) -> (Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>) {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    if bn {
        let _ = network_bn(&vs.root());
    } else {
        let _ = network(&vs.root());
    }
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let init: Vec<Tensor> = named.iter().map(|(_, t)| t.detach().copy()).collect();
    let single = train(&init, (0, 64), None, (bn, false), averaging);
    let port = free_port();
    let ranks: Vec<_> = (0..2)
        .map(|rank| {
            let init: Vec<Tensor> = init.iter().map(|t| t.copy()).collect();
            std::thread::spawn(move || {
                let d = std::sync::Arc::new(Dist::join(local(rank, 2, port), quick(60)).unwrap());
                let weights = train(&init, (32 * rank as i64, 32), Some(d.clone()), (bn, sync), averaging);
                d.finish().unwrap();
                weights
            })
        })
        .collect();
    (single, ranks.into_iter().map(|h| h.join().unwrap()).collect())
}

fn relative_difference(a: &[f32], b: &[f32]) -> f64 {
    let norm = |v: &mut dyn Iterator<Item = f32>| v.map(|x| (x as f64).powi(2)).sum::<f64>().sqrt();
    norm(&mut a.iter().zip(b).map(|(x, y)| x - y)) / norm(&mut b.iter().copied())
}

#[test]
fn two_ranks_of_32_equal_one_process_of_64_and_agree_bitwise() {
    let (single, per_rank) = alone_and_on_two_ranks(false, false, Averaging::Overlapped);
    for (step, (a, b)) in per_rank[0].iter().zip(&per_rank[1]).enumerate() {
        assert_eq!(a, b, "ranks differ after step {}", step + 1);
    }
    let relative = relative_difference(&per_rank[0][19], &single[19]);
    assert!(relative < 1e-5, "relative difference from one process: {relative}");
    assert_ne!(single[0], single[19], "the weights moved");
    // Two ranks' sum does not depend on the buckets: averaging after the backward pass is bitwise the same.
    let (_, after) = alone_and_on_two_ranks(false, false, Averaging::After);
    assert_eq!(after[0], per_rank[0], "averaging during and after the backward pass differ");
}

#[test]
fn with_syncbn_two_ranks_of_32_equal_one_process_of_64_buffers_included() {
    let (single, per_rank) = alone_and_on_two_ranks(true, true, Averaging::Overlapped);
    for (step, (a, b)) in per_rank[0].iter().zip(&per_rank[1]).enumerate() {
        assert_eq!(a, b, "ranks differ after step {}", step + 1);
    }
    for step in [0, 19] {
        let relative = relative_difference(&per_rank[0][step], &single[step]);
        assert!(relative < 1e-5, "after step {}: relative difference from one process {relative}", step + 1);
    }
    assert_ne!(single[0], single[19], "the weights moved");
    // Per-rank batch norm, DDP's default, is not the single-process run: the test can tell.
    let (single, per_rank) = alone_and_on_two_ranks(true, false, Averaging::Overlapped);
    let relative = relative_difference(&per_rank[0][19], &single[19]);
    assert!(relative > 1e-4, "per-rank batch norm too close to one process: {relative}");
}

/// 32 images of 3 channels around 100 with unit spread, where Σx² − N·μ² would lose the variance
/// to rounding; and a fixed weighting of the outputs, the loss whose input gradient is compared.
fn far_from_zero() -> (Tensor, Tensor) {
    let g = Tensor::arange(32 * 3 * 4 * 4, (Kind::Float, Device::Cpu)).reshape([32, 3, 4, 4]);
    ((&g * 0.731).sin() * 1.3 + 100.0, (&g * 0.173).cos())
}

/// Batch norm in training mode of `x`'s rows `rows`, under SyncBN on `dist` if any: the output, the
/// input gradient of Σ output·r, the affine gradients and the running statistics after the step.
fn batch_norm_step(rows: (i64, i64), dist: Option<std::sync::Arc<Dist>>) -> Vec<Vec<f32>> {
    let (x, r) = far_from_zero();
    let (x, r) = (x.narrow(0, rows.0, rows.1).set_requires_grad(true), r.narrow(0, rows.0, rows.1));
    let vs = nn::VarStore::new(Device::Cpu);
    let norm = robustcnn::models::blocks::bn(vs.root() / "bn", 3);
    tch::no_grad(|| {
        norm.ws.as_ref().unwrap().shallow_clone().copy_(&Tensor::from_slice(&[0.5f32, 1.5, -2.0]));
        norm.bs.as_ref().unwrap().shallow_clone().copy_(&Tensor::from_slice(&[0.1f32, -0.2, 0.3]));
    });
    let _sync = robustcnn::dist::sync_bn::SyncBatchNorm::enter(dist);
    let y = norm.forward_t(&x, true);
    (&y * &r).sum(Kind::Float).backward();
    let flat = |t: &Tensor| Vec::<f32>::try_from(&t.detach().reshape([-1])).unwrap();
    let (w, b) = (norm.ws.as_ref().unwrap(), norm.bs.as_ref().unwrap());
    vec![flat(&y), flat(&x.grad()), flat(&w.grad()), flat(&b.grad()), flat(&norm.running_mean), flat(&norm.running_var)]
}

#[test]
fn syncbn_on_two_ranks_is_batch_norm_on_the_global_batch_far_from_zero_too() {
    let single = batch_norm_step((0, 32), None);
    let port = free_port();
    let ranks: Vec<_> = (0..2)
        .map(|rank| {
            std::thread::spawn(move || {
                let d = std::sync::Arc::new(Dist::join(local(rank, 2, port), quick(60)).unwrap());
                let got = batch_norm_step((16 * rank as i64, 16), Some(d.clone()));
                d.finish().unwrap();
                got
            })
        })
        .collect();
    let per_rank: Vec<Vec<Vec<f32>>> = ranks.into_iter().map(|h| h.join().unwrap()).collect();
    let joined = |i: usize| [per_rank[0][i].clone(), per_rank[1][i].clone()].concat();
    let close = |what: &str, a: &[f32], b: &[f32], tol: f64| {
        let relative = relative_difference(a, b);
        assert!(relative < tol, "{what}: relative difference from one process {relative}");
    };
    close("output", &joined(0), &single[0], 1e-5);
    close("input gradient", &joined(1), &single[1], 1e-4);
    // The affine gradients are each rank's share, which the gradient averaging then averages.
    let summed = |i: usize| per_rank[0][i].iter().zip(&per_rank[1][i]).map(|(a, b)| a + b).collect::<Vec<f32>>();
    close("weight gradient", &summed(2), &single[2], 1e-4);
    close("bias gradient", &summed(3), &single[3], 1e-5);
    for (i, what) in [(4, "running mean"), (5, "running variance")] {
        assert_eq!(per_rank[0][i], per_rank[1][i], "ranks differ in the {what}");
        close(what, &per_rank[0][i], &single[i], 1e-6);
    }
}

#[test]
fn a_rank_that_never_joins_is_an_error_within_the_timeout() {
    let started = Instant::now();
    let e = Dist::join(local(0, 2, free_port()), quick(2)).unwrap_err().to_string();
    assert!(e.contains("not all 2 ranks joined") && e.contains("within 2 s"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[test]
fn a_port_in_use_is_named() {
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = Dist::join(local(0, 2, port), quick(5)).unwrap_err().to_string();
    assert!(e.contains(&format!("MASTER_PORT {port}")) && e.contains("already in use"), "{e}");
}
