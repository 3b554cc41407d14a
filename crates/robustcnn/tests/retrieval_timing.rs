//! A benchmark, not a check: retrieval scoring (similarities, ranking, CMC, mAP) at Market-1501's
//! test scale, 3,368 queries against 15,913 gallery images of 512-d features, timed twice.
//!   cargo test --release -p robustcnn --test retrieval_timing -- --ignored --nocapture
use robustcnn::data::reid::Retrieval;
use robustcnn::eval::retrieval::retrieval_metrics;
use std::time::Instant;

#[test]
#[ignore = "a benchmark: prints timings"]
fn time_market_scale_scoring() {
    let (nq, ng, dim) = (3368usize, 15913usize, 512usize);
    let n = nq + ng;
    let mut state = 12345u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut f: Vec<f32> = (0..n * dim).map(|_| next()).collect();
    for i in 0..n {
        let r = &mut f[i * dim..(i + 1) * dim];
        let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt();
        r.iter_mut().for_each(|x| *x /= norm);
    }
    let r = Retrieval {
        ids: (0..n).map(|i| (i % 750) as i64).collect(),
        cameras: (0..n).map(|i| (i % 6) as u16 + 1).collect(),
        queries: nq,
    };
    for round in 0..2 {
        let t = Instant::now();
        let m = retrieval_metrics(&f, dim, &r);
        eprintln!(
            "retrieval scoring, round {round}: {:.2} s (Rank-1 {:.4}, mAP {:.4})",
            t.elapsed().as_secs_f64(),
            m.rank1,
            m.map
        );
    }
}
