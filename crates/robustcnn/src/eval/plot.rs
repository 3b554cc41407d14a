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

/// Escapes text for SVG and HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

impl Chart<'_> {
    /// The chart as an SVG document.
    pub fn svg(&self) -> String {
        self.svg_sized(820.0, 460.0, true)
    }

    /// The chart at `w` × `h` pixels, with or without the legend at the right.
    pub fn svg_sized(&self, w: f64, h: f64, legend: bool) -> String {
        let (left, top, bottom) = (60.0, 40.0, 50.0);
        let right = if legend { 220.0 } else { 16.0 };
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
            if !legend {
                continue;
            }
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

/// Vertical grouped bars: one group per category, one bar per series, a zero line; values may be
/// negative. Used for the per-corruption gain over the baseline.
pub fn bar_chart(title: &str, y_label: &str, categories: &[String], series: &[Series]) -> String {
    let (w, h, left, right, top, bottom) = (900.0, 440.0, 60.0, 200.0, 40.0, 110.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (lo, hi) = values.fold((0f64, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let span = (hi - lo).max(1e-9);
    let step = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 25.0, 50.0].into_iter().find(|s| span / s <= 8.0).unwrap_or(span / 4.0);
    let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    let sy = |y: f64| top + ph - (y - lo) / (hi - lo).max(1e-9) * ph;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        left + pw / 2.0,
        escape(title)
    );
    let mut y = lo;
    while y <= hi + 1e-9 {
        let (x2, yy, tx) = (left + pw, sy(y), left - 6.0);
        s += &format!(
            "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{tx}\" y=\"{:.1}\" text-anchor=\"end\">{y:.1}</text>\n",
            yy + 4.0
        );
        y += step;
    }
    let group = pw / categories.len().max(1) as f64;
    let bar = group * 0.8 / series.len().max(1) as f64;
    for (ci, cat) in categories.iter().enumerate() {
        let gx = left + group * ci as f64 + group * 0.1;
        for (si, ser) in series.iter().enumerate() {
            let Some(&(_, v)) = ser.points.get(ci) else { continue };
            let (y0, y1) = (sy(0.0), sy(v));
            s += &format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {} {v:+.2}</title></rect>\n",
                gx + bar * si as f64,
                y0.min(y1),
                bar.max(1.0),
                (y0 - y1).abs(),
                ser.colour,
                escape(&ser.label),
                escape(cat)
            );
        }
        let (tx, ty) = (gx + group * 0.4, top + ph + 10.0);
        s += &format!(
            "<text transform=\"translate({tx:.1} {ty:.1}) rotate(40)\" text-anchor=\"start\">{}</text>\n",
            escape(cat)
        );
    }
    let (x2, zero, mid) = (left + pw, sy(0.0), top + ph / 2.0);
    s += &format!(
        "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\" stroke=\"#333\"/>\n\
         <text transform=\"translate(16 {mid}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
        escape(y_label)
    );
    for (i, ser) in series.iter().enumerate() {
        let ly = top + 8.0 + i as f64 * 16.0;
        s += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
            left + pw + 12.0,
            ly - 5.0,
            ser.colour,
            left + pw + 32.0,
            ly + 4.0,
            escape(&ser.label)
        );
    }
    s + "</svg>\n"
}
