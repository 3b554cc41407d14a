//! `robustcnn train` and `eval` as ranks of a torchrun-style job on 127.0.0.1 (docs/distributed.md):
//! one run written by rank 0, evaluation equal to one process's, a killed rank named within 60 s
//! with the checkpoint intact and resumable, and bad launches as one clear line.
mod common;
use common::ok;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Starts rank `rank` of `world` with `args`, as torchrun would.
fn rank(rank: usize, world: usize, port: u16, args: &[&str]) -> Child {
    rank_with(rank, world, port, args, &[])
}

/// As [`rank`], with more environment variables.
fn rank_with(rank: usize, world: usize, port: u16, args: &[&str], vars: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_robustcnn"))
        .args(args)
        .env("WORLD_SIZE", world.to_string())
        .env("RANK", rank.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env("ROBUSTCNN_DIST_TIMEOUT", "60")
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs every rank's own arguments to the end; their outputs in rank order.
fn job(per_rank: &[Vec<&str>]) -> Vec<Output> {
    let port = free_port();
    let children: Vec<Child> = per_rank.iter().enumerate().map(|(r, a)| rank(r, per_rank.len(), port, a)).collect();
    children.into_iter().map(|c| c.wait_with_output().unwrap()).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The file `name` of the `kind` evaluation under the results folder `results`.
fn stored(results: &Path, kind: &str, name: &str) -> String {
    let evals = results.join("evals");
    let dir = std::fs::read_dir(&evals).unwrap().flatten().find(|e| e.file_name().to_string_lossy().starts_with(kind));
    std::fs::read_to_string(dir.unwrap_or_else(|| panic!("no {kind} evaluation")).path().join(name)).unwrap()
}

fn clean_json(results: &Path) -> serde_json::Value {
    serde_json::from_str(&stored(results, "clean-", "clean.json")).unwrap()
}

/// An evaluation command's results, alone and as two ranks, in two results folders.
fn alone_and_together(dir: &Path, args: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
    let (alone, together) = (dir.join(format!("alone-{}", args[1])), dir.join(format!("together-{}", args[1])));
    let (a, t) = (alone.display().to_string(), together.display().to_string());
    ok(&[args, &["--results", &a]].concat());
    let both = [args, &["--results", &t]].concat();
    let out = job(&[both.clone(), both]);
    assert!(out.iter().all(|o| o.status.success()), "{}", text(&out[1].stderr));
    (alone, together)
}

const SMALL: [&str; 8] =
    ["--quiet", "--batch-size", "32", "--set", "data.train_fraction=0.2", "--val-fraction", "0.2", "--lr"];

#[test]
fn two_ranks_write_one_run_and_evaluate_as_one_process_does() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run").display().to_string();
    let mut args = vec!["train", "--steps", "12"];
    args.extend(SMALL);
    args.extend(["0.05", "--out", &run]);
    let out = job(&[args.clone(), args]);
    for (r, o) in out.iter().enumerate() {
        assert!(o.status.success(), "rank {r}: {}", text(&o.stderr));
    }
    assert!(text(&out[0].stdout).contains("test accuracy"), "{}", text(&out[0].stdout));
    assert_eq!(text(&out[1].stdout), "", "only rank 0 reports");
    let metrics = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    let starts: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["event"] == "start")
        .collect();
    assert_eq!(starts.len(), 1, "{metrics}");
    assert_eq!((starts[0]["world_size"].as_u64(), starts[0]["global_batch"].as_u64()), (Some(2), Some(64)));
    assert_eq!(metrics.lines().filter(|l| l.contains("\"event\":\"end\"")).count(), 1);

    // The test set evaluated by two ranks, batch by batch, is the single-process evaluation.
    let (alone, together) = alone_and_together(dir.path(), &["eval", "clean", &run, "--batch-size", "96"]);
    let (a, b) = (clean_json(&alone), clean_json(&together));
    for key in ["samples", "top1", "top5", "nll", "ece", "confusion"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    let attack = ["eval", "attack", &run, "--attack", "fgsm,pgd,apgd-ce", "--steps", "2", "--apgd-iters", "2"];
    let (alone, together) = alone_and_together(
        dir.path(),
        &[&attack[..], &["--eps", "2/255", "--limit", "64", "--batch-size", "16"]].concat(),
    );
    assert_eq!(stored(&alone, "attacks-", "attack_samples.json"), stored(&together, "attacks-", "attack_samples.json"));
    let corr = [
        "eval",
        "corruptions",
        &run,
        "--corruptions",
        "gaussian_noise,fog",
        "--severities",
        "1,5",
        "--limit",
        "64",
        "--batch-size",
        "16",
    ];
    let (alone, together) = alone_and_together(dir.path(), &corr);
    assert_eq!(stored(&alone, "corruptions-", "corruptions.csv"), stored(&together, "corruptions-", "corruptions.csv"));
}

#[test]
fn syncbn_trains_the_zoos_batch_norms_over_both_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run").display().to_string();
    let args = [
        "train",
        "--steps",
        "4",
        "--batch-size",
        "16",
        "--set",
        "train.sync_batchnorm=true",
        "--model",
        "resnet20",
        "--out",
        &run,
    ];
    let out = job(&[args.to_vec(), args.to_vec()]);
    for (r, o) in out.iter().enumerate() {
        assert!(o.status.success(), "rank {r}: {}", text(&o.stderr));
    }
    let err = text(&out[0].stderr);
    assert!(err.contains("global batch 32; SyncBN over the ranks; collectives over Gloo"), "{err}");
    let config = std::fs::read_to_string(dir.path().join("run/config.toml")).unwrap();
    assert!(config.contains("sync_batchnorm = true"), "the run records it: {config}");
}

#[test]
fn a_suite_under_torchrun_trains_each_cell_on_both_ranks_and_rank_0_reports() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("suite.toml");
    std::fs::write(
        &recipe,
        "[suite]\nmethods = [\"baseline\", \"lfm\"]\nseeds = [0]\n\n[evaluate]\nlimit = 64\nseverities = [1]\n\
         corruptions = \"fog\"\nattacks = [\"fgsm\"]\neps = [\"2/255\"]\nlarge_budget_check = false\n\n\
         [data]\nbatch_size = 16\n\n[train]\nsteps = 3\n",
    )
    .unwrap();
    let out = dir.path().join("s");
    let args = ["suite", recipe.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let ran = job(&[args.to_vec(), args.to_vec()]);
    for (r, o) in ran.iter().enumerate() {
        assert!(o.status.success(), "rank {r}: {}", text(&o.stderr));
    }
    assert!(text(&ran[0].stdout).contains("comparison: "), "{}", text(&ran[0].stdout));
    assert_eq!(text(&ran[1].stdout), "", "only rank 0 reports");
    for method in ["baseline", "lfm"] {
        let run = out.join(format!("runs/fashion-mnist-mini/small-cnn/all/{method}/seed-0"));
        let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        let start: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
        assert_eq!((start["world_size"].as_u64(), start["global_batch"].as_u64()), (Some(2), Some(32)), "{method}");
        assert!(run.join("results/protocol.json").is_file(), "{method} evaluated");
    }
    // Rerun as one process: every cell is done, nothing is trained again.
    let again = ok(&args);
    assert!(again.matches("— done").count() == 2 && !again.contains("done in"), "{again}");
}

#[test]
fn a_killed_rank_is_named_within_a_minute_and_the_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run").display().to_string();
    let mut args = vec!["train", "--epochs", "4"];
    args.extend(SMALL);
    args.extend(["0.05", "--out", &run]);
    let port = free_port();
    let mut zero = rank(0, 2, port, &args);
    let mut one = rank(1, 2, port, &args);
    let checkpoint = dir.path().join("run/checkpoint.safetensors");
    let started = Instant::now();
    while !checkpoint.is_file() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(checkpoint.is_file(), "no checkpoint after 120 s");
    one.kill().unwrap(); // SIGKILL
    one.wait().unwrap();
    let killed = Instant::now();
    let out = loop {
        if let Some(status) = zero.try_wait().unwrap() {
            break (status, zero.wait_with_output().unwrap());
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "rank 0 still running 60 s after rank 1 was killed");
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = text(&out.1.stderr);
    assert_eq!(out.0.code(), Some(1), "{err}");
    assert!(err.trim_end().lines().count() == 1 && err.contains("rank 1 was lost"), "{err}");

    let mut resume = vec!["train", "--resume", "--quiet", "--out", &run];
    let outs = job(&[resume.clone(), std::mem::take(&mut resume)]);
    assert!(outs.iter().all(|o| o.status.success()), "{}", text(&outs[0].stderr));
    let metrics = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "end", "{metrics}");
    let epochs = metrics.lines().filter(|l| l.contains("\"event\":\"epoch\"")).count();
    assert_eq!(epochs, 4, "each epoch logged once: {metrics}");
}

/// Starts a job of `world` ranks training with a 5 s heartbeat timeout (and a collective timeout far
/// longer), waits for its first checkpoint, then stops (SIGSTOP) rank `stopped`: its sockets stay
/// open, as a hung rank's or a lost NCCL peer's do. The other ranks' outputs, each within 40 s.
fn stop_one_rank(dir: &Path, world: usize, stopped: usize) -> Vec<(usize, Output)> {
    let run = dir.join(format!("run-{world}-{stopped}"));
    let out = run.display().to_string();
    let mut args = vec!["train", "--epochs", "8"];
    args.extend(SMALL);
    args.extend(["0.05", "--out", &out]);
    let vars = [("ROBUSTCNN_DIST_HEARTBEAT_TIMEOUT", "5"), ("ROBUSTCNN_DIST_TIMEOUT", "600")];
    let port = free_port();
    let mut ranks: Vec<Child> = (0..world).map(|r| rank_with(r, world, port, &args, &vars)).collect();
    let started = Instant::now();
    while !run.join("checkpoint.safetensors").is_file() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = ranks[stopped].id() as libc::pid_t;
    // SAFETY: signals a child this test started and has not yet waited for.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let halted = Instant::now();
    let mut outputs = Vec::new();
    for (r, child) in ranks.iter_mut().enumerate().filter(|(r, _)| *r != stopped) {
        while child.try_wait().unwrap().is_none() && halted.elapsed() < Duration::from_secs(40) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let ended = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        assert!(ended, "rank {r} still running 40 s after rank {stopped} was stopped");
    }
    for (r, child) in ranks.into_iter().enumerate() {
        if r == stopped {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        } else {
            outputs.push((r, child.wait_with_output().unwrap()));
        }
    }
    let left: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
    outputs
}

#[test]
fn a_stopped_rank_is_named_by_its_heartbeat_and_every_other_rank_ends() {
    let dir = tempfile::tempdir().unwrap();
    // Rank 2 stops: rank 0 sees its heartbeat stand still and tells rank 1 through the store.
    for (r, o) in stop_one_rank(dir.path(), 3, 2) {
        let err = failure(&o, r);
        assert!(err.contains("distributed: rank 2 was lost: no heartbeat for 5 s"), "rank {r}: {err}");
    }
    // Rank 0, which hosts the store, stops: the store's silence names it.
    for (r, o) in stop_one_rank(dir.path(), 2, 0) {
        let err = failure(&o, r);
        assert!(err.contains("rank 0 was lost: the job's store, which it hosts, has not answered"), "rank {r}: {err}");
    }
}

/// The one line rank `r` printed on failing.
fn failure(o: &Output, r: usize) -> String {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "rank {r}: {err}");
    assert!(err.starts_with("error: ") && err.trim_end().lines().count() == 1, "rank {r}: {err}");
    err
}

#[test]
fn bad_launches_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run").display().to_string();
    let no_master = Command::new(env!("CARGO_BIN_EXE_robustcnn"))
        .args(["train", "--steps", "1", "--out", &run])
        .env("WORLD_SIZE", "2")
        .env("RANK", "0")
        .env_remove("MASTER_ADDR")
        .output()
        .unwrap();
    assert!(failure(&no_master, 0).contains("WORLD_SIZE is set but MASTER_ADDR is not"));
    let out = rank_with(0, 2, free_port(), &["train", "--out", &run], &[("ROBUSTCNN_DIST_HEARTBEAT_TIMEOUT", "1")]);
    let err = failure(&out.wait_with_output().unwrap(), 0);
    assert!(err.contains("ROBUSTCNN_DIST_HEARTBEAT_TIMEOUT=1: expected a number of seconds, at least 2"), "{err}");

    let out = job(&[vec!["models"], vec!["models"]]);
    assert!(failure(&out[0], 0).contains("robustcnn models does not run data-parallel"));

    let (a, b) = (
        ["train", "--steps", "2", "--lr", "0.1", "--out", &run],
        ["train", "--steps", "2", "--lr", "0.2", "--out", &run],
    );
    let out = job(&[a.to_vec(), b.to_vec()]);
    assert!(failure(&out[0], 0).contains("rank 1's command line differs from rank 0's"));
    assert!(failure(&out[1], 1).contains("differs from rank 0's"));
    assert!(!Path::new(&run).exists(), "a job that never started leaves no run");

    // More local ranks than GPUs (here, none at all): every rank fails at once, none waits.
    let gpus = ["train", "--steps", "2", "--device", "cuda", "--out", &run];
    if tch::Cuda::device_count() < 2 {
        let out = job(&[gpus.to_vec(), gpus.to_vec()]);
        let err = failure(&out[1], 1);
        assert!(err.contains("has no GPU of its own") || err.contains("CUDA device(s)"), "{err}");
    }

    let lonely = |backend: &str| {
        Command::new(env!("CARGO_BIN_EXE_robustcnn"))
            .args(["train", "--steps", "1", "--out", &run])
            .env("WORLD_SIZE", "2")
            .env("RANK", "0")
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", free_port().to_string())
            .env("ROBUSTCNN_DIST_TIMEOUT", "3")
            .env("ROBUSTCNN_DIST_BACKEND", backend)
            .output()
            .unwrap()
    };
    assert!(failure(&lonely("gloo"), 0).contains("not all 2 ranks joined"));
    let err = failure(&lonely("mpi"), 0);
    assert!(err.contains("ROBUSTCNN_DIST_BACKEND=mpi: expected auto, gloo or nccl"), "{err}");
    // NCCL where it cannot run is refused before the rendezvous, not found out at the first collective.
    if !tch::Cuda::is_available() {
        let err = failure(&lonely("nccl"), 0);
        assert!(err.contains("built without NCCL") || err.contains("no CUDA GPU is visible"), "{err}");
    }
}

#[test]
fn bench_under_two_ranks_reports_the_all_reduce() {
    let args = vec!["bench", "--models", "small-cnn", "--batch", "8", "--iters", "2", "--input", "1x28x28"];
    let out = job(&[args.clone(), args]);
    for (r, o) in out.iter().enumerate() {
        assert!(o.status.success(), "rank {r}: {}", text(&o.stderr));
    }
    let table = text(&out[0].stdout);
    assert!(table.contains("all-reduce ms") && table.contains("exposed ms") && table.contains("MiB/step"), "{table}");
    // small-cnn at 1×28×28: 458,730 parameters, 4 bytes each, per step.
    assert!(table.lines().any(|l| l.starts_with("small-cnn") && l.contains(" 2 ") && l.contains("1.75")), "{table}");
}

#[test]
fn a_run_stopped_on_two_ranks_resumes_on_one_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run").display().to_string();
    let mut args = vec!["train", "--epochs", "2", "--stop-after", "12"];
    args.extend(SMALL);
    args.extend(["0.05", "--out", &run]);
    let out = job(&[args.clone(), args]);
    for (r, o) in out.iter().enumerate() {
        assert_eq!(o.status.code(), Some(130), "rank {r} stops resumably: {}", text(&o.stderr));
    }
    let resumed = common::robustcnn(&["train", "--resume", "--quiet", "--out", &run]);
    let err = text(&resumed.stderr);
    assert!(resumed.status.success(), "{err}");
    assert!(err.contains("written by 2 rank(s) and resumes on 1"), "{err}");
    let metrics = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    assert!(metrics.lines().last().unwrap().contains("\"event\":\"end\""), "{metrics}");
}
