//! Evaluation: clean accuracy and calibration, and common corruptions.
pub mod clean;
pub mod corruptions;
pub mod plot;
