//! The bad-input matrix (RELIABILITY.md): malformed files for every reader and bad values for every
//! command's options, each with the one error line it must give. Every case must exit 1 with a
//! single `error: ` line (no panic), print nothing on stdout, and leave no output folder behind.
mod common;
use std::path::Path;

/// Writes the malformed inputs the cases refer to as {d}/… into `d`.
fn fixtures(d: &Path) {
    let w = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    let npy = |shape: &[usize], fill: usize| {
        let mut v = corrupt::npy::encode_header(shape);
        v.extend(std::iter::repeat_n(0u8, fill));
        v
    };
    let good = npy(&[5, 4, 4, 3], 240);
    // Replaces a header word by another of the same length.
    let swap = |from: &str, to: &str| {
        let at = good.windows(from.len()).position(|w| w == from.as_bytes()).unwrap();
        let mut v = good.clone();
        v[at..at + to.len()].copy_from_slice(to.as_bytes());
        v
    };
    w("npy/wrong-magic/gaussian_noise.npy", &[b"NOTNPY".as_slice(), &good[6..]].concat());
    w("npy/truncated/gaussian_noise.npy", &good[..good.len() - 7]);
    w("npy/float/gaussian_noise.npy", &swap("|u1", "<f4"));
    w("npy/fortran/gaussian_noise.npy", &swap("False", "True "));
    w("npy/count/gaussian_noise.npy", &npy(&[5000, 28, 28, 1], 5000 * 784));
    for case in ["wrong-magic", "truncated", "float", "fortran", "count", "missing"] {
        let n = if case == "count" { 4000 } else { 5000 };
        w(&format!("npy/{case}/labels.npy"), &npy(&[n], n));
    }
    let idx_images = |n: u32, bytes: usize| {
        let mut v = [0x803u32, n, 28, 28].iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
        v.resize(16 + bytes, 0);
        v
    };
    let idx_labels = [0x801u32, 10].iter().flat_map(|x| x.to_be_bytes()).chain([0u8; 10]).collect::<Vec<u8>>();
    w("idx/train-images-idx3-ubyte", &idx_images(10, 100));
    w("idx/t10k-images-idx3-ubyte", &idx_images(10, 7840));
    w("idx/train-labels-idx1-ubyte", &idx_labels);
    w("idx/t10k-labels-idx1-ubyte", &idx_labels);
    w("idx-magic/train-images-idx3-ubyte", &[[0u8, 0, 8, 1].as_slice(), &idx_images(10, 7840)[4..]].concat());
    w("idx-magic/train-labels-idx1-ubyte", &idx_labels);
    w("idx-gz/train-images-idx3-ubyte.gz", &[0x1f, 0x8b, 8, 0, 0, 0]);
    w("idx-gz/train-labels-idx1-ubyte", &idx_labels);
    for f in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"] {
        w(&format!("cifar/cifar-10-batches-bin/{f}.bin"), &vec![0u8; 3073 * 2 + 5]);
    }
    let mut label = vec![0u8; 3073];
    label[0] = 10;
    for f in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"] {
        w(&format!("cifar-label/cifar-10-batches-bin/{f}.bin"), &label);
    }
    for (name, bytes) in FILE_FIXTURES {
        w(name, bytes);
    }
    std::fs::create_dir_all(d.join("empty")).unwrap();
    image::RgbImage::from_pixel(32, 32, image::Rgb([100, 150, 200])).save(d.join("photo-32.png")).unwrap();
}

/// Small malformed files: (name under the fixtures folder, bytes).
const FILE_FIXTURES: &[(&str, &[u8])] = &[
    ("img/train/a/x.png", b"\x89PNG\r\n\x1a\nbroken"),
    ("img/test/a/x.png", b"\x89PNG\r\n\x1a\nbroken"),
    ("not-an-image.png", b"hello"),
    ("syntax.toml", b"[optim\nlr = 0.1\n"),
    ("unknown-key.toml", b"[optim]\nlearning_rate = 0.1\n"),
    ("wrong-type.toml", b"[train]\nepochs = \"ten\"\n"),
    ("suite-method.toml", b"[suite]\nmethods = [\"baseline\", \"nope\"]\n"),
    ("suite-attack.toml", b"[suite]\nmethods = [\"baseline\"]\n[evaluate]\nattacks = [\"nope\"]\n"),
    ("suite-unused.toml", b"[suite]\nmethods = [\"baseline\"]\n[method.lfm]\np = 0.5\n"),
    ("suite-eps.toml", b"[suite]\nmethods = [\"baseline\"]\n[evaluate]\neps = [\"eight\"]\n"),
    ("suite-severities.toml", b"[suite]\nmethods = [\"baseline\"]\n[evaluate]\nseverities = [3, 1, 3]\n"),
    ("suite-key.toml", b"[suite]\nmethods = [\"baseline\"]\n[evaluate]\nlimits = 5\n"),
    ("suite-ok.toml", b"[suite]\nmethods = [\"baseline\"]\n"),
    ("suite-sized.toml", b"[suite]\nmethods = [\"baseline\"]\n[evaluate]\npreset = \"sized\"\n"),
    ("a-file", b"x"),
];

/// (arguments, with {d} for the fixtures folder and {run} for a trained run; what the error line must contain).
const CASES: &[(&str, &str)] = &[
    // Dataset readers.
    (
        "train --dataset fashion-mnist --data-dir {d}/idx --out {d}/o",
        "idx/train-images-idx3-ubyte: header says 10 images of 28x28 (7840 bytes) but the file holds 100 bytes",
    ),
    (
        "train --dataset fashion-mnist --data-dir {d}/idx-magic --out {d}/o",
        "idx-magic/train-images-idx3-ubyte: wrong magic number 0x00000801, expected 0x00000803 (IDX u8 images)",
    ),
    (
        "train --dataset fashion-mnist --data-dir {d}/idx-gz --out {d}/o",
        "train-images-idx3-ubyte.gz: corrupt gzip data",
    ),
    (
        "train --dataset fashion-mnist --data-dir {d}/empty --out {d}/o",
        "fashion-mnist: no train-images-idx3-ubyte[.gz] in ",
    ),
    (
        "train --dataset cifar10 --data-dir {d}/cifar --out {d}/o",
        "data_batch_1.bin: 6151 bytes is not a whole number of 3073-byte CIFAR records",
    ),
    (
        "train --dataset cifar10 --data-dir {d}/cifar-label --out {d}/o",
        "label 10 of record 0 is out of range (expected 0..9)",
    ),
    ("train --dataset folder --data-dir {d}/img --out {d}/o", "img/train/a/x.png: unreadable image"),
    (
        "train --dataset folder --data-dir {d}/empty --out {d}/o",
        "empty/train: no such folder (dataset 'folder' reads DIR/train/<class>/<image>",
    ),
    ("train --dataset nope --out {d}/o", "unknown dataset 'nope' (datasets: fashion-mnist-mini, fashion-mnist"),
    // Recipes and overrides.
    ("train --config {d}/syntax.toml --out {d}/o", "syntax.toml: TOML parse error at line 1"),
    (
        "train --config {d}/unknown-key.toml --out {d}/o",
        "unknown-key.toml: unknown field `learning_rate`, expected one of `name`, `lr`",
    ),
    (
        "train --config {d}/wrong-type.toml --out {d}/o",
        "wrong-type.toml: invalid type: string \"ten\", expected usize in `train.epochs`",
    ),
    ("train --config {d}/missing.toml --out {d}/o", "missing.toml: No such file or directory (os error 2)"),
    ("train --set nokey --out {d}/o", "--set nokey: expected KEY=VALUE, e.g. optim.lr=0.05"),
    ("train --set optim.nope=1 --out {d}/o", "unknown field `nope`"),
    ("train --set optim=1 --set optim.lr=2 --out {d}/o", "--set optim.lr=2: 'optim' is not a section"),
    ("train --model nope --out {d}/o", "unknown model 'nope' (models: small-cnn, resnet20"),
    ("train --method nope --out {d}/o", "unknown method 'nope' (methods: baseline, lfm"),
    ("train --lr -1 --out {d}/o", "with the command-line settings: optim.lr must be a positive number"),
    ("train --lr nan --out {d}/o", "with the command-line settings: optim.lr must be a positive number"),
    (
        "train --lr 0.3 --set optim.lr=0.2 --out {d}/o",
        "--lr 0.3 and --set optim.lr=0.2 both set optim.lr, to different values; give it once",
    ),
    ("train --set optim.weight_decay=-0.1 --out {d}/o", "optim.weight_decay must be a number of at least 0"),
    ("train --set optim.betas=[0.9,1.5] --out {d}/o", "optim.betas must be two numbers in [0, 1)"),
    ("train --set optim.gamma=0 --out {d}/o", "optim.gamma must be a positive number"),
    ("train --set optim.min_lr=1 --out {d}/o", "optim.min_lr must not exceed optim.lr"),
    ("train --batch-size 0 --out {d}/o", "data.batch_size must be at least 1"),
    ("train --batch-size 100000 --out {d}/o", "data.batch_size 100000 is larger than the"),
    ("train --val-fraction 1.5 --out {d}/o", "data.val_fraction must be in [0, 1)"),
    (
        "train --set data.image_size=[48,48] --out {d}/o",
        "data.image_size 48x48: fashion-mnist-mini's images are 28x28 and are not resized",
    ),
    ("train --device tpu --out {d}/o", "--device tpu: expected cpu, cuda or cuda:N"),
    ("train --device cuda --out {d}/o", "--device cuda: libtorch sees 0 CUDA device(s)"),
    (
        "train --init {d}/empty --out {d}/o",
        "train.init {d}/empty: no weights there (expected a run directory holding best.safetensors",
    ),
    // Run directories and checkpoints.
    ("train --resume --out {d}/nowhere", "nowhere: no checkpoint.safetensors to resume from"),
    (
        "train --resume --out {d}/bad-checkpoint",
        "bad-checkpoint/checkpoint.safetensors: not a readable safetensors file",
    ),
    ("train --out {run}", "already holds a run; pass --resume to continue it, or choose another --out"),
    ("train --out {d}/a-file/run", "a-file/run: cannot create the run directory"),
    ("train --out /proc/robustcnn-run", "/proc/robustcnn-run: cannot create the run directory"),
    ("eval clean {d}/empty", "empty: not a run directory (no config.toml)"),
    (
        "eval clean {run} --weights {d}/nofile.safetensors",
        "nofile.safetensors: expected best, last or a .safetensors file, and there is no file",
    ),
    ("eval clean {run} --weights lastt", "--weights lastt: expected best, last or a .safetensors file"),
    ("eval clean {run} --results {run}/config.toml/r", "--results {d}/run/config.toml/r: {d}/run/config.toml is a file"),
    ("eval clean {run} --ap 11-point", "--ap 11-point: the AP definition is for multi-label runs (voc2012)"),
    ("eval clean {run} --weights {d}/a-file", "a-file: not a readable safetensors file"),
    ("eval clean {run} --device cuda", "--device cuda: libtorch sees 0 CUDA device(s)"),
    // Corruption evaluation and -C directories.
    ("eval corruptions {run} --corruptions nope", "--corruptions: unknown corruption 'nope' (known: gaussian_noise"),
    ("eval corruptions {run} --severities 0", "--severities: 0 is outside 1–5"),
    ("eval corruptions {run} --severities 6", "--severities: 6 is outside 1–5"),
    ("eval attack {run} --attack fgsm --steps 20", "--steps 20: sets PGD's schedule, and --attack fgsm has no pgd; add pgd"),
    ("eval attack {run} --attack autoattack --apgd-iters 20", "--apgd-iters 20: sets the iterations of apgd-ce, apgd-dlr, apgd-t and apgd, and --attack autoattack has none of them (autoattack keeps its own 100)"),
    ("eval corruptions {run} --severities 4-2", "--severities: the range 4-2 runs backwards (write 2-4)"),
    ("eval corruptions {run} --severities 1-3,3", "--severities: 3 is listed twice"),
    ("corrupt --dataset fashion-mnist-mini --out {d}/o --severities 1-", "--severities: '1-' is not a severity (give numbers or ranges in 1–5: 1,3 or 1-5)"),
    ("corrupt --dataset fashion-mnist-mini --out {d}/o --severities 2-9", "--severities: 9 is outside 1–5"),
    ("eval corruptions {run} --preset nope", "--preset: unknown preset 'nope' (known: cifar, imagenet, sized)"),
    ("eval corruptions {run} --reference {d}/empty", "--reference {d}/empty: no corruption results there"),
    ("eval corruptions {run} --from {d}/a-file", "--from {d}/a-file: not a directory (expected a -C directory"),
    ("eval corruptions {run} --from {d}/npy/missing", "npy/missing/gaussian_noise.npy: missing; pass --corruptions"),
    (
        "eval corruptions {run} --corruptions gaussian_noise --from {d}/npy/wrong-magic",
        "gaussian_noise.npy: not a .npy file (no \\x93NUMPY magic)",
    ),
    (
        "eval corruptions {run} --corruptions gaussian_noise --from {d}/npy/truncated",
        "gaussian_noise.npy: shape [5, 4, 4, 3] needs 240 bytes of data, the file holds 233",
    ),
    (
        "eval corruptions {run} --corruptions gaussian_noise --from {d}/npy/float",
        "gaussian_noise.npy: dtype <f4 is not uint8 ('|u1')",
    ),
    (
        "eval corruptions {run} --corruptions gaussian_noise --from {d}/npy/fortran",
        "gaussian_noise.npy: only C-order arrays are supported",
    ),
    (
        "eval corruptions {run} --corruptions gaussian_noise --from {d}/npy/count",
        "the model and labels.npy expect [4000, 28, 28, 1]",
    ),
    // Attacks.
    ("eval attack {run} --eps abc", "--eps abc: expected a non-negative number or a fraction such as 8/255"),
    ("eval attack {run} --eps -1", "--eps -1: expected a non-negative number"),
    ("eval attack {run} --attack nope", "--attack nope: unknown attack (attacks: fgsm, pgd, apgd-ce, apgd-dlr, apgd-t, apgd, fab"),
    ("eval attack {run} --attack pgd,fgsm,pgd", "--attack lists pgd twice"),
    ("eval attack {run} --eps 2/255,2/255", "--eps lists 2/255 twice"),
    ("eval attack {run} --attack pgd:steps=5:steps=7", "--attack pgd:steps=5:steps=7: gives steps twice"),
    ("eval attack {run} --attack fab:iters=5,fab", "--attack: fab:iters=5 and fab would both be reported as FAB"),
    ("eval attack {run} --attack apgd-t:targets=12", "--attack apgd-t:targets=12: this dataset has 10 classes, so at most 9"),
    // Suites, comparisons and reports.
    ("suite {d}/missing.toml --out {d}/o", "missing.toml: No such file or directory"),
    ("suite {d}/syntax.toml --out {d}/o", "syntax.toml: TOML parse error"),
    ("suite {d}/suite-method.toml --out {d}/o", "suite-method.toml: suite.methods: unknown method 'nope'"),
    (
        "suite {d}/suite-attack.toml --out {d}/o",
        "suite-attack.toml: evaluate.attacks nope: unknown attack (attacks: fgsm, pgd",
    ),
    ("suite {d}/suite-severities.toml --out {d}/o", "suite-severities.toml: evaluate.severities 3 is listed twice"),
    ("suite {d}/suite-unused.toml --out {d}/o", "suite-unused.toml: method.lfm: no method of the suite uses it"),
    (
        "suite {d}/suite-eps.toml --out {d}/o",
        "suite-eps.toml: evaluate.eps eight: expected a non-negative number or a fraction such as 8/255",
    ),
    (
        "suite {d}/suite-key.toml --out {d}/o",
        "suite-key.toml: [evaluate]: unknown field `limits`, expected one of `weights`",
    ),
    (
        "suite {d}/suite-ok.toml --seeds 1 --set suite.seeds=[2] --out {d}/o",
        "--seeds 1 and --set suite.seeds=[2] both set suite.seeds, to different values; give it once",
    ),
    ("compare {d}/empty", "empty: holds no run directories (none with a config.toml)"),
    (
        "suite {d}/suite-sized.toml --out {d}/o",
        "suite-sized.toml: evaluate.preset for dataset fashion-mnist-mini: the sized preset (imagecorruptions) needs images of at least 32x32 px",
    ),
    ("compare {d}/nowhere", "nowhere: not a run or suite directory"),
    ("report {d}/nowhere", "nowhere: not a run or suite directory"),
    ("demo --methods nope --out {d}/o", "--methods nope: not in the suite (its methods: baseline, lfm"),
    // The corruption engine's command.
    ("corrupt --dataset fashion-mnist-mini --out {d}/o --corruptions nope", "--corruptions: unknown corruption 'nope'"),
    ("corrupt --dataset fashion-mnist-mini --out {d}/o --severities 1,9", "--severities: 9 is outside 1–5"),
    (
        "corrupt --dataset fashion-mnist-mini --out /proc/robustcnn-c",
        "/proc/robustcnn-c: cannot create the output directory",
    ),
    ("corrupt --dataset fashion-mnist-mini", "give --out DIR for the corrupted dataset"),
    (
        "corrupt --dataset fashion-mnist-mini --limit 2 --corruptions fog --out {run}",
        "/run: holds other files and no manifest.json, so it is not a set `robustcnn corrupt` wrote",
    ),
    (
        "corrupt --dataset fashion-mnist-mini --image-size 64 --out {d}/o",
        "--image-size 64x64: fashion-mnist-mini's images are 28x28 and are not resized",
    ),
    (
        "corrupt --dataset fashion-mnist-mini --out {d}/o --preset sized",
        "--preset: the sized preset (imagecorruptions) needs images of at least 32x32 px, as its reference does; \
         these are 28x28",
    ),
    ("eval corruptions {run} --preset sized", "--preset: the sized preset (imagecorruptions) needs images of at least"),
    ("corrupt --dataset nope --out {d}/o", "unknown dataset 'nope'"),
    ("corrupt preview {d}/not-an-image.png --out {d}/o.png", "not-an-image.png: not a readable PNG or JPEG image"),
    ("corrupt preview {d}/photo-32.png --zoom 100 --out {d}/o.png", "--zoom 100: the sheet would be 19430×60856 pixels, over 256 megapixels; give --zoom 47 or less"),
    ("corrupt preview {d}/nofile.png --out {d}/o.png", "nofile.png: not a readable PNG or JPEG image"),
    // Explain, data and bench.
    ("explain {run} {d}/not-an-image.png --out {d}/o.png", "not-an-image.png: not a readable PNG or JPEG image"),
    ("explain {run} test:999999 --out {d}/o.png", "test:999999: the test set has 1000 images (0..999)"),
    ("eval clean {run} --weights {d}/resnet20/model.safetensors", "resnet20/model.safetensors: weights of a resnet20 run ({d}/resnet20), and {d}/run is a small-cnn run"),
    ("explain {run} test:0 --label 2 --out {d}/o.png", "--label 2: test:0 is of class 9 (Ankle boot); --label gives"),
    ("explain {run} train:0 --out {d}/o.png", "train:0: no such image file (give a PNG or JPEG file, or test:N"),
    ("explain {d}/empty test:0 --out {d}/o.png", "empty: not a run directory (no config.toml)"),
    ("data info nope", "unknown dataset 'nope'"),
    ("data fetch nope", "data fetch nope: nothing to download (fetchable: fashion-mnist, mnist, cifar10, cifar100, voc2012, cub200)"),
    ("data fetch nope --data-dir {d}/o", "data fetch nope: nothing to download (fetchable: "),
    ("data fetch cifar10 --data-dir /proc/robustcnn", "/proc/robustcnn: cannot create the download folder"),
    (
        "import {run}/model.safetensors --from torchvision --arch resnet18 --dataset fashion-mnist-mini --out {d}/o",
        "(import: --mean/--std): the images have 1 channel(s), so the normalisation needs 1 mean(s)",
    ),
    ("bench --methods nope", "--methods: unknown method 'nope'"),
    ("bench --epoch nope", "--epoch: unknown dataset 'nope'"),
    ("bench --models resnet20,nope", "--models: unknown model 'nope' (models: small-cnn, resnet20"),
    (
        "bench --models small-cnn --batch 2 --iters 1 --input 1x2x2",
        "the input images are too small for this model, whose stages shrink them below its kernels (libtorch: ",
    ),
    ("corrupt bench --corruptions nope", "--corruptions: unknown corruption 'nope' (known: gaussian_noise"),
];

/// Cases that fail only once the work has started (the table's header is already out).
const PRINT_BEFORE_FAILING: &[&str] = &["bench --models small-cnn --batch 2 --iters 1 --input 1x2x2"];

#[test]
fn every_bad_input_gives_its_one_error_line_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixtures(d);
    let run = d.join("run");
    common::short_run(&run.display().to_string(), "3");
    // A run folder of another architecture, whose weights file has the small CNN's names but not its shapes.
    std::fs::create_dir_all(d.join("resnet20")).unwrap();
    std::fs::write(d.join("resnet20/config.toml"), "[model]\nname = \"resnet20\"\n").unwrap();
    std::fs::copy(run.join("model.safetensors"), d.join("resnet20/model.safetensors")).unwrap();
    std::fs::create_dir_all(d.join("bad-checkpoint")).unwrap();
    std::fs::copy(run.join("config.toml"), d.join("bad-checkpoint/config.toml")).unwrap();
    std::fs::write(d.join("bad-checkpoint/checkpoint.safetensors"), b"junk").unwrap();
    let mut failures = Vec::new();
    for (args, want) in CASES {
        let line = args.replace("{d}", &d.display().to_string()).replace("{run}", &run.display().to_string());
        let argv: Vec<&str> = line.split(' ').collect();
        let out = common::robustcnn(&argv);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let one_line = err.starts_with("error: ") && err.trim_end().lines().count() == 1;
        let want = want.replace("{d}", &d.display().to_string());
        let quiet = out.stdout.is_empty() || PRINT_BEFORE_FAILING.contains(args);
        if out.status.code() != Some(1) || !one_line || !err.contains(&want) || !quiet {
            failures.push(format!(
                "robustcnn {args}\n  expected exit 1, no output and one line containing: {want}\n  got {:?}: {err}{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    for leftover in ["o", "o.png"] {
        assert!(!d.join(leftover).exists(), "a failed command left {leftover} behind");
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
    println!("bad-input matrix: {} cases", CASES.len());
}

#[test]
fn option_syntax_errors_are_reported_by_the_parser_with_a_pointer_to_help() {
    for (args, want) in [
        (&["train", "--epochs", "ten"][..], "invalid value 'ten' for '--epochs <EPOCHS>'"),
        (&["train", "--nope"][..], "unexpected argument '--nope' found"),
        (&["eval", "attack", "run", "--attacks", "fgsm"][..], "unexpected argument '--attacks' found"),
        (&["corrupt", "--limit"][..], "a value is required for '--limit <LIMIT>'"),
        (
            &["corrupt", "--limit", "0"][..],
            "invalid value '0' for '--limit <LIMIT>': expected a whole number of at least 1",
        ),
        (&["train", "--stop-after", "0"][..], "invalid value '0' for '--stop-after <STEPS>': expected a whole number"),
        (&["eval", "clean", "run", "--batch-size", "0"][..], "invalid value '0' for '--batch-size <BATCH_SIZE>'"),
        (
            &["corrupt", "preview", "x.png", "--out", "y.png", "--zoom", "0"][..],
            "invalid value '0' for '--zoom <ZOOM>'",
        ),
        (&["frobnicate"][..], "unrecognized subcommand 'frobnicate'"),
    ] {
        let out = common::robustcnn(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(want) && err.contains("--help"), "{args:?}: {err}");
    }
}

#[test]
fn an_unknown_malloc_choice_is_one_error_before_any_work() {
    let bin = env!("CARGO_BIN_EXE_robustcnn");
    let out = std::process::Command::new(bin).env("ROBUSTCNN_MALLOC", "sytem").arg("models").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end(), "error: ROBUSTCNN_MALLOC=sytem: expected `keep` (the default) or `system`");
    assert!(out.stdout.is_empty(), "the command ran anyway");
}
