//! Evaluation: clean accuracy and calibration, common corruptions, and adversarial attacks.
pub mod attack_report;
pub mod attacks;
pub mod clean;
pub mod corruptions;
pub mod multilabel;
pub mod multilabel_attacks;
pub mod plot;
pub mod protocol;
pub mod reference;
pub mod reid_attack_report;
pub mod rerank;
pub mod retrieval;
pub mod retrieval_robustness;
pub mod robustbench;
pub mod shard;
pub mod similarity;
pub mod store;
