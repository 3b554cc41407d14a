//! Person re-identification: the Market-1501 / DukeMTMC-reID reader, CMC and mAP as the Market-1501
//! evaluation code computes them (against hand-computed rankings), LGPR and the backbone's lower
//! learning rate.
#[path = "common/layouts.rs"]
mod layouts;
use robustcnn::data::reid::{parse_name, read_folder, Retrieval};
use robustcnn::data::{load_split, DataSource};
use robustcnn::eval::retrieval::{query_ap, rank, retrieval_metrics};
use robustcnn::methods::lgpr::{lgpr, luma, LgprConfig};

#[test]
fn file_names_give_person_and_camera_in_both_layouts() {
    assert_eq!(parse_name("0002_c1s1_000451_03.jpg"), Some((2, 1)));
    assert_eq!(parse_name("-1_c3s2_012345_00.jpg"), Some((-1, 3)));
    assert_eq!(parse_name("0000_c6s1_000001_00.jpg"), Some((0, 6)));
    assert_eq!(parse_name("0005_c2_f0046985.jpg"), Some((5, 2)));
    for bad in ["Thumbs.jpg", "0002_s1_000451.jpg", "x_c1.jpg", "0002_c_1.jpg"] {
        assert_eq!(parse_name(bad), None, "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    layouts::market(dir.path());
    layouts::image_file(&dir.path().join("query/person.jpg"), (4, 4), [0, 0, 0], None);
    let e = read_folder(&dir.path().join("query")).unwrap_err().to_string();
    assert!(e.contains("person.jpg") && e.contains("<person>_c<camera>"), "{e}");
}

#[test]
fn the_market_reader_relabels_training_ids_and_puts_queries_before_the_gallery() {
    let dir = tempfile::tempdir().unwrap();
    layouts::market(dir.path());
    let src = DataSource { data_dir: Some(dir.path().into()), image_size: Some((32, 16)), ..Default::default() };
    let train = load_split("market1501", &src, "train").unwrap();
    assert_eq!(train.class_names, vec!["0002", "0007", "0010", "0011"]);
    assert_eq!(train.len(), 16);
    assert_eq!(&train.labels[..4], &[0, 0, 0, 0]);
    let test = load_split("market1501", &src, "test").unwrap();
    let r = test.retrieval.as_ref().unwrap();
    assert_eq!((r.queries, test.len()), (3, 14));
    assert_eq!(&r.ids[..3], &[3, 5, 8]);
    assert_eq!(r.ids.iter().filter(|&&i| i == -1).count(), 1);
    assert_eq!(test.num_classes(), 4, "the model's classes are the training identities");
}

#[test]
fn ap_leaves_out_junk_and_the_same_camera_and_uses_the_trapezoid() {
    // Query: person 1 on camera 1. Gallery by similarity: same person same camera (left out), person 2,
    // person 1 on camera 2, junk (left out), person 1 on camera 3.
    let gallery = [(1, 1), (2, 1), (1, 2), (-1, 2), (1, 3)];
    let (ap, first) = query_ap(&[0, 1, 2, 3, 4], (1, 1), &gallery).unwrap();
    // Kept ranking: person 2, match, match. Precision 1/2 then 2/3; the code's trapezoid:
    // 1/2 · (0 + 1/2)/2 + 1/2 · (1/2 + 2/3)/2.
    let want = 0.5 * (0.0 + 0.5) / 2.0 + 0.5 * (0.5 + 2.0 / 3.0) / 2.0;
    assert!((ap - want).abs() < 1e-12, "{ap} vs {want}");
    assert_eq!(first, 1);
    // A first-ranked match counts precision 1 on both sides of the trapezoid.
    assert_eq!(query_ap(&[2, 1], (1, 1), &gallery), Some((1.0, 0)));
    // Every true match on the query's own camera: nothing to find.
    assert_eq!(query_ap(&[0, 1], (1, 1), &[(1, 1), (2, 2)]), None);
}

#[test]
fn cmc_and_map_over_queries_skip_those_without_matches_and_rank_ties_in_gallery_order() {
    // 1-d features: queries a (person 1, cam 1), b (person 2, cam 1), c (person 9, cam 1, no match).
    // Gallery: person 2 cam 2 (0.5), person 1 cam 2 (0.5), person 1 cam 3 (-1).
    let features = [1.0f32, 1.0, 1.0, 0.5, 0.5, -1.0];
    let r = Retrieval { ids: vec![1, 2, 9, 2, 1, 1], cameras: vec![1, 1, 1, 2, 2, 3], queries: 3 };
    assert_eq!(rank(&[0.5, 0.5, -1.0]), vec![0, 1, 2], "ties keep gallery order");
    let m = retrieval_metrics(&features, 1, &r);
    assert_eq!(m.queries_without_matches, 1);
    // a: match at ranks 2 and 3 → AP 1/2·(0+1/2)/2 + 1/2·(1/2+2/3)/2; b: match first → AP 1.
    let ap_a = 0.5 * 0.25 + 0.5 * (0.5 + 2.0 / 3.0) / 2.0;
    assert!((m.map - (ap_a + 1.0) / 2.0).abs() < 1e-12, "{}", m.map);
    assert_eq!((m.rank1, m.rank5), (0.5, 1.0));
    assert_eq!(m.cmc.len(), 20);
}

#[test]
fn lgpr_turns_one_rectangle_gray_and_leaves_the_rest() {
    assert_eq!((luma(1.0, 0.0, 0.0) * 255.0).round(), 76.0, "PIL's L of pure red");
    let (h, w) = (20, 10);
    let mut chw: Vec<f32> = (0..3 * h * w).map(|i| [0.9, 0.2, 0.4][i / (h * w)]).collect();
    let before = chw.clone();
    let cfg = LgprConfig { probability: 1.0, ..Default::default() };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    lgpr(&mut chw, (h, w, 3), &cfg, &mut rng);
    let gray = luma(0.9, 0.2, 0.4);
    let changed: Vec<usize> = (0..h * w).filter(|&i| chw[i] != before[i]).collect();
    assert!(!changed.is_empty());
    for i in 0..h * w {
        let px = [chw[i], chw[h * w + i], chw[2 * h * w + i]];
        if changed.contains(&i) {
            assert_eq!(px, [gray; 3]);
        } else {
            assert_eq!(px, [0.9, 0.2, 0.4]);
        }
    }
    let mut never = before.clone();
    lgpr(&mut never, (h, w, 3), &LgprConfig { probability: 0.0, ..Default::default() }, &mut rng);
    assert_eq!(never, before);
}

use rand::SeedableRng;

#[test]
fn the_feature_attack_stays_in_budget_and_moves_the_query_feature_from_its_clean_one() {
    use robustcnn::eval::reid_attack_report::{FeatureAttack, FeatureAttackSpec};
    use robustcnn::eval::retrieval::features;
    use robustcnn::eval::retrieval_robustness::attack_queries;
    use robustcnn::models::{build, ModelSpec};
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let spec = ModelSpec { in_channels: 3, num_classes: 4, mean: vec![0.5; 3], std: vec![0.25; 3] };
    tch::manual_seed(0);
    let net = build(&vs.root(), "small-cnn", &spec).unwrap();
    let x = tch::Tensor::rand([3, 3, 16, 16], (tch::Kind::Float, tch::Device::Cpu));
    let clean = features(&net, &x);
    for attack in [FeatureAttack::IFgsm, FeatureAttack::MiFgsm] {
        let s = FeatureAttackSpec { attack, eps: 5.0 / 255.0, step: 1.0 / 255.0, iters: 10, momentum: 1.0, seed: 0 };
        let adv = attack_queries(&net, &x, &[0, 1, 2], &s);
        let pert = (&adv - &x).abs().max().double_value(&[]);
        assert!(pert <= s.eps + 1e-6 && adv.min().double_value(&[]) >= 0.0 && adv.max().double_value(&[]) <= 1.0);
        let moved = (features(&net, &adv) - &clean).pow_tensor_scalar(2).sum(tch::Kind::Float).double_value(&[]);
        assert!(moved > 0.0, "{attack:?} left the features where they were");
        // A random perturbation of the same size moves them less than the attack does.
        let noise = (&x + (tch::Tensor::rand_like(&x) * 2.0 - 1.0).sign() * s.eps).clamp(0.0, 1.0);
        let random = (features(&net, &noise) - &clean).pow_tensor_scalar(2).sum(tch::Kind::Float).double_value(&[]);
        assert!(moved > random, "{attack:?}: {moved} vs random {random}");
    }
}

#[test]
fn k_reciprocal_re_ranking_matches_the_re_id_baselines_code() {
    use robustcnn::eval::rerank::{rerank, Rerank};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reranking.json");
    let fixture: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for case in fixture["cases"].as_array().unwrap() {
        let n = |k: &str| case[k].as_u64().unwrap() as usize;
        let floats =
            |k: &str| case[k].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect::<Vec<_>>();
        let p = Rerank { k1: n("k1"), k2: n("k2"), lambda: case["lambda"].as_f64().unwrap() as f32 };
        let got = rerank(&floats("features"), n("dim"), n("queries"), p);
        let want = floats("final_dist");
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() < 1e-5, "{p:?} entry {i}: {g} vs the reference's {w}");
        }
    }
}

#[test]
fn feature_attacks_run_each_attack_at_each_budget_and_name_the_key_of_a_bad_one() {
    use robustcnn::eval::reid_attack_report::{feature_attack_specs, FeatureAttack};
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let keys = ["evaluate.feature_attacks", "evaluate.feature_eps", "evaluate.feature_step"];
    let specs =
        feature_attack_specs(&s(&["i-fgsm", "mi-fgsm"]), &s(&["2/255", " 5/255"]), "1/255", 15, 1.0, 0, keys).unwrap();
    let got: Vec<(FeatureAttack, String)> = specs.iter().map(|(x, t)| (x.attack, t.clone())).collect();
    assert_eq!(got[0], (FeatureAttack::IFgsm, "2/255".to_string()));
    assert_eq!(got[3], (FeatureAttack::MiFgsm, "5/255".to_string()));
    assert!((specs[3].0.eps - 5.0 / 255.0).abs() < 1e-12 && (specs[3].0.step - 1.0 / 255.0).abs() < 1e-12);
    let err = |a: &[&str], e: &[&str], step: &str| {
        feature_attack_specs(&s(a), &s(e), step, 15, 1.0, 0, keys).unwrap_err().to_string()
    };
    assert!(err(&["pgd"], &["5/255"], "1/255").contains("evaluate.feature_attacks pgd: expected i-fgsm or mi-fgsm"));
    assert!(err(&["i-fgsm"], &["5"], "1/255").contains("did you mean 5/255?"));
    assert!(err(&["i-fgsm"], &["5/255"], "0").contains("evaluate.feature_step 0, 15 iterations: the attack needs"));
}
