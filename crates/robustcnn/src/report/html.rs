//! report.html: one self-contained page (inline SVG plots, embedded PNGs) for a run or a suite.
use super::compare::Comparison;
use super::results::RunResults;
use super::stats::mean_std;
use super::table::{diff_text, stat_text};
use crate::eval::plot::{bar_chart, escape, Chart, Series};

const PALETTE: [&str; 10] =
    ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

const STYLE: &str = "body{font-family:sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}\
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}.best{font-weight:bold;background:#e8f4e8}\
.grid{display:flex;flex-wrap:wrap;gap:8px}.note{color:#555;font-size:90%}figure{margin:8px 0}\
figcaption{font-size:90%;color:#444}img.explain{image-rendering:pixelated;max-width:100%}";

/// Standard base64 of `bytes` (for data: URIs).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            s.push(if i <= c.len() { A[(n >> shift) as usize & 63] as char } else { '=' });
        }
    }
    s
}

/// The runs of each table row, in row order, with the row's colour.
fn row_runs<'a>(cmp: &Comparison, runs: &'a [RunResults]) -> Vec<(String, String, Vec<&'a RunResults>)> {
    cmp.rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let members = runs.iter().filter(|x| r.runs.contains(&x.dir.display().to_string())).collect();
            (r.label.clone(), PALETTE[i % PALETTE.len()].to_string(), members)
        })
        .collect()
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = xs.collect();
    (!v.is_empty()).then(|| mean_std(&v).0)
}

fn table_html(cmp: &Comparison) -> String {
    let head: String = cmp.columns.iter().map(|c| format!("<th>{}</th>", escape(&c.label))).collect();
    let mut s = format!("<table><tr><th>method</th><th>seeds</th>{head}</tr>\n");
    let images: String = cmp.images_row().iter().map(|n| format!("<td class=\"note\">{n}</td>")).collect();
    s += &format!("<tr><td class=\"note\">images</td><td></td>{images}</tr>\n");
    for r in &cmp.rows {
        let cells: String = r
            .cells
            .iter()
            .map(|c| match c {
                Some(st) if st.best => format!("<td class=\"best\">{}</td>", stat_text(st, r.seeds.len())),
                Some(st) => format!("<td>{}</td>", stat_text(st, r.seeds.len())),
                None => "<td>–</td>".into(),
            })
            .collect();
        s += &format!("<tr><td>{}</td><td>{}</td>{cells}</tr>\n", escape(&r.label), r.seeds.len());
    }
    s += "</table>\n";
    if let Some(b) = &cmp.baseline {
        s += &format!("<p>Difference to {} (percentage points; * p &lt; 0.05):</p>\n", escape(b));
        s += &format!("<table><tr><th>method</th>{head}</tr>\n");
        for r in cmp.rows.iter().filter(|r| r.diffs.iter().any(Option::is_some)) {
            let cells: String =
                r.diffs.iter().map(|d| format!("<td>{}</td>", d.as_ref().map_or("–".into(), diff_text))).collect();
            s += &format!("<tr><td>{}</td>{cells}</tr>\n", escape(&r.label));
        }
        s += "</table>\n";
    }
    let notes: String = cmp.notes.iter().map(|n| format!("<li>{}</li>", escape(n))).collect();
    s + &format!("<ul class=\"note\">{notes}</ul>\n")
}

/// Validation (else training) accuracy and training loss against the epoch, mean over seeds.
/// "mAP" when every run of the rows is multi-label, else "accuracy".
fn word_of(rows: &[(String, String, Vec<&RunResults>)]) -> &'static str {
    let all: Vec<&RunResults> = rows.iter().flat_map(|r| r.2.iter().copied()).collect();
    super::results::metric_word(&all)
}

fn training_charts(rows: &[(String, String, Vec<&RunResults>)]) -> String {
    let epochs = rows.iter().flat_map(|r| r.2.iter().flat_map(|x| x.epochs.iter().map(|e| e.epoch))).max().unwrap_or(1);
    let has_val = rows.iter().all(|r| r.2.iter().all(|x| x.epochs.iter().all(|e| e.val_accuracy.is_some())));
    let curve = |f: &dyn Fn(&super::results::EpochPoint) -> f64| -> Vec<Series> {
        rows.iter()
            .map(|(label, colour, members)| Series {
                label: label.clone(),
                colour: colour.clone(),
                dashed: false,
                points: (1..=epochs)
                    .filter_map(|e| {
                        mean(members.iter().flat_map(|x| x.epochs.iter().filter(|p| p.epoch == e).map(f)))
                            .map(|m| (e as f64, m))
                    })
                    .collect(),
            })
            .collect()
    };
    let acc = curve(&|p| 100.0 * if has_val { p.val_accuracy.unwrap_or(0.0) } else { p.train_accuracy });
    let word = word_of(rows);
    let (val_title, val_axis) = (format!("Validation {word}"), format!("{word} (%)"));
    let loss = curve(&|p| p.train_loss);
    let ticks: Vec<(f64, String)> = (1..=epochs).map(|e| (e as f64, e.to_string())).collect();
    let lo = acc.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(100f64, f64::min);
    let top_loss = loss.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0f64, f64::max);
    let x_range = (1.0, (epochs as f64).max(2.0));
    let a = Chart {
        title: if has_val { &val_title } else { "Training accuracy" },
        x_label: "epoch",
        y_label: if has_val { &val_axis } else { "accuracy (%)" },
        x_range,
        y_range: (((lo / 10.0).floor() * 10.0).max(0.0), 100.0),
        x_ticks: ticks.clone(),
        series: acc,
    };
    let l = Chart {
        title: "Training loss",
        x_label: "epoch",
        y_label: "loss",
        x_range,
        y_range: (0.0, top_loss.ceil().max(1.0)),
        x_ticks: ticks,
        series: loss,
    };
    format!("<div class=\"grid\">{}{}</div>\n", a.svg_sized(590.0, 360.0, true), l.svg_sized(590.0, 360.0, true))
}

/// Accuracy against severity: the mean over corruptions, and one small chart per corruption.
fn corruption_charts(rows: &[(String, String, Vec<&RunResults>)]) -> String {
    let corruptions: Vec<String> = rows
        .iter()
        .flat_map(|r| r.2.iter().flat_map(|x| x.cells().iter().map(|c| c.corruption.clone())))
        .fold(Vec::new(), |mut v, c| {
            if !v.contains(&c) {
                v.push(c);
            }
            v
        });
    if corruptions.is_empty() {
        return "<p>No corruption results.</p>\n".into();
    }
    let ticks: Vec<(f64, String)> =
        (0..=5).map(|s| (s as f64, if s == 0 { "clean".into() } else { s.to_string() })).collect();
    let series_for = |only: Option<&str>| -> Vec<Series> {
        rows.iter()
            .map(|(label, colour, members)| {
                let clean = members.iter().map(|x| 100.0 * x.corruption_clean().unwrap_or(x.clean));
                let mut points: Vec<(f64, f64)> = mean(clean).map(|m| (0.0, m)).into_iter().collect();
                for s in 1..=5u8 {
                    let cells = members
                        .iter()
                        .flat_map(|x| x.cells().iter())
                        .filter(|c| c.severity == s && only.is_none_or(|o| c.corruption == o));
                    if let Some(m) = mean(cells.map(|c| 100.0 * c.accuracy)) {
                        points.push((s as f64, m));
                    }
                }
                Series { label: label.clone(), colour: colour.clone(), dashed: false, points }
            })
            .collect()
    };
    let floor = |series: &[Series]| {
        let lo = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(100f64, f64::min);
        ((lo / 10.0).floor() * 10.0).max(0.0)
    };
    let all = series_for(None);
    let main = Chart {
        title: &format!("Mean {} over the corruptions against severity", word_of(rows)),
        x_label: "severity (0 = clean)",
        y_label: if word_of(rows) == "mAP" { "mAP (%)" } else { "top-1 accuracy (%)" },
        x_range: (0.0, 5.0),
        y_range: (floor(&all), 100.0),
        x_ticks: ticks.clone(),
        series: all,
    };
    let mut s = main.svg();
    s += "<div class=\"grid\">";
    for c in &corruptions {
        let series = series_for(Some(c));
        let title = format!("{c} ({})", corrupt::family(c));
        let chart = Chart {
            title: &title,
            x_label: "severity",
            y_label: if word_of(rows) == "mAP" { "mAP (%)" } else { "accuracy (%)" },
            x_range: (0.0, 5.0),
            y_range: (floor(&series), 100.0),
            x_ticks: ticks.clone(),
            series,
        };
        s += &chart.svg_sized(290.0, 220.0, false);
    }
    s + "</div>\n"
}

/// Gain in pooled accuracy per corruption of each row over the baseline row (same model and data).
fn gain_chart(cmp: &Comparison, rows: &[(String, String, Vec<&RunResults>)]) -> String {
    let Some(b) = &cmp.baseline else { return String::new() };
    let base_of = |i: usize| {
        let r = &cmp.rows[i];
        cmp.rows.iter().position(|x| {
            &x.method == b && (&x.model, &x.dataset, x.train_fraction) == (&r.model, &r.dataset, r.train_fraction)
        })
    };
    let pooled = |members: &[&RunResults], c: &str| {
        mean(members.iter().filter_map(|x| x.corruption_error(c)).map(|e| 100.0 * (1.0 - e)))
    };
    let categories: Vec<String> = corrupt::ALL
        .iter()
        .filter(|c| rows.iter().any(|r| r.2.iter().any(|x| x.corruption_error(c).is_some())))
        .map(|c| c.to_string())
        .collect();
    let series: Vec<Series> = (0..rows.len())
        .filter(|&i| cmp.rows[i].method != *b)
        .filter_map(|i| {
            let base = &rows[base_of(i)?].2;
            let points = categories
                .iter()
                .enumerate()
                .map(|(k, c)| (k as f64, pooled(&rows[i].2, c).zip(pooled(base, c)).map_or(0.0, |(m, bb)| m - bb)))
                .collect();
            Some(Series { label: rows[i].0.clone(), colour: rows[i].1.clone(), dashed: false, points })
        })
        .collect();
    if series.is_empty() || categories.is_empty() {
        return String::new();
    }
    bar_chart(
        &format!("Accuracy gain over {b} per corruption (severities pooled)"),
        "gain (points)",
        &categories,
        &series,
    )
}

/// Robust accuracy against ε, one chart per attack, one line per row (ε = 0 is the clean accuracy).
fn attack_charts(rows: &[(String, String, Vec<&RunResults>)]) -> String {
    let mut attacks: Vec<String> = Vec::new();
    for a in rows.iter().flat_map(|r| r.2.iter().flat_map(|x| x.attacks.iter())) {
        if !attacks.contains(&a.attack) {
            attacks.push(a.attack.clone());
        }
    }
    if attacks.is_empty() {
        return "<p>No attack results.</p>\n".into();
    }
    let mut s = String::from("<div class=\"grid\">");
    for attack in &attacks {
        let mut budgets: Vec<(f64, String)> = Vec::new();
        for a in rows.iter().flat_map(|r| r.2.iter().flat_map(|x| x.attacks.iter())).filter(|a| &a.attack == attack) {
            if !budgets.iter().any(|b| b.0 == a.eps) {
                budgets.push((a.eps, a.eps_text.clone()));
            }
        }
        budgets.sort_by(|x, y| x.0.total_cmp(&y.0));
        let series: Vec<Series> = rows
            .iter()
            .map(|(label, colour, members)| {
                let clean = members.iter().map(|x| 100.0 * x.attack_clean.unwrap_or(x.clean));
                let mut points: Vec<(f64, f64)> = mean(clean).map(|m| (0.0, m)).into_iter().collect();
                for (eps, _) in &budgets {
                    let vals =
                        members.iter().flat_map(|x| x.attacks.iter()).filter(|a| &a.attack == attack && a.eps == *eps);
                    if let Some(m) = mean(vals.map(|a| 100.0 * a.robust_accuracy)) {
                        points.push((eps * 255.0, m));
                    }
                }
                Series { label: label.clone(), colour: colour.clone(), dashed: false, points }
            })
            .collect();
        let mut ticks = vec![(0.0, "0".to_string())];
        ticks.extend(budgets.iter().map(|(e, t)| (e * 255.0, t.clone())));
        let title = format!("{attack}: robust {} against ε", word_of(rows));
        let chart = Chart {
            title: &title,
            x_label: "ε (ℓ∞, in 1/255)",
            y_label: match word_of(rows) {
                "mAP" => "robust mAP (%)",
                "Rank-1" => "robust Rank-1 (%)",
                _ => "robust accuracy (%)",
            },
            x_range: (0.0, budgets.last().map_or(1.0, |b| b.0 * 255.0).max(1e-9)),
            y_range: (0.0, 100.0),
            x_ticks: ticks,
            series,
        };
        s += &chart.svg_sized(590.0, 360.0, true);
    }
    s + "</div>\n"
}

/// The `explain` pictures of each row's first run that has one.
fn explain_figures(rows: &[(String, String, Vec<&RunResults>)]) -> String {
    let mut s = String::new();
    for (label, _, members) in rows {
        let Some(run) = members.iter().find(|x| x.explain_png.is_some()) else { continue };
        let Some(png) = run.explain_png.as_ref().and_then(|p| std::fs::read(p).ok()) else { continue };
        let info = std::fs::read_to_string(run.dir.join("results/explain.json")).unwrap_or_default();
        let titles: Vec<String> = serde_json::from_str::<serde_json::Value>(&info)
            .ok()
            .and_then(|v| v["rows"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|r| r["title"].as_str().map(str::to_string))
            .collect();
        let rows_txt: String = titles.iter().map(|t| format!("<li>{}</li>", escape(t))).collect();
        s += &format!(
            "<figure><img class=\"explain\" alt=\"explain {0}\" src=\"data:image/png;base64,{1}\"/>\
             <figcaption>{0} (seed {2}), rows top to bottom:<ol>{rows_txt}</ol></figcaption></figure>\n",
            escape(label),
            base64(&png),
            run.seed
        );
    }
    if s.is_empty() {
        "<p>No feature-level method (LFM, TENET, FMA) among these runs.</p>\n".into()
    } else {
        s
    }
}

/// The whole page: `title`, a `subtitle` line (e.g. the protocol), the table and every plot.
pub fn report(title: &str, subtitle: &str, cmp: &Comparison, runs: &[RunResults]) -> String {
    let rows = row_runs(cmp, runs);
    let run_list: String =
        cmp.rows.iter().flat_map(|r| r.runs.iter()).map(|d| format!("<li><code>{}</code></li>", escape(d))).collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body>\n\
         <h1>{t}</h1>\n<p class=\"note\">{sub}</p>\n\
         <h2>Comparison</h2>\n{table}\
         <h2>Training curves</h2>\n{train}\
         <h2>Common corruptions</h2>\n{corr}{gain}\
         <h2>Adversarial attacks</h2>\n{att}\
         <h2>What the feature-level methods do</h2>\n{expl}\
         <h2>Runs</h2>\n<ul class=\"note\">{run_list}</ul>\n</body></html>\n",
        t = escape(title),
        sub = escape(subtitle),
        table = table_html(cmp),
        train = training_charts(&rows),
        corr = corruption_charts(&rows),
        gain = gain_chart(cmp, &rows),
        att = attack_charts(&rows),
        expl = explain_figures(&rows),
    )
}
