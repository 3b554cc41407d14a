//! Joining a torchrun or srun job before a command runs (docs/distributed.md): train, the eval
//! commands, suite and the training benchmark run data-parallel; every other command refuses to run as several ranks.
use anyhow::{bail, Result};
use robustcnn::dist::{self, launch, Dist, Timeouts};
use std::sync::Arc;

/// Joins the job the environment describes, if any, for a command that runs data-parallel; ranks
/// other than 0 then print nothing to stdout.
pub fn join_if_launched() -> Result<Option<Arc<Dist>>> {
    let Some(l) = launch::from_env()? else { return Ok(None) };
    let main = l.rank == 0;
    let job = dist::set_job(Dist::join(l, Timeouts::from_env()?)?);
    // Every rank must run the same command, or their shares would not add up.
    let args: Vec<String> = std::env::args().skip(1).collect();
    job.agree("command line", &format!("world size {}\u{1f}{}", job.world(), args.join("\u{1f}")))?;
    if !main {
        silence_stdout();
    }
    Ok(Some(job))
}

/// Fails when started as one of several ranks: `what` does not run data-parallel.
pub fn refuse_if_launched(what: &str) -> Result<()> {
    if let Some(l) = launch::from_env()? {
        bail!(
            "{what} does not run data-parallel, but was started as rank {} of {} by {}: run it as one process \
             (train, eval, suite and the plain bench run under torchrun and srun)",
            l.rank,
            l.world,
            l.launcher
        );
    }
    Ok(())
}

/// Sends this process's stdout to /dev/null: only rank 0 reports.
fn silence_stdout() {
    // SAFETY: opens /dev/null and duplicates it onto fd 1; nothing else holds fd 1's state.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if null >= 0 {
            libc::dup2(null, 1);
            libc::close(null);
        }
    }
}
