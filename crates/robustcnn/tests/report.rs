//! The comparison table and its statistics: means and deviations over seeds, relative mCE against
//! the baseline, the best marks, Welch's test, and the Markdown / CSV renderings.
use robustcnn::eval::corruptions::{summarize, Cell};
use robustcnn::eval::store::{Evaluation, ResultsStore};
use robustcnn::report::compare::{compare, relative_mce};
use robustcnn::report::load_runs;
use robustcnn::report::results::{AttackCell, Provenance, RunResults};
use robustcnn::report::stats::{incomplete_beta, mean_std, student_t_two_sided, welch_p};
use serde_json::json;
use std::path::{Path, PathBuf};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn student_t_matches_closed_forms_and_tables() {
    // df = 1 is the Cauchy distribution: P(|T| > 1) = 1/2. df = 2: P(|T| > t) = 1 − t/√(2 + t²).
    assert!(close(student_t_two_sided(1.0, 1.0), 0.5, 1e-10));
    assert!(close(student_t_two_sided(2.0, 2.0), 1.0 - 2.0 / 6f64.sqrt(), 1e-10));
    // The two-sided 5 % critical value for 10 degrees of freedom is 2.2281.
    assert!(close(student_t_two_sided(2.228_138_9, 10.0), 0.05, 1e-6));
    assert!(close(student_t_two_sided(0.0, 7.0), 1.0, 1e-12));
    // I_x(a, 1) = x^a and the symmetry I_x(a, b) = 1 − I_{1−x}(b, a).
    assert!(close(incomplete_beta(3.0, 1.0, 0.4), 0.4f64.powi(3), 1e-12));
    assert!(close(incomplete_beta(2.5, 0.5, 0.3), 1.0 - incomplete_beta(0.5, 2.5, 0.7), 1e-12));
}

#[test]
fn welch_test_matches_a_hand_computation() {
    // t = −1.8974 with 5.882 degrees of freedom; p from integrating the t density numerically.
    let p = welch_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 6.0, 8.0, 10.0]).unwrap();
    assert!(close(p, 0.107_531_2, 1e-6), "{p}");
    assert_eq!(welch_p(&[1.0], &[2.0, 3.0]), None, "one seed: no test");
    assert_eq!(welch_p(&[1.0, 1.0], &[2.0, 2.0]), None, "no spread: no test");
    let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
    assert!(close(m, 2.5, 1e-12) && close(s.unwrap(), (5.0f64 / 3.0).sqrt(), 1e-12));
    assert_eq!(mean_std(&[3.0]).1, None);
}

/// Evaluated under setting `setting` on `samples` images.
fn from(setting: &str, samples: usize) -> Provenance {
    Provenance { id: format!("{setting}-id"), setting: setting.into(), samples, others: 0, instead_of: None }
}

/// A run with clean accuracy `clean`, the same error `e` on every benchmark corruption, and one PGD
/// result, all evaluated under setting "s" on 100 images.
fn run(method: &str, seed: u64, clean: f64, e: f64, pgd: f64) -> RunResults {
    let cells: Vec<Cell> = corrupt::BENCHMARK
        .iter()
        .map(|c| Cell { corruption: c.to_string(), severity: 1, samples: 100, accuracy: 1.0 - e, map: None })
        .collect();
    RunResults {
        dir: PathBuf::from(format!("runs/{method}/seed-{seed}")),
        method: method.into(),
        seed,
        model: "small-cnn".into(),
        dataset: "fashion-mnist-mini".into(),
        train_fraction: 1.0,
        clean,
        metric: "accuracy".into(),
        retrieval_map: None,
        clean_from: from("s", 100),
        corruption: Some(summarize(String::new(), "best".into(), clean, &[1], cells, false)),
        corruption_from: Some(from("s", 100)),
        attacks: vec![AttackCell {
            attack: "PGD-10".into(),
            eps: 2.0 / 255.0,
            eps_text: "2/255".into(),
            robust_accuracy: pgd,
            samples: 100,
            map: None,
        }],
        attacks_from: Some(from("s", 100)),
        attack_clean: Some(clean),
        epochs: Vec::new(),
        explain_png: None,
        kept_settings: Vec::new(),
    }
}

#[test]
fn comparison_summarises_seeds_and_compares_with_the_baseline() {
    let runs = vec![
        run("lfm", 0, 0.82, 0.30, 0.60),
        run("baseline", 0, 0.80, 0.40, 0.50),
        run("baseline", 1, 0.80, 0.50, 0.52),
        run("lfm", 1, 0.84, 0.34, 0.64),
    ];
    let cmp = compare(&runs, Some("baseline"));
    let labels: Vec<&str> = cmp.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["baseline", "lfm"], "the baseline comes first");
    let col = |key: &str| cmp.columns.iter().position(|c| c.key == key).unwrap();
    let (clean, mce, rel, pgd) = (col("clean#s"), col("mce#s"), col("relative_mce#s"), col("attack:PGD-10@2/255#s"));
    let lfm = &cmp.rows[1];
    let cell = |j: usize| lfm.cells[j].as_ref().unwrap();
    assert!(close(cell(clean).mean, 83.0, 1e-9) && close(cell(clean).std.unwrap(), 2f64.sqrt(), 1e-9));
    assert!(close(cell(mce).mean, 32.0, 1e-9));
    // Baseline degradation: mean error 0.45 − clean error 0.20 = 0.25 on every corruption.
    // lfm seed 0: (0.30 − 0.18) / 0.25 = 48 %; seed 1: (0.34 − 0.16) / 0.25 = 72 %.
    assert!(close(cell(rel).values[0], 48.0, 1e-9) && close(cell(rel).values[1], 72.0, 1e-9));
    assert!(close(cmp.rows[0].cells[rel].as_ref().unwrap().mean, 100.0, 1e-9), "the baseline is 100 against itself");
    assert!(cell(clean).best && cell(mce).best && cell(rel).best && cell(pgd).best);
    assert!(!cmp.rows[0].cells[clean].as_ref().unwrap().best);
    let d = lfm.diffs[pgd].as_ref().unwrap();
    assert!(close(d.delta, 11.0, 1e-9));
    assert_eq!(d.p, welch_p(&[60.0, 64.0], &[50.0, 52.0]));
    assert!(cmp.rows[0].diffs.iter().all(Option::is_none), "no difference of the baseline to itself");
    // Relative mCE takes E_clean from the corruption evaluation's own images: a clean column from a
    // fuller evaluation (another protocol) does not enter it.
    let mut fuller = runs[0].clone();
    fuller.clean = 0.5;
    let base = [&runs[1], &runs[2]];
    assert_eq!(relative_mce(&fuller, &base), relative_mce(&runs[0], &base));
    // With all of the baseline's corruption errors equal to its clean error, relative mCE is undefined.
    let flat = run("baseline", 0, 0.80, 0.20, 0.5);
    assert_eq!(relative_mce(&runs[0], &[&flat]), None);
}

#[test]
fn the_mce_notes_come_only_with_the_mce_columns() {
    let runs = vec![run("baseline", 0, 0.80, 0.40, 0.50), run("lfm", 0, 0.82, 0.30, 0.60)];
    let mentions = |runs: &[RunResults]| {
        let notes = compare(runs, Some("baseline")).notes;
        (notes.iter().any(|n| n.starts_with("mCE: ")), notes.iter().any(|n| n.starts_with("rel. mCE: ")))
    };
    assert_eq!(mentions(&runs), (true, true));
    // Noise corruptions only: no mCE column, so no note explaining one.
    let noise_only: Vec<RunResults> = runs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let c = r.corruption.as_ref().unwrap();
            let cells = c.cells.iter().filter(|x| x.corruption.ends_with("_noise")).cloned().collect();
            r.corruption = Some(summarize(String::new(), "best".into(), r.clean, &[1], cells, false));
            r
        })
        .collect();
    assert!(noise_only[0].mce().is_none());
    assert_eq!(mentions(&noise_only), (false, false));
}

#[test]
fn markdown_and_csv_carry_the_same_numbers() {
    let runs = vec![
        run("baseline", 0, 0.80, 0.40, 0.50),
        run("baseline", 1, 0.81, 0.42, 0.50),
        run("tenet", 0, 0.85, 0.30, 0.55),
    ];
    let cmp = compare(&runs, Some("baseline"));
    let md = cmp.markdown();
    assert!(md.contains("| baseline | 2 | 80.50 ± 0.71 |"), "{md}");
    assert!(md.contains("| images | | 100 | 100 |"), "every column says how many images: {md}");
    assert!(md.contains("| tenet | 1 | **85.00** |"), "{md}");
    assert!(md.contains("Difference to baseline") && md.contains("+4.50"), "{md}");
    let csv = cmp.csv();
    assert!(
        csv.starts_with("label,method,model,dataset,train_fraction,column,setting,images,mean,std,seeds,values,best")
    );
    assert!(
        csv.contains(
            "baseline,baseline,small-cnn,fashion-mnist-mini,1,clean,s,100,80.5000,0.707107,2,80.0000;81.0000,false,,"
        ),
        "{csv}"
    );
    assert!(
        csv.contains("tenet,tenet,small-cnn,fashion-mnist-mini,1,PGD-10 2/255,s,100,55.0000,,1,55.0000,true,5.000000,"),
        "{csv}"
    );
}

#[test]
fn runs_evaluated_under_two_protocols_never_share_a_column() {
    let mut quick = run("lfm", 0, 0.90, 0.30, 0.70);
    quick.attacks_from = Some(from("q", 10));
    quick.attacks[0].samples = 10;
    let runs = vec![run("baseline", 0, 0.80, 0.40, 0.50), run("lfm", 1, 0.84, 0.34, 0.64), quick];
    let cmp = compare(&runs, Some("baseline"));
    let labels: Vec<&str> = cmp.columns.iter().map(|c| c.label.as_str()).collect();
    assert!(labels.contains(&"PGD-10 2/255 [s]") && labels.contains(&"PGD-10 2/255 [q]"), "{labels:?}");
    let j = cmp.columns.iter().position(|c| c.key == "attack:PGD-10@2/255#s").unwrap();
    let k = cmp.columns.iter().position(|c| c.key == "attack:PGD-10@2/255#q").unwrap();
    let lfm = cmp.rows.iter().find(|r| r.method == "lfm").unwrap();
    assert_eq!(lfm.cells[j].as_ref().unwrap().values, [64.0], "only the run evaluated under s");
    assert_eq!(lfm.cells[k].as_ref().unwrap().values, [70.0], "only the run evaluated under q");
    assert!(lfm.diffs[k].is_none(), "the baseline has no value under q: no difference to it");
    assert_eq!((cmp.columns[j].samples, cmp.columns[k].samples), (Some(100), Some(10)));
    assert!(cmp.markdown().contains("| images | | 100 |"));
    // The clean column is one protocol for all three runs.
    assert_eq!(cmp.columns.iter().filter(|c| c.key.starts_with("clean#")).count(), 1);
}

#[test]
fn runs_all_read_from_their_most_complete_evaluation_share_one_note() {
    let kept = |mut r: RunResults, others: usize| {
        r.clean_from.others = others;
        r
    };
    let runs = vec![kept(run("baseline", 0, 0.80, 0.40, 0.50), 1), kept(run("lfm", 0, 0.82, 0.30, 0.60), 1)];
    let notes = compare(&runs, Some("baseline")).notes;
    let about = |notes: &[String], what: &str| notes.iter().filter(|n| n.contains(what)).count();
    assert_eq!(about(&notes, "clean from the most complete of its 2 evaluations"), 1, "{notes:?}");
    assert!(notes
        .iter()
        .any(|n| n.starts_with("Every run: clean from the most complete of its 2 evaluations (100 images")));
    // Runs that differ are each named.
    let runs = vec![kept(run("baseline", 0, 0.80, 0.40, 0.50), 1), kept(run("lfm", 0, 0.82, 0.30, 0.60), 2)];
    let notes = compare(&runs, Some("baseline")).notes;
    assert_eq!(about(&notes, "Every run:"), 0, "{notes:?}");
    assert_eq!(about(&notes, "runs/baseline/seed-0: clean from the most complete of its 2 evaluations"), 1);
    assert_eq!(about(&notes, "runs/lfm/seed-0: clean from the most complete of its 3 evaluations"), 1);
}

/// A run folder (seed `seed`) whose clean evaluations, in the order written, are (images, limit, top-1).
fn run_dir(root: &Path, seed: u64, evals: &[(usize, Option<usize>, f64)]) -> PathBuf {
    let dir = root.join(format!("seed-{seed}"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!("[data]\ndataset = \"fashion-mnist-mini\"\n[train]\nseed = {seed}\n");
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let store = ResultsStore::of_run(&dir);
    for &(images, limit, top1) in evals {
        let protocol = json!({"kind": "clean", "weights": "best", "weights_md5": format!("{seed}"), "split": "test", "images": images, "limit": limit});
        let summary = json!({"samples": images, "top1": top1}).to_string();
        store
            .write(Evaluation { kind: "clean", protocol, samples: images, files: vec![("clean.json", summary)] })
            .unwrap();
    }
    dir
}

#[test]
fn a_run_is_read_from_its_kept_evaluation_under_the_setting_the_others_share() {
    let root = tempfile::tempdir().unwrap();
    let a = run_dir(root.path(), 0, &[(500, Some(500), 0.80)]);
    // Seed 1 was also evaluated on the whole set, which became its primary evaluation.
    let b = run_dir(root.path(), 1, &[(500, Some(500), 0.82), (1000, None, 0.85)]);
    let c = run_dir(root.path(), 2, &[(500, Some(500), 0.84)]);
    let (runs, skipped) = load_runs(&[a, b.clone(), c]);
    assert!(skipped.is_empty(), "{skipped:?}");
    let seed1 = runs.iter().find(|r| r.seed == 1).unwrap();
    assert_eq!((seed1.clean, seed1.clean_from.samples), (0.82, 500));
    assert!(seed1.clean_from.instead_of.is_some());
    let cmp = compare(&runs, None);
    assert_eq!(cmp.columns.iter().filter(|c| c.key.starts_with("clean#")).count(), 1, "one protocol, one column");
    let values = &cmp.rows[0].cells[0].as_ref().unwrap().values;
    assert_eq!(values.len(), 3, "{values:?}");
    assert!(cmp.notes.iter().any(|n| n.contains("clean from its evaluation under the setting the other runs share")));
    // Alone, a run is read from its primary evaluation.
    let (alone, _) = load_runs(std::slice::from_ref(&b));
    assert_eq!((alone[0].clean, alone[0].clean_from.instead_of.as_ref()), (0.85, None));
    // Two seeds, one re-evaluated on the whole set: the setting both keep wins the tie of primaries.
    let (two, _) = load_runs(&[b.clone(), root.path().join("seed-0")]);
    assert!(two.iter().all(|r| r.clean_from.samples == 500), "both read under the 500-image setting");
    // Every run evaluated on the whole set too: their primary evaluations are compared.
    let d = run_dir(root.path(), 3, &[(500, Some(500), 0.70), (1000, None, 0.75)]);
    let (full, _) = load_runs(&[b, d]);
    assert!(full.iter().all(|r| r.clean_from.samples == 1000 && r.clean_from.instead_of.is_none()));
}

#[test]
fn base64_encodes_like_rfc_4648() {
    use robustcnn::report::html::base64;
    for (raw, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
        assert_eq!(base64(raw.as_bytes()), enc);
    }
}
