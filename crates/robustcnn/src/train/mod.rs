//! The training loop: optimizer, schedule, checkpoints, resume, metrics stream (docs/usage.md, "Runs").
pub mod checkpoint;
mod init;
pub mod loss_scale;
pub mod optim;
mod run_dir;
pub mod schedule;
mod setup;

pub use run_dir::{RunDir, CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE};
pub use setup::{prepare, resolve, Prepared};

use crate::config::Config;
use crate::data::loader::{batches_per_epoch, EpochLoader};
use crate::dist::Dist;
use crate::error::{Error, Result};
use crate::eval::clean::{evaluate, CleanResult};
use crate::methods::{self, StepContext};
use indicatif::{ProgressBar, ProgressStyle};
use optim::Optimizer;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::{Kind, Tensor};

/// How a training run is driven (not part of the recipe).
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub out: PathBuf,
    pub resume: bool,
    /// Set (e.g. by Ctrl-C) to stop after the current step with a resumable checkpoint.
    pub interrupt: Arc<AtomicBool>,
    /// Stop with a resumable checkpoint after this many steps in total (for time-sliced machines).
    pub stop_after: Option<usize>,
    pub progress: bool,
    /// The data-parallel job this process is one rank of (torchrun, srun), if any (docs/distributed.md).
    pub dist: Option<Arc<Dist>>,
}

/// Where the loop is; saved in every checkpoint so `--resume` continues exactly.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LoopState {
    pub epoch: usize,
    /// Next batch of `epoch`.
    pub batch: usize,
    pub step: usize,
    pub epoch_loss_sum: f64,
    pub epoch_correct: f64,
    pub epoch_seen: usize,
    pub best_val: Option<f64>,
    pub best_epoch: Option<usize>,
    pub metrics_lines: usize,
    pub finished: bool,
    /// Loss terms (name, sum, steps) since the last step record, so that a run resumed between two
    /// records logs the same averages as an uninterrupted one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub term_window: Vec<(String, f64, usize)>,
    /// The number of data-parallel ranks that wrote the checkpoint; absent (0) for one.
    #[serde(default, skip_serializing_if = "one_rank")]
    pub world: usize,
}

/// Whether a checkpoint was written by a single process (not recorded then).
fn one_rank(world: &usize) -> bool {
    *world <= 1
}

/// What a finished run reports.
#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    pub run: PathBuf,
    pub steps: usize,
    pub selected: String,
    pub best_val_accuracy: Option<f64>,
    pub test: CleanResult,
}

/// Trains from `cfg` (or resumes the run in `opts.out`), then evaluates the selected weights on the test set.
pub fn train(cfg: &Config, opts: &RunOptions) -> Result<TrainSummary> {
    let dist = opts.dist.clone();
    // Rank 0 alone writes the run's files and prints; the other ranks only compute.
    let main = dist.as_ref().is_none_or(|d| d.is_main());
    let run = match (opts.resume, main) {
        (true, _) => RunDir::open_for_resume(&opts.out)?,
        (false, true) => RunDir::create(&opts.out)?,
        (false, false) => RunDir { dir: opts.out.clone() },
    };
    let cfg = if opts.resume { run.read_config()? } else { cfg.clone() };
    let mut on_device = cfg.clone();
    if let Some(d) = &dist {
        on_device.train.device = d.local_device(&cfg.train.device)?;
    }
    // A run stopped before its first checkpoint resumes from step 0.
    let from_checkpoint = opts.resume && run.dir.join(CHECKPOINT_FILE).is_file();
    let prepared = prepare(&on_device).and_then(|mut p| {
        methods::check_task(&p.cfg.method.name, p.train.is_multi_label())?;
        p.cfg.train.precision.check_device(p.device, "train.precision")?;
        if p.device.is_cuda() {
            tch::Cuda::cudnn_set_benchmark(p.cfg.train.cudnn_benchmark);
        }
        methods::bind(&mut p.cfg.method, &p.net);
        if let (Some(init), false) = (&p.cfg.train.init, from_checkpoint) {
            let model = &p.cfg.model;
            init::check_model(init, &model.name)?;
            init::load_init(init, &p.vs, model.mean.as_deref().unwrap_or(&[]), model.std.as_deref().unwrap_or(&[]))?;
        }
        let method = methods::build(&p.cfg.method, &p.net, p.train.num_classes() as i64)?;
        Ok((p, method))
    });
    // A new run that fails (or runs out of memory) before its first checkpoint leaves nothing behind.
    let mut cleanup = RemoveUnlessCheckpointed { dir: run.dir.clone(), armed: !opts.resume && main };
    let (p, mut method) = prepared?;
    // The run records the job's device name (`cuda`), not this rank's (`cuda:LOCAL_RANK`).
    let job_device = cfg.train.device.clone();
    let mut cfg = p.cfg.clone();
    cfg.train.device = job_device;
    if let Some(d) = &dist {
        d.agree("config", &format!("world size {}\n{}", d.world(), cfg.to_toml()))?;
    }
    if !opts.resume && main {
        run.write_config(&cfg)?;
    }
    let fp16 = cfg.train.precision == crate::precision::Precision::Fp16;
    let mut opt = Optimizer::new(&p.vs, &cfg.optim).with_dist(dist.clone()).with_loss_scaler(fp16);
    let _sync_bn = crate::dist::sync_bn::SyncBatchNorm::enter(dist.clone().filter(|_| cfg.train.sync_batchnorm));
    let bytes = |ts: &[(String, Tensor)]| -> u64 {
        ts.iter().map(|(_, t)| t.numel() as u64 * t.kind().elt_size_in_bytes() as u64).sum()
    };
    let (weights, buffers) = (bytes(&checkpoint::model_tensors(&p.vs)), bytes(opt.state()));
    // A checkpoint and its next version side by side, best and final weights, best's rewrite.
    if main {
        crate::disk::check_space(
            &run.dir,
            2 * (weights + buffers) + 3 * weights,
            "this run's checkpoints and weights",
        )?;
    }
    let mut st = LoopState::default();
    if from_checkpoint {
        st = run.load_checkpoint(&p.vs, &mut opt, method.as_mut())?;
    }
    if let Some(stop) = opts.stop_after.filter(|&s| s <= st.step) {
        return Err(Error::Config(format!(
            "--stop-after {stop}: {} is already at step {}; give a later step, or leave --stop-after out to finish the run",
            run.dir.display(),
            st.step
        )));
    }
    let world = dist.as_ref().map_or(1, |d| d.world());
    let mut spec = p.loader_spec();
    spec.shard = dist.as_ref().map(|d| (d.rank(), d.world()));
    if let Some(d) = &dist {
        // DDP's start: every rank begins from rank 0's weights and buffers.
        let mut vars: Vec<(String, Tensor)> = p.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        d.broadcast_from_main(&vars.into_iter().map(|(_, t)| t).collect::<Vec<_>>())?;
    }
    if from_checkpoint && st.world.max(1) != world {
        let (before, global) = (st.world.max(1), cfg.data.batch_size * world);
        let position = st.batch * cfg.data.batch_size * before;
        if main {
            eprintln!(
                "warning: {} was written by {before} rank(s) and resumes on {world}: the epoch continues \
                 at sample {position} in batches of {global}, so the run is not the one an unchanged job would give",
                run.dir.join(CHECKPOINT_FILE).display()
            );
        }
        st.batch = position / global;
    }
    st.world = world;
    if !main {
        // The checkpoint's running sums of the epoch are every rank's together: rank 0 carries them.
        (st.epoch_loss_sum, st.epoch_correct, st.epoch_seen) = (0.0, 0.0, 0);
    }
    if opts.resume && main {
        run.truncate_metrics(st.metrics_lines)?;
    }
    let spe = batches_per_epoch(p.train.len(), &spec);
    let global_batch = cfg.data.batch_size * world;
    if global_batch > p.train.len() {
        let per_rank = if world > 1 { format!(" ({world} ranks × {})", cfg.data.batch_size) } else { String::new() };
        return Err(Error::Config(format!(
            "data.batch_size {global_batch}{per_rank} is larger than the {} training samples",
            p.train.len()
        )));
    }
    if let Some(d) = dist.as_ref().filter(|_| main && opts.progress) {
        let norms = if cfg.train.sync_batchnorm { "SyncBN over the ranks" } else { "batch norm per rank" };
        eprintln!(
            "data-parallel: {world} ranks × batch {} = global batch {global_batch}; {norms}; collectives over {}",
            cfg.data.batch_size,
            d.backend_for(p.device)
        );
    }
    let total = cfg.train.steps.unwrap_or(cfg.train.epochs * spe);
    let epochs = total.div_ceil(spe);
    let device = p.device;
    let mut log = if main { run.metrics_writer(&mut st)? } else { run_dir::MetricsWriter::discard(st.metrics_lines) };
    if !st.finished && st.step == 0 {
        log.write(json!({"event": "start", "model": cfg.model.name, "dataset": cfg.data.dataset,
            "train_samples": p.train.len(), "input_shape": [p.train.channels, p.train.height, p.train.width], "val_samples": p.val.as_ref().map(|v| v.len()), "steps": total,
            "parameters": crate::models::parameter_count(&p.vs), "precision": cfg.train.precision.name(),
            "world_size": world, "global_batch": global_batch,
            "collectives": dist.as_ref().map(|d| d.backend_for(p.device))}))?;
    }
    p.net.set_precision(cfg.train.precision);
    while !st.finished && st.epoch < epochs {
        let epoch_start = Instant::now();
        let mut waited = 0.0;
        let loader = EpochLoader::new(p.train.clone(), &spec, st.epoch as u64, st.batch, device);
        let bar = progress_bar(opts.progress && main, loader.len(), st.batch, st.epoch, epochs);
        let mut loss_sum = Tensor::from(st.epoch_loss_sum).to_device(device);
        let mut correct = Tensor::from(st.epoch_correct).to_device(device);
        let mut seen_this_run = 0usize;
        // Loss terms averaged over the steps since the last log line that reported them (carried
        // over from the checkpoint when resuming mid-epoch).
        let mut window: Vec<(String, f64, usize)> = std::mem::take(&mut st.term_window);
        let mut it = loader;
        loop {
            let t0 = Instant::now();
            let Some((b, batch)) = it.next() else { break };
            waited += t0.elapsed().as_secs_f64();
            if st.step >= total {
                break;
            }
            if let Some(e) = &batch.error {
                // An image decoded on demand is unreadable: stop at this step, before any update.
                bar.abandon();
                return Err(Error::Config(e.clone()));
            }
            let (x, y, views) = batch.to_device(device);
            let lr = schedule::lr_at(&cfg.optim, st.step, total, spe);
            let ids: Vec<u64> = batch.indices.iter().map(|&i| i as u64).collect();
            let mut ctx = StepContext {
                net: &p.net,
                opt: &mut opt,
                lr,
                step: st.step,
                epoch: st.epoch,
                seed: cfg.train.seed,
                label_smoothing: cfg.optim.label_smoothing,
                ids: &ids,
                after: None,
                extra_terms: Vec::new(),
                views,
            };
            let out = method.train_step(&mut ctx, &x, &y).map_err(|e| match e {
                Error::Diverged(what) if !run.dir.join(CHECKPOINT_FILE).is_file() => Error::Diverged(format!(
                    "{what} at step {} (epoch {}), before the first checkpoint, so the run was not kept; \
                     start again with a lower learning rate (--lr or optim.lr)",
                    st.step + 1,
                    st.epoch + 1
                )),
                Error::Diverged(what) => Error::Diverged(format!(
                    "{what} at step {} (epoch {}); the last good checkpoint is kept; \
                     resume with a lower learning rate: robustcnn train --resume --out {} (after editing optim.lr in its config.toml)",
                    st.step + 1,
                    st.epoch + 1,
                    run.dir.display()
                )),
                other => other,
            })?;
            for (name, value) in &out.terms {
                match window.iter_mut().find(|w| &w.0 == name) {
                    Some(w) => (w.1, w.2) = (w.1 + value, w.2 + 1),
                    None => window.push((name.clone(), *value, 1)),
                }
            }
            let (loss, logits) = (&out.loss, &out.logits);
            let n = batch.indices.len();
            tch::no_grad(|| {
                loss_sum += loss.detach().to_kind(Kind::Double) * n as f64;
                correct += if y.dim() == 2 {
                    // Multi-label: the top-scoring class is present (top-1 precision).
                    y.gather(1, &logits.argmax(-1, true), false).sum(Kind::Double)
                } else {
                    logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Double)
                };
            });
            st.epoch_seen += n;
            seen_this_run += n;
            st.step += 1;
            st.batch = b + 1;
            let log_now = st.step.is_multiple_of(cfg.train.log_every);
            if log_now || (opts.progress && st.step.is_multiple_of(10)) {
                let mean = loss_sum.double_value(&[]) / st.epoch_seen as f64;
                let acc = correct.double_value(&[]) / st.epoch_seen as f64;
                let rate = seen_this_run as f64 / epoch_start.elapsed().as_secs_f64();
                bar.set_message(format!("loss {mean:.4} acc {:.2}% {rate:.0} img/s", 100.0 * acc));
                if log_now {
                    let mut line =
                        json!({"event": "step", "step": st.step, "epoch": st.epoch + 1, "loss": mean, "lr": lr});
                    if let Some(scaler) = opt.loss_scaler() {
                        line["loss_scale"] = json!(scaler.scale);
                    }
                    for (name, sum, count) in window.drain(..) {
                        line[name.as_str()] = json!(sum / count as f64);
                    }
                    log.write(line)?;
                }
            }
            bar.inc(1);
            let mut stop_now = opts.interrupt.load(Ordering::SeqCst) || opts.stop_after.is_some_and(|s| st.step >= s);
            if let Some(d) = &dist {
                // A Ctrl-C reaches the ranks at different steps; all stop at the first that saw one.
                stop_now = d.any(stop_now)?;
            }
            if stop_now && st.step < total {
                // The checkpoint keeps the epoch's sums over all ranks (rank 0 carries them on resume).
                let mut sums = [loss_sum.double_value(&[]), correct.double_value(&[]), st.epoch_seen as f64];
                if let Some(d) = &dist {
                    let total = d.sum_f64(&sums)?;
                    sums.copy_from_slice(&total);
                }
                (st.epoch_loss_sum, st.epoch_correct, st.epoch_seen) = (sums[0], sums[1], sums[2] as usize);
                st.metrics_lines = log.lines;
                st.term_window = window;
                if main {
                    run.save_checkpoint(&p.vs, &opt, &method.state(), &st)?;
                }
                bar.abandon();
                return Err(Error::Interrupted(format!(
                    "stopped at step {} of {total}; continue with: robustcnn train --resume --out {}",
                    st.step,
                    run.dir.display()
                )));
            }
        }
        drop(it);
        bar.finish_and_clear();
        let elapsed = epoch_start.elapsed().as_secs_f64();
        let mut sums =
            [loss_sum.double_value(&[]), correct.double_value(&[]), st.epoch_seen as f64, seen_this_run as f64];
        if let Some(d) = &dist {
            let total = d.sum_f64(&sums)?;
            sums.copy_from_slice(&total);
        }
        let [loss_total, correct_total, epoch_seen, seen_this_run] = sums;
        let train_loss = loss_total / epoch_seen.max(1.0);
        let train_acc = correct_total / epoch_seen.max(1.0);
        let val = p
            .val
            .as_ref()
            .map(|v| in_fp32(&p.net, || evaluate(&p.net, v, cfg.data.batch_size.max(256), device)))
            .transpose();
        // An epoch whose eval-mode outputs are not numbers has no validation score and is never selected.
        let (val, val_not_finite) = match val {
            Err(Error::NotFinite(_)) => (None, true),
            other => (other?, false),
        };
        let mut line = json!({"event": "epoch", "epoch": st.epoch + 1, "step": st.step, "train_loss": train_loss,
            "train_accuracy": train_acc, "lr": schedule::lr_at(&cfg.optim, st.step.saturating_sub(1), total, spe),
            "time_s": elapsed, "images_per_s": seen_this_run / elapsed,
            "loader_wait_fraction": waited / elapsed});
        if let Some(scaler) = opt.loss_scaler() {
            line["loss_scale"] = json!(scaler.scale);
            line["skipped_steps"] = json!(scaler.skipped);
        }
        let mut val_txt = String::new();
        if val_not_finite {
            line["val_accuracy"] = serde_json::Value::Null;
            val_txt = "  val: outputs NaN or infinite (not selected)".into();
        }
        if let Some(v) = &val {
            line["val_accuracy"] = json!(v.top1);
            line["val_loss"] = json!(v.nll);
            if let Some(m) = &v.multi_label {
                line["val_map"] = json!(m.map);
            }
            val_txt = format!("  val {} {:.2}%", v.score_name(), 100.0 * v.score());
            // Model selection by the task's headline score: accuracy, or mAP for a multi-label task.
            if st.best_val.is_none_or(|b| v.score() > b) {
                st.best_val = Some(v.score());
                st.best_epoch = Some(st.epoch + 1);
                if main {
                    run.save_weights("best.safetensors", &p.vs)?;
                }
            }
        }
        log.write(line)?;
        if opts.progress {
            eprintln!(
                "epoch {}/{epochs}  loss {train_loss:.4}  acc {:.2}%{val_txt}  {:.0} img/s (loader wait {:.1}%)",
                st.epoch + 1,
                100.0 * train_acc,
                seen_this_run / elapsed,
                100.0 * waited / elapsed
            );
        }
        st.epoch += 1;
        st.batch = 0;
        st.epoch_loss_sum = 0.0;
        st.epoch_correct = 0.0;
        st.epoch_seen = 0;
        st.finished = st.step >= total;
        st.metrics_lines = log.lines;
        if main {
            run.save_checkpoint(&p.vs, &opt, &method.state(), &st)?;
        }
    }
    if main {
        run.save_weights("model.safetensors", &p.vs)?;
    }
    if let Some(d) = &dist {
        // Every rank reads the weights rank 0 selected, then they evaluate the test set together.
        d.barrier()?;
    }
    let selected = match st.best_epoch {
        Some(e) => {
            run.load_weights("best.safetensors", &p.vs)?;
            format!(
                "best validation {}, epoch {e} (best.safetensors)",
                if p.test.is_multi_label() { "mAP" } else { "accuracy" }
            )
        }
        None => "last epoch (model.safetensors)".to_string(),
    };
    let test =
        in_fp32(&p.net, || evaluate(&p.net, &p.test, cfg.data.batch_size.max(256), device)).map_err(|e| match e {
            Error::NotFinite(why) => Error::NotFinite(format!(
                "{}: trained, but on the test set with the {selected} weights {why}",
                run.dir.display()
            )),
            e => e,
        })?;
    if !main {
        return Ok(TrainSummary {
            run: run.dir.clone(),
            steps: st.step,
            selected,
            best_val_accuracy: st.best_val,
            test,
        });
    }
    let (file, weights) = weights_file(&run.dir, "best");
    let protocol = crate::eval::store::subject("clean", &weights, &file, "test", test.samples, None)?;
    crate::eval::store::ResultsStore::of_run(&run.dir).write(test.evaluation(&selected, protocol))?;
    let mut end = json!({"event": "end", "step": st.step, "test_accuracy": test.top1, "selected": selected});
    if let Some(m) = &test.multi_label {
        end["test_map"] = json!(m.map);
    }
    log.write(end)?;
    cleanup.armed = false;
    Ok(TrainSummary { run: run.dir.clone(), steps: st.step, selected, best_val_accuracy: st.best_val, test })
}

/// Removes what a new run wrote (and its folder, when that is then empty) when training ends, by
/// error or panic, before its first checkpoint; other files in the folder are left alone.
struct RemoveUnlessCheckpointed {
    dir: PathBuf,
    armed: bool,
}

impl Drop for RemoveUnlessCheckpointed {
    fn drop(&mut self) {
        if self.armed && !self.dir.join(CHECKPOINT_FILE).exists() {
            let config_tmp = checkpoint::bytes_tmp_path(&self.dir.join(run_dir::CONFIG_FILE));
            for f in [run_dir::CONFIG_FILE, METRICS_FILE, "best.safetensors", "best.safetensors.tmp"] {
                let _ = std::fs::remove_file(self.dir.join(f));
            }
            let _ = std::fs::remove_file(config_tmp);
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// Opens a finished run with its data and model and loads the chosen weights: `best` (the
/// validation-selected ones, else the last), `last`, or a .safetensors file. Returns the weights' label.
pub fn open_trained(dir: &std::path::Path, weights: &str, device: Option<&str>) -> Result<(RunDir, Prepared, String)> {
    let run = RunDir::open(dir)?;
    if !["best", "last"].contains(&weights) && !std::path::Path::new(weights).is_file() {
        return Err(Error::Config(format!(
            "--weights {weights}: expected best, last or a .safetensors file, and there is no file {weights}"
        )));
    }
    let cfg = run.read_config_on(device)?;
    check_weights_model(weights, &cfg.model.name, &run.dir)?;
    let p = prepare(&cfg)?;
    let (file, label) = weights_file(&run.dir, weights);
    checkpoint::load_into(&p.vs, &file, &checkpoint::read(&file)?)?;
    Ok((run, p, label))
}

/// Refuses a `--weights` file that lies in another run's folder trained with another architecture,
/// naming both, where loading it would report only a tensor's shape.
fn check_weights_model(weights: &str, model: &str, dir: &std::path::Path) -> Result<()> {
    if ["best", "last"].contains(&weights) {
        return Ok(());
    }
    // A bare file name's folder is the working directory ("").
    let folder = std::path::Path::new(weights).parent().map(|d| {
        if d.as_os_str().is_empty() {
            std::path::Path::new(".")
        } else {
            d
        }
    });
    let Some(theirs) = folder.filter(|d| d.join(CONFIG_FILE).is_file()) else {
        return Ok(());
    };
    // A folder whose config.toml is not a run's says nothing of the weights: their shapes are checked on load.
    let Some(their_model) = RunDir::open(theirs).and_then(|r| r.read_config_on(Some("cpu"))).ok().map(|c| c.model.name)
    else {
        return Ok(());
    };
    if their_model != model {
        return Err(Error::Config(format!(
            "--weights {weights}: weights of a {their_model} run ({}), and {} is a {model} run; give weights of \
             the same architecture",
            std::fs::canonicalize(theirs).unwrap_or_else(|_| theirs.to_path_buf()).display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Runs `f` (an evaluation) with the network in fp32, then restores its precision (docs/precision.md).
fn in_fp32<T>(net: &crate::models::Network, f: impl FnOnce() -> T) -> T {
    let training = net.precision();
    net.set_precision(crate::precision::Precision::Fp32);
    let out = f();
    net.set_precision(training);
    out
}

/// The file and label of a run's weights: `best` (the validation-selected ones, else the last),
/// `last`, or a .safetensors path.
pub fn weights_file(dir: &std::path::Path, weights: &str) -> (PathBuf, String) {
    match weights {
        "best" if dir.join("best.safetensors").is_file() => (dir.join("best.safetensors"), "best".to_string()),
        "best" | "last" => (dir.join("model.safetensors"), "last".to_string()),
        other => {
            // The run's own files, given by path, are its best or last weights.
            let same = |name: &str| {
                let (a, b) = (std::fs::canonicalize(other).ok(), std::fs::canonicalize(dir.join(name)).ok());
                a.is_some() && a == b
            };
            let label = match (same("best.safetensors"), same("model.safetensors")) {
                (true, _) => "best",
                (_, true) => "last",
                _ => other,
            };
            (PathBuf::from(other), label.to_string())
        }
    }
}

fn progress_bar(show: bool, len: usize, pos: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64).with_position(pos as u64);
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:25}] {pos}/{len} batches  {msg}  ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(format!("{}/{epochs}", epoch + 1));
    bar
}
