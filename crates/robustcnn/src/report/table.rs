//! The comparison as Markdown and CSV.
use super::compare::{Comparison, Diff, Stat};

/// "82.10 ± 0.41", or "82.10" for one seed; "(k of n seeds)" added when only k of the row's `seeds`
/// have a value in the column.
pub fn stat_text(s: &Stat, seeds: usize) -> String {
    let text = match s.std {
        Some(sd) => format!("{:.2} ± {:.2}", s.mean, sd),
        None => format!("{:.2}", s.mean),
    };
    match s.values.len() {
        k if k < seeds => format!("{text} ({k} of {seeds} seeds)"),
        _ => text,
    }
}

/// "+1.20 (p 0.031)*": the difference, Welch's p where there is one, * below 0.05.
pub fn diff_text(d: &Diff) -> String {
    match d.p {
        Some(p) => format!("{:+.2} (p {p:.3}){}", d.delta, if p < 0.05 { "*" } else { "" }),
        None => format!("{:+.2}", d.delta),
    }
}

impl Comparison {
    /// Two Markdown tables (results, then differences to the baseline) and the notes.
    pub fn markdown(&self) -> String {
        let head: Vec<&str> = self.columns.iter().map(|c| c.label.as_str()).collect();
        let mut s = format!("| method | seeds | {} |\n|---|---|{}\n", head.join(" | "), "---|".repeat(head.len()));
        s += &format!("| images | | {} |\n", self.images_row().join(" | "));
        for r in &self.rows {
            let cells: Vec<String> = r
                .cells
                .iter()
                .map(|c| match c {
                    Some(st) if st.best => format!("**{}**", stat_text(st, r.seeds.len())),
                    Some(st) => stat_text(st, r.seeds.len()),
                    None => "–".into(),
                })
                .collect();
            s += &format!("| {} | {} | {} |\n", r.label, r.seeds.len(), cells.join(" | "));
        }
        if let Some(b) = &self.baseline {
            s += &format!("\nDifference to {b} (percentage points; * p < 0.05):\n\n");
            s += &format!("| method | {} |\n|---|{}\n", head.join(" | "), "---|".repeat(head.len()));
            for r in self.rows.iter().filter(|r| r.diffs.iter().any(Option::is_some)) {
                let cells: Vec<String> = r.diffs.iter().map(|d| d.as_ref().map_or("–".into(), diff_text)).collect();
                s += &format!("| {} | {} |\n", r.label, cells.join(" | "));
            }
        }
        s += "\n";
        for n in &self.notes {
            s += &format!("- {n}\n");
        }
        s
    }

    /// The test images behind each column's values: a count, or "varies".
    pub fn images_row(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.samples.map_or("varies".into(), |n| n.to_string())).collect()
    }

    /// One line per row and column: the summary, the seeds' values and the difference to the baseline.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "label,method,model,dataset,train_fraction,column,setting,images,mean,std,seeds,values,best,delta_to_baseline,p_value\n",
        );
        let quote =
            |t: &str| if t.contains([',', '"']) { format!("\"{}\"", t.replace('"', "\"\"")) } else { t.to_string() };
        for r in &self.rows {
            for ((c, cell), diff) in self.columns.iter().zip(&r.cells).zip(&r.diffs) {
                let Some(st) = cell else { continue };
                let values: Vec<String> = st.values.iter().map(|v| format!("{v:.4}")).collect();
                let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
                s += &format!(
                    "{},{},{},{},{},{},{},{},{:.4},{},{},{},{},{},{}\n",
                    quote(&r.label),
                    quote(&r.method),
                    quote(&r.model),
                    quote(&r.dataset),
                    r.train_fraction,
                    quote(&c.label),
                    c.setting,
                    c.samples.map_or(String::new(), |n| n.to_string()),
                    st.mean,
                    opt(st.std),
                    st.values.len(),
                    values.join(";"),
                    st.best,
                    opt(diff.as_ref().map(|d| d.delta)),
                    opt(diff.as_ref().and_then(|d| d.p)),
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_from_fewer_seeds_than_its_row_says_so() {
        let stat = |values: Vec<f64>, std| Stat {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            values,
            std,
            best: false,
        };
        assert_eq!(stat_text(&stat(vec![80.0, 82.0], Some(1.5)), 2), "81.00 ± 1.50");
        assert_eq!(stat_text(&stat(vec![55.31], None), 2), "55.31 (1 of 2 seeds)");
        assert_eq!(stat_text(&stat(vec![1.0, 2.0], Some(0.25)), 3), "1.50 ± 0.25 (2 of 3 seeds)");
    }
}
