//! Where this process stands in a distributed job, read from the environment torchrun or Slurm's
//! srun sets (docs/distributed.md, "Launching").
use crate::error::{Error, Result};

/// The default rendezvous port under srun when MASTER_PORT is not set (torchrun's default too).
pub const DEFAULT_PORT: u16 = 29500;

/// This process's place in a job of `world` ranks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub rank: usize,
    pub world: usize,
    /// The rank among the processes on this machine (the CUDA device it uses).
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    /// "torchrun" or "srun": which environment it came from.
    pub launcher: &'static str,
}

/// The job this process belongs to, or None for a single process (nothing set, or a world of one).
pub fn from_env() -> Result<Option<Launch>> {
    from_vars(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// As [`from_env`], over any source of variables.
pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>> {
    let num = |k: &str| -> Result<Option<usize>> {
        get(k)
            .map(|v| v.trim().parse::<usize>().map_err(|_| Error::Config(format!("{k}={v}: expected a whole number"))))
            .transpose()
    };
    let port = |default: Option<u16>| -> Result<u16> {
        match get("MASTER_PORT") {
            Some(v) => v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| Error::Config(format!("MASTER_PORT={v}: expected a port number from 1 to 65535"))),
            None => default.ok_or_else(|| {
                Error::Config("WORLD_SIZE is set but MASTER_PORT is not: set both, as torchrun does".into())
            }),
        }
    };
    let check = |l: Launch| -> Result<Option<Launch>> {
        if l.rank >= l.world {
            return Err(Error::Config(format!(
                "rank {} is not below the world size {} (from {})",
                l.rank, l.world, l.launcher
            )));
        }
        Ok(Some(l))
    };
    if let Some(world) = num("WORLD_SIZE")? {
        if world <= 1 {
            return Ok(None);
        }
        let Some(rank) = num("RANK")? else {
            return Err(Error::Config("WORLD_SIZE is set but RANK is not: set both, as torchrun does".into()));
        };
        let Some(master_addr) = get("MASTER_ADDR") else {
            return Err(Error::Config(
                "WORLD_SIZE is set but MASTER_ADDR is not: set the address of rank 0's machine, as torchrun does"
                    .into(),
            ));
        };
        let local_rank = num("LOCAL_RANK")?.unwrap_or(0);
        return check(Launch { rank, world, local_rank, master_addr, master_port: port(None)?, launcher: "torchrun" });
    }
    // srun sets SLURM_STEP_ID for the tasks of a job step; a batch script alone does not start ranks.
    if let (Some(world), Some(_)) = (num("SLURM_NTASKS")?, get("SLURM_STEP_ID")) {
        if world <= 1 {
            return Ok(None);
        }
        let rank = num("SLURM_PROCID")?.ok_or_else(|| {
            Error::Config("SLURM_NTASKS is set but SLURM_PROCID is not (start the ranks with srun)".into())
        })?;
        let local_rank = num("SLURM_LOCALID")?.unwrap_or(0);
        let master_addr = match get("MASTER_ADDR") {
            Some(a) => a,
            None => {
                let list = get("SLURM_JOB_NODELIST").or_else(|| get("SLURM_NODELIST")).ok_or_else(|| {
                    Error::Config("under srun, neither MASTER_ADDR nor SLURM_JOB_NODELIST is set".into())
                })?;
                first_host(&list)?
            }
        };
        return check(Launch {
            rank,
            world,
            local_rank,
            master_addr,
            master_port: port(Some(DEFAULT_PORT))?,
            launcher: "srun",
        });
    }
    Ok(None)
}

/// The first host of a Slurm node list: "gpu[03-05,09],cpu1" gives "gpu03".
pub fn first_host(list: &str) -> Result<String> {
    let bad = || Error::Config(format!("SLURM_JOB_NODELIST={list}: not a Slurm node list"));
    let list = list.trim();
    let end = list.find(',').unwrap_or(list.len());
    let open = list.find('[');
    let first = match open {
        Some(o) if o < end => {
            let close = list[o..].find(']').map(|c| o + c).ok_or_else(bad)?;
            let inside = &list[o + 1..close];
            let item = inside.split(',').next().unwrap_or("");
            let start = item.split('-').next().unwrap_or("");
            if start.is_empty() || !start.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let rest = &list[close + 1..];
            let suffix = &rest[..rest.find(',').unwrap_or(rest.len())];
            format!("{}{start}{suffix}", &list[..o])
        }
        _ => list[..end].to_string(),
    };
    if first.is_empty() {
        return Err(bad());
    }
    Ok(first)
}
