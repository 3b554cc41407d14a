//! robustcnn: train CNNs that stay right when their input is degraded, and measure it.
//!
//! The library behind the `robustcnn` command: dataset readers and the threaded loader ([`data`]),
//! staged models ([`models`]), adversarial attacks ([`attacks`]), the training loop ([`train`]) and evaluation ([`eval`]).
pub mod allocator;
pub mod attacks;
pub mod bench;
pub mod bitmap_font;
pub mod config;
pub mod data;
pub mod device;
pub mod disk;
pub mod dist;
pub mod error;
pub mod eval;
pub mod explain;
pub mod fuzzing;
pub mod methods;
pub mod models;
pub mod precision;
pub mod report;
pub mod rng;
pub mod suite;
pub mod train;

pub use error::{Error, Result};
