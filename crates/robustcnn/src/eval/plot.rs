//! Self-contained SVG line charts (no fonts or native libraries needed; any browser shows them).

/// One line of a chart.
pub struct Series {
    pub label: String,
    pub colour: String,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// A line chart with axes from `x` and `y` ranges, tick labels, and a legend at the right.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub x_ticks: Vec<(f64, String)>,
    pub series: Vec<Series>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

impl Chart<'_> {
    /// The chart as an SVG document.
    pub fn svg(&self) -> String {
        let (w, h, left, right, top, bottom) = (820.0, 460.0, 60.0, 220.0, 40.0, 50.0);
        let (pw, ph) = (w - left - right, h - top - bottom);
        let sx = |x: f64| left + (x - self.x_range.0) / (self.x_range.1 - self.x_range.0).max(1e-12) * pw;
        let sy = |y: f64| top + ph - (y - self.y_range.0) / (self.y_range.1 - self.y_range.0).max(1e-12) * ph;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
            left + pw / 2.0,
            escape(self.title)
        );
        let span = self.y_range.1 - self.y_range.0;
        let step = [1.0, 2.0, 5.0, 10.0, 20.0, 25.0, 50.0].into_iter().find(|s| span / s <= 10.0).unwrap_or(span / 5.0);
        let ticks = (span / step).floor() as usize;
        for i in 0..=ticks {
            let y = self.y_range.0 + step * i as f64;
            let (x2, yy, tx, ty) = (left + pw, sy(y), left - 6.0, sy(y) + 4.0);
            s += &format!(
                "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{y:.0}</text>\n"
            );
        }
        for (x, label) in &self.x_ticks {
            s += &format!(
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                sx(*x),
                top + ph + 18.0,
                escape(label)
            );
        }
        s += &format!(
            "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
             <text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
            left + pw / 2.0,
            h - 12.0,
            escape(self.x_label),
            top + ph / 2.0,
            escape(self.y_label)
        );
        for (i, line) in self.series.iter().enumerate() {
            let pts: Vec<String> = line.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y))).collect();
            let dash = if line.dashed { " stroke-dasharray=\"6 4\"" } else { "" };
            s += &format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash}><title>{}</title></polyline>\n",
                pts.join(" "),
                line.colour,
                escape(&line.label)
            );
            let ly = top + 8.0 + i as f64 * 16.0;
            s += &format!(
                "<line x1=\"{0}\" x2=\"{1}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{2}\" stroke-width=\"2\"{dash}/><text x=\"{3}\" y=\"{4}\">{5}</text>\n",
                left + pw + 12.0,
                left + pw + 36.0,
                line.colour,
                left + pw + 42.0,
                ly + 4.0,
                escape(&line.label)
            );
        }
        s + "</svg>\n"
    }
}

/// Colours of the corruption families, with shades for their members.
pub fn family_colour(family: &str, member: usize) -> String {
    let shades: &[&str] = match family {
        "noise" => &["#1f77b4", "#4a98d0", "#7fb6e0", "#a9cdee"],
        "blur" => &["#2ca02c", "#52bf52", "#80d480", "#addfad"],
        "weather" => &["#9467bd", "#ab86cf", "#c2a6de", "#d9c6ec"],
        "digital" => &["#d62728", "#e35a5a", "#ec8a8a", "#f3b5b5"],
        _ => &["#7f7f7f", "#999999", "#b3b3b3", "#cccccc"],
    };
    shades[member % shades.len()].to_string()
}
