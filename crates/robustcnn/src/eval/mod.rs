//! Evaluation: clean accuracy and calibration (corruption and attack evaluation build on this).
pub mod clean;
