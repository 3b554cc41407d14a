//! A suite run by the ranks of one torchrun or srun job (docs/distributed.md §4): rank 0 looks at
//! the suite directory, claims each run and tells the other ranks which one comes next; every rank
//! then trains and evaluates it data-parallel.
use super::RunState;
use crate::dist::Dist;
use crate::error::{Error, Result};
use tch::Tensor;

/// What rank 0 tells the other ranks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Order {
    /// Train (if needed) and evaluate run `index`, which is in `state`.
    Run(usize, RunState),
    /// Nothing yet: rank 0 waits for runs other workers hold.
    Wait,
    /// The suite is done.
    End,
}

fn state_code(s: RunState) -> f64 {
    match s {
        RunState::Done => 0.0,
        RunState::Evaluate => 1.0,
        RunState::Resume => 2.0,
        RunState::Fresh => 3.0,
    }
}

/// Rank 0: sends `order` to every rank.
pub fn tell(d: &Dist, order: Order) -> Result<()> {
    let code = match order {
        Order::Run(i, s) => [i as f64, state_code(s)],
        Order::Wait => [-1.0, 0.0],
        Order::End => [-2.0, 0.0],
    };
    d.broadcast_from_main(&[Tensor::from_slice(&code)])
}

/// The other ranks: the next order from rank 0, for a suite of `runs` runs.
pub fn hear(d: &Dist, runs: usize) -> Result<Order> {
    let t = Tensor::from_slice(&[0f64, 0.0]);
    d.broadcast_from_main(std::slice::from_ref(&t))?;
    let v = Vec::<f64>::try_from(&t).unwrap_or_default();
    let states = [RunState::Done, RunState::Evaluate, RunState::Resume, RunState::Fresh];
    let code = (v.first().map_or(-3, |&i| i as i64), v.get(1).map_or(usize::MAX, |&s| s as usize));
    match code {
        (i, s) if i >= 0 && (i as usize) < runs && s < states.len() => Ok(Order::Run(i as usize, states[s])),
        (-1, _) => Ok(Order::Wait),
        (-2, _) => Ok(Order::End),
        _ => Err(Error::Distributed(format!(
            "rank {}: rank 0 sent a suite order that is not one ({v:?}); do the ranks run the same recipe?",
            d.rank()
        ))),
    }
}
