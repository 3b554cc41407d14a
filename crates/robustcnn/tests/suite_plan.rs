//! Suite recipes: the grid expands into one config per run, each method gets only its own
//! settings, and every malformed recipe is one clear error.
use robustcnn::config::{CaConfig, TenetConfig};
use robustcnn::suite::{self, ExecOptions, Observer, Outcome, RunPlan, RunState, Suite};
use robustcnn::train::{self, RunOptions};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const RECIPE: &str = r#"
[suite]
methods = ["baseline", "tenet", "fma+ca"]
seeds = [0, 1]
train_fractions = [1.0, 0.25]

[evaluate]
limit = 100
attacks = ["fgsm"]
eps = ["2/255"]

[model]
name = "small-cnn"

[train]
epochs = 2

[method.tenet]
switch = 1

[method.ca]
clean_fraction = 0.5
"#;

#[test]
fn the_grid_expands_into_one_config_per_run() {
    let s = Suite::from_toml("recipe.toml", RECIPE, &[]).unwrap();
    assert_eq!(s.runs.len(), 3 * 2 * 2);
    let names: Vec<&str> = s.runs.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"fashion-mnist-mini/small-cnn/all/baseline/seed-0"));
    assert!(names.contains(&"fashion-mnist-mini/small-cnn/frac-0.25/fma+ca/seed-1"));
    for r in &s.runs {
        assert_eq!(r.config.train.seed, r.seed);
        assert_eq!(r.config.data.train_fraction, r.train_fraction);
        assert_eq!(r.config.method.name, r.method);
        assert_eq!(r.config.train.epochs, 2, "the shared schedule");
        // Each run carries only the settings of its own methods.
        assert_eq!(r.config.method.get::<TenetConfig>().map(|t| t.switch), (r.method == "tenet").then_some(1));
        assert_eq!(r.config.method.get::<CaConfig>().is_some(), r.method == "fma+ca");
    }
    assert_eq!(s.protocol.limit, Some(100));
    // Overrides reach any table.
    let s = Suite::from_toml("recipe.toml", RECIPE, &["suite.seeds=[3]".into(), "train.epochs=1".into()]).unwrap();
    assert_eq!(s.runs.len(), 3 * 2);
    assert!(s.runs.iter().all(|r| r.seed == 3 && r.config.train.epochs == 1));
}

#[test]
fn malformed_recipes_are_one_clear_error() {
    let err = |extra: &[&str]| {
        let sets: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Suite::from_toml("recipe.toml", RECIPE, &sets).unwrap_err().to_string()
    };
    let cases: [(&[&str], &str); 16] = [
        (&["suite.methods=[\"baseline\",\"dropin\"]"], "unknown method 'dropin'"),
        (&["suite.baseline=\"lfm\""], "suite.baseline 'lfm' is not one of suite.methods"),
        (&["suite.seeds=[1,1]"], "suite.seeds lists 1 twice"),
        (&["suite.methods=[]"], "suite.methods must name at least one method"),
        (&["suite.train_fractions=[0.0]"], "suite.train_fractions must list fractions in (0, 1]"),
        (&["suite.epochs=3"], "[suite]: unknown field `epochs`"),
        (&["evaluate.attacks=[\"cw\"]"], "evaluate.attacks cw: unknown attack"),
        (&["evaluate.attacks=[\"pgd:step=3\"]"], "pgd has no parameter 'step' (it has: steps, alpha"),
        (
            &["evaluate.attacks=[\"autoattack:version=fast\"]"],
            "autoattack:version=fast: expected standard, plus or rand",
        ),
        (&["evaluate.eps=[\"2\"]"], "evaluate.eps 2: an ℓ∞ budget must lie in [0, 1]"),
        (&["evaluate.eps=[\"8/255\",\"8/255\"]"], "evaluate.eps lists 8/255 twice"),
        (&["evaluate.attacks=[\"pgd\",\"fgsm\",\"pgd\"]"], "evaluate.attacks lists pgd twice"),
        (
            &["evaluate.attacks=[\"square:p_init=0.5\",\"square\"]"],
            "evaluate.attacks: square:p_init=0.5 and square would both be reported as Square-5000",
        ),
        (&["evaluate.corruptions=\"haze\""], "evaluate.corruptions"),
        (&["method.name=\"lfm\""], "a suite names its methods in suite.methods"),
        (&["optim.lr=-1"], "optim.lr must be a positive number"),
    ];
    for (sets, want) in cases {
        let e = err(sets);
        assert!(e.contains("recipe.toml") && e.contains(want), "{sets:?}: {e}");
    }
    let e = Suite::from_toml("recipe.toml", "[suite\n", &[]).unwrap_err().to_string();
    assert!(e.starts_with("recipe.toml: "), "{e}");
    let e = Suite::from_toml(
        "recipe.toml",
        "[suite]\nmethods = [\"lfm\"]\nbaseline = \"lfm\"\n[method.tenet]\nswitch = 1\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("method.tenet") && e.contains("no method of the suite uses it"), "{e}");
    // Narrowing the grid with --set keeps the recipe's own sections valid, and they still reach the runs.
    let recipe = "[suite]\nmethods = [\"baseline\", \"tenet\"]\n[method.tenet]\nswitch = 1\n";
    let narrowed = Suite::from_toml("recipe.toml", recipe, &["suite.methods=[\"baseline\"]".into()]).unwrap();
    assert_eq!(narrowed.runs.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["baseline"]);
    let e = Suite::from_toml("recipe.toml", recipe, &["method.lfm.probability=0.5".into()]).unwrap_err().to_string();
    assert!(e.contains("method.lfm") && e.contains("no method of the suite uses it"), "{e}");
}

/// Records what the suite reports.
#[derive(Default)]
struct Record {
    started: Vec<(String, RunState)>,
    ended: Vec<String>,
}

impl Observer for Record {
    fn run_started(&mut self, _: usize, _: usize, run: &RunPlan, state: RunState, _: Option<f64>) {
        self.started.push((run.name.clone(), state));
    }
    fn phase(&mut self, _: &str) {}
    fn run_ended(&mut self, _: usize, run: &RunPlan, outcome: &Outcome) {
        let what = match outcome {
            Outcome::Skipped => "skipped".to_string(),
            Outcome::Completed { .. } => "completed".to_string(),
            Outcome::Failed { error } => format!("failed: {error}"),
        };
        self.ended.push(format!("{} {what}", run.name));
    }
}

#[test]
fn an_interrupted_run_resumes_and_finished_runs_are_skipped() {
    let recipe =
        "[suite]\nmethods = [\"baseline\"]\nseeds = [0, 1]\n[evaluate]\nlimit = 20\ncorruptions = \"\"\nattacks = []\n\
                  [data]\nbatch_size = 64\n[train]\nsteps = 6\nlog_every = 1\n";
    let suite = Suite::from_toml("recipe.toml", recipe, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_path_buf();
    // Seed 1 was stopped after 3 of its 6 steps.
    let run = &suite.runs[1];
    let stop = RunOptions {
        out: Suite::run_dir(&out, run),
        resume: false,
        interrupt: Arc::new(AtomicBool::new(false)),
        stop_after: Some(3),
        progress: false,
        dist: None,
    };
    std::fs::create_dir_all(out.join("runs")).unwrap();
    assert!(matches!(train::train(&run.config, &stop), Err(robustcnn::Error::Interrupted(_))));
    assert_eq!(suite::run_state(&out, &suite, run), RunState::Resume);
    let opts = ExecOptions {
        out: out.clone(),
        device: None,
        interrupt: Arc::new(AtomicBool::new(false)),
        progress: false,
        dist: None,
    };
    let mut rec = Record::default();
    suite::execute(&suite, &opts, &mut rec).unwrap();
    assert_eq!(rec.started[0].1, RunState::Fresh);
    assert_eq!(rec.started[1].1, RunState::Resume);
    assert!(rec.ended.iter().all(|e| e.ends_with("completed")), "{:?}", rec.ended);
    // The resumed run logged each of its 6 steps once.
    let metrics = std::fs::read_to_string(Suite::run_dir(&out, run).join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "step")
        .map(|v| v["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [1, 2, 3, 4, 5, 6]);
    let mut rec = Record::default();
    suite::execute(&suite, &opts, &mut rec).unwrap();
    assert!(rec.started.iter().all(|s| s.1 == RunState::Done) && rec.ended.iter().all(|e| e.ends_with("skipped")));
}
