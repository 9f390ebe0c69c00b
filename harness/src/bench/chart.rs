//! Line charts as standalone SVG documents, for the benchmark's figures. No dependencies:
//! readable at 800×450, colours from the Okabe–Ito palette (safe for colour-blind readers)
//! and told apart by marker shape as well, so a grey print still shows which line is which.
//!
//! A missing value (a failed measurement) leaves a gap in its line and an "×" in the
//! series' colour at its x, in a band just above the x axis that no line enters; a value a
//! log axis cannot show (zero, negative) is skipped the same way with a "↓". Nothing a
//! caller passes can put NaN or infinity into the SVG.

use std::fmt::Write;

pub const WIDTH: f64 = 800.0;
pub const HEIGHT: f64 = 450.0;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub name: String,
    /// x and y; `None` is a failed or missing measurement: a gap, marked on the x axis.
    pub points: Vec<(f64, Option<f64>)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    /// Labelled positions for the x axis, e.g. `(1024.0, "1 KiB")`; automatic when empty.
    pub x_ticks: Vec<(f64, String)>,
}

/// Okabe & Ito's palette without its yellow, which is unreadable on white.
const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#8C8C8C",
];

/// Beyond this a value is treated as unusable: the scale arithmetic must stay finite.
const LIMIT: f64 = 1e200;

const FONT: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";

/// A complete SVG document for `series` drawn on `chart`'s axes.
pub fn render(chart: &Chart, series: &[Series]) -> String {
    let usable_x = |x: f64| usable(x, chart.log_x);
    let usable_y = |y: f64| usable(y, chart.log_y);

    // Each series' points in x order, without those the x axis cannot place.
    let mut hidden = 0usize;
    let points: Vec<Vec<(f64, Option<f64>)>> = series
        .iter()
        .map(|s| {
            let mut kept: Vec<(f64, Option<f64>)> =
                s.points.iter().copied().filter(|p| usable_x(p.0)).collect();
            hidden += s.points.len() - kept.len();
            kept.sort_by(|a, b| a.0.total_cmp(&b.0));
            kept
        })
        .collect();
    let xs: Vec<f64> = points.iter().flatten().map(|p| p.0).collect();
    let ys: Vec<f64> = points
        .iter()
        .flatten()
        .filter_map(|p| p.1)
        .filter(|&y| usable_y(y))
        .collect();

    let mut x_axis = if chart.log_x {
        log_axis(&xs)
    } else {
        linear_axis(&xs, false)
    };
    let explicit: Vec<(f64, String)> = chart
        .x_ticks
        .iter()
        .filter(|(v, _)| usable_x(*v) && x_axis.contains(*v))
        .cloned()
        .collect();
    if !explicit.is_empty() {
        x_axis.ticks = explicit;
        x_axis.minor.clear();
    }
    let y_axis = if chart.log_y {
        log_axis(&ys)
    } else {
        linear_axis(&ys, true)
    };

    // Layout: the left margin fits the y tick labels, the right one the legend.
    let y_label_w = y_axis
        .ticks
        .iter()
        .map(|(_, l)| text_width(l, 12.0))
        .fold(0.0, f64::max);
    let legend_text_w = series
        .iter()
        .map(|s| text_width(&legend_name(s, usable_x, usable_y), 12.0))
        .chain([text_width("× failed (no value)", 11.0)])
        .fold(0.0, f64::max);
    let legend_w = (legend_text_w + 48.0).clamp(110.0, 280.0);
    let left = 44.0 + y_label_w;
    let right = WIDTH - 16.0 - legend_w;
    let px = |x: f64| left + x_axis.frac(x) * (right - left);

    // Missing values: stacked marks on the x axis, one per series, in a band of their own
    // at the bottom of the plot so that they never cover a line.
    let mut marks: Vec<Mark> = Vec::new();
    for (i, pts) in points.iter().enumerate() {
        for &(x, y) in pts {
            if !y.is_some_and(usable_y) {
                marks.push(Mark {
                    x: px(x),
                    colour: Style::of(i).colour,
                    off_scale: y.is_some_and(|y| y.is_finite()),
                });
            }
        }
    }
    marks.sort_by(|a, b| a.x.total_cmp(&b.x));
    let mut groups: Vec<Vec<&Mark>> = Vec::new();
    for m in &marks {
        match groups.last_mut() {
            Some(g) if (g[0].x - m.x).abs() < 1.0 => g.push(m),
            _ => groups.push(vec![m]),
        }
    }
    let stack = groups.iter().map(Vec::len).max().unwrap_or(0);
    let band = if stack > 0 {
        24.0 + 14.0 * stack as f64
    } else {
        0.0
    };
    let plot = Plot {
        left,
        right,
        top: 52.0,
        bottom: HEIGHT - 58.0,
        data_bottom: HEIGHT - 58.0 - band,
    };
    let py = |y: f64| plot.data_bottom - y_axis.frac(y) * (plot.data_bottom - plot.top);

    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="12" role="img">"##,
        w = WIDTH,
        h = HEIGHT
    );
    let _ = writeln!(out, "<title>{}</title>", esc(&chart.title));
    let _ = writeln!(
        out,
        r##"<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r##"<text x="{}" y="30" text-anchor="middle" font-size="17" font-weight="bold" fill="#222222">{}</text>"##,
        num(WIDTH / 2.0),
        esc(&chart.title)
    );

    // Grid: minor lines (log axes) lighter than those at labelled ticks.
    out.push_str("<g class=\"grid\" stroke-width=\"1\">\n");
    let hline = |out: &mut String, y: f64, colour: &str| {
        let _ = writeln!(
            out,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}"/>"#,
            num(plot.left),
            num(plot.right),
            y = num(y)
        );
    };
    let vline = |out: &mut String, x: f64, colour: &str| {
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{colour}"/>"#,
            num(plot.top),
            num(plot.bottom),
            x = num(x)
        );
    };
    for &v in &y_axis.minor {
        hline(&mut out, py(v), "#f2f2f2");
    }
    for &v in &x_axis.minor {
        vline(&mut out, px(v), "#f2f2f2");
    }
    for (v, _) in &y_axis.ticks {
        hline(&mut out, py(*v), "#dedede");
    }
    for (v, _) in &x_axis.ticks {
        vline(&mut out, px(*v), "#dedede");
    }
    if band > 0.0 {
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#bbbbbb" stroke-dasharray="3 3"/>"##,
            num(plot.left),
            num(plot.right),
            y = num(plot.data_bottom)
        );
    }
    out.push_str("</g>\n");

    out.push_str("<g class=\"axes\" fill=\"#333333\">\n");
    let _ = writeln!(
        out,
        r##"<path class="axis" d="M{} {}V{}H{}" fill="none" stroke="#555555" stroke-width="1.2"/>"##,
        num(plot.left),
        num(plot.top),
        num(plot.bottom),
        num(plot.right)
    );
    let mut last_end = f64::NEG_INFINITY;
    for (v, label) in &x_axis.ticks {
        let x = px(*v);
        let half = text_width(label, 12.0) / 2.0;
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="{y0}" x2="{x}" y2="{y1}" stroke="#555555"/>"##,
            x = num(x),
            y0 = num(plot.bottom),
            y1 = num(plot.bottom + 5.0)
        );
        // Labels that would overlap the previous one are left out; the grid line stays.
        if x - half < last_end + 6.0 {
            continue;
        }
        last_end = x + half;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            num(x),
            num(plot.bottom + 19.0),
            esc(label)
        );
    }
    let mut last_top = f64::INFINITY;
    for (v, label) in &y_axis.ticks {
        let y = py(*v);
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#555555"/>"##,
            x0 = num(plot.left - 5.0),
            x1 = num(plot.left),
            y = num(y)
        );
        if y + 7.0 > last_top - 3.0 {
            continue;
        }
        last_top = y - 7.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            num(plot.left - 8.0),
            num(y + 4.0),
            esc(label)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
        num((plot.left + plot.right) / 2.0),
        num(HEIGHT - 14.0),
        esc(&chart.x_label)
    );
    let (lx, ly) = (18.0, (plot.top + plot.data_bottom) / 2.0);
    let _ = writeln!(
        out,
        r#"<text x="{x}" y="{y}" text-anchor="middle" font-size="13" transform="rotate(-90 {x} {y})">{}</text>"#,
        esc(&chart.y_label),
        x = num(lx),
        y = num(ly)
    );
    out.push_str("</g>\n");

    // Series: one path per series (its gaps are moves), markers on top.
    let mut drawn_any = false;
    for (i, (s, pts)) in series.iter().zip(&points).enumerate() {
        let style = Style::of(i);
        let mut d = String::new();
        let mut pen_down = false;
        let mut markers = String::new();
        for &(x, y) in pts {
            match y {
                Some(y) if usable_y(y) => {
                    let (sx, sy) = (px(x), py(y));
                    let _ = write!(
                        d,
                        "{}{} {}",
                        if pen_down { "L" } else { "M" },
                        num(sx),
                        num(sy)
                    );
                    pen_down = true;
                    let tip = format!("{}: x = {}, y = {}", s.name, sig(x), sig(y));
                    style.marker(&mut markers, sx, sy, &tip);
                }
                _ => pen_down = false,
            }
        }
        if d.is_empty() {
            continue;
        }
        drawn_any = true;
        let _ = writeln!(
            out,
            r#"<g class="series" fill="{c}" stroke="{c}"><title>{name}</title>"#,
            c = style.colour,
            name = esc(&s.name)
        );
        let _ = writeln!(
            out,
            r#"<path class="line" d="{d}" fill="none" stroke-width="2.2" stroke-linejoin="round" stroke-linecap="round"{}/>"#,
            style.dash_attr()
        );
        out.push_str(&markers);
        out.push_str("</g>\n");
    }
    if !drawn_any {
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" font-size="15" fill="#888888">no data</text>"##,
            num((plot.left + plot.right) / 2.0),
            num((plot.top + plot.data_bottom) / 2.0)
        );
    }

    if !groups.is_empty() {
        out.push_str("<g class=\"missing\" text-anchor=\"middle\">\n");
        for g in &groups {
            let x = g[0].x;
            for (k, m) in g.iter().enumerate() {
                let _ = writeln!(
                    out,
                    r#"<text x="{}" y="{}" font-size="16" font-weight="bold" fill="{}">{}</text>"#,
                    num(x),
                    num(plot.bottom - 5.0 - 14.0 * k as f64),
                    m.colour,
                    if m.off_scale { "↓" } else { "×" }
                );
            }
            let failed = g.iter().any(|m| !m.off_scale);
            let off = g.iter().any(|m| m.off_scale);
            let label = match (failed, off) {
                (true, true) => "failed / ≤ 0",
                (false, true) => "≤ 0",
                _ => "failed",
            };
            let _ = writeln!(
                out,
                r##"<text x="{}" y="{}" font-size="10" fill="#555555">{}</text>"##,
                num(x),
                num(plot.bottom - 21.0 - 14.0 * (g.len() - 1) as f64),
                label
            );
        }
        out.push_str("</g>\n");
    }

    // Legend, right of the plot.
    let lx = plot.right + 18.0;
    let mut notes: Vec<String> = Vec::new();
    if marks.iter().any(|m| !m.off_scale) {
        notes.push("× failed (no value)".into());
    }
    if marks.iter().any(|m| m.off_scale) {
        notes.push("↓ ≤ 0, not on the log axis".into());
    }
    if hidden > 0 {
        notes.push(format!(
            "{hidden} point{} with x off the axis",
            if hidden == 1 { "" } else { "s" }
        ));
    }
    if !series.is_empty() || !notes.is_empty() {
        let row_h = 20.0;
        let height = 10.0 + row_h * series.len() as f64 + 17.0 * notes.len() as f64 + 2.0;
        out.push_str("<g class=\"legend\">\n");
        let _ = writeln!(
            out,
            r##"<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="#ffffff" stroke="#d0d0d0"/>"##,
            num(lx - 8.0),
            num(plot.top),
            num(WIDTH - 8.0 - (lx - 8.0)),
            num(height)
        );
        for (i, s) in series.iter().enumerate() {
            let style = Style::of(i);
            let y = plot.top + 18.0 + row_h * i as f64;
            let _ = write!(
                out,
                r#"<g fill="{c}" stroke="{c}"><line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke-width="2.2"{dash}/>"#,
                c = style.colour,
                x0 = num(lx),
                x1 = num(lx + 26.0),
                y = num(y),
                dash = style.dash_attr()
            );
            style.marker(&mut out, lx + 13.0, y, &s.name);
            let _ = writeln!(
                out,
                r##"</g><text x="{}" y="{}" fill="#222222">{}</text>"##,
                num(lx + 34.0),
                num(y + 4.0),
                esc(&legend_name(s, usable_x, usable_y))
            );
        }
        for (k, note) in notes.iter().enumerate() {
            let y = plot.top + 14.0 + row_h * series.len() as f64 + 17.0 * k as f64;
            let _ = writeln!(
                out,
                r##"<text x="{}" y="{}" font-size="11" fill="#555555">{}</text>"##,
                num(lx),
                num(y + 4.0),
                esc(note)
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

struct Plot {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    /// Where the values end: below it, the band for missing values (if any).
    data_bottom: f64,
}

struct Mark {
    x: f64,
    colour: &'static str,
    /// A value the log axis cannot show, rather than no value at all.
    off_scale: bool,
}

/// Colour, marker shape and dash for the `i`th series: ten series stay distinguishable.
struct Style {
    colour: &'static str,
    shape: usize,
    dashed: bool,
}

impl Style {
    fn of(i: usize) -> Style {
        Style {
            colour: PALETTE[i % PALETTE.len()],
            // Past the palette, colours repeat with another shape (and dashed lines).
            shape: (i + i / PALETTE.len()) % 4,
            dashed: (i / PALETTE.len()) % 2 == 1,
        }
    }

    fn dash_attr(&self) -> &'static str {
        if self.dashed {
            r#" stroke-dasharray="7 4""#
        } else {
            ""
        }
    }

    fn marker(&self, out: &mut String, x: f64, y: f64, tip: &str) {
        let tip = esc(tip);
        let common = r##"stroke="#ffffff" stroke-width="1""##;
        let _ = match self.shape {
            0 => writeln!(
                out,
                r#"<circle cx="{}" cy="{}" r="4.2" {common}><title>{tip}</title></circle>"#,
                num(x),
                num(y)
            ),
            1 => writeln!(
                out,
                r#"<rect x="{}" y="{}" width="8" height="8" {common}><title>{tip}</title></rect>"#,
                num(x - 4.0),
                num(y - 4.0)
            ),
            2 => writeln!(
                out,
                r#"<polygon points="{},{} {},{} {},{}" {common}><title>{tip}</title></polygon>"#,
                num(x),
                num(y - 5.5),
                num(x + 5.0),
                num(y + 3.5),
                num(x - 5.0),
                num(y + 3.5)
            ),
            _ => writeln!(
                out,
                r#"<polygon points="{},{} {},{} {},{} {},{}" {common}><title>{tip}</title></polygon>"#,
                num(x),
                num(y - 5.5),
                num(x + 5.5),
                num(y),
                num(x),
                num(y + 5.5),
                num(x - 5.5),
                num(y)
            ),
        };
    }
}

fn usable(v: f64, log: bool) -> bool {
    v.is_finite() && v.abs() < LIMIT && (!log || v > 1.0 / LIMIT)
}

fn legend_name(
    s: &Series,
    usable_x: impl Fn(f64) -> bool,
    usable_y: impl Fn(f64) -> bool,
) -> String {
    let shown = s
        .points
        .iter()
        .any(|&(x, y)| usable_x(x) && y.is_some_and(&usable_y));
    if shown || s.points.is_empty() {
        s.name.clone()
    } else {
        format!("{} (no values)", s.name)
    }
}

/// An axis: the domain in scale space (log10 of the value on a log axis) and its ticks.
struct Axis {
    log: bool,
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
    /// Unlabelled grid positions between the ticks of a log axis.
    minor: Vec<f64>,
}

impl Axis {
    fn scaled(&self, v: f64) -> f64 {
        if self.log {
            v.log10()
        } else {
            v
        }
    }

    fn frac(&self, v: f64) -> f64 {
        ((self.scaled(v) - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }

    fn contains(&self, v: f64) -> bool {
        let s = self.scaled(v);
        let eps = (self.hi - self.lo) * 1e-9;
        s >= self.lo - eps && s <= self.hi + eps
    }
}

fn min_max(values: &[f64]) -> Option<(f64, f64)> {
    let first = *values.first()?;
    Some(
        values
            .iter()
            .fold((first, first), |(lo, hi), &v| (lo.min(v), hi.max(v))),
    )
}

/// A linear axis on nice round bounds; `from_zero` starts it at 0 for non-negative data.
fn linear_axis(values: &[f64], from_zero: bool) -> Axis {
    let (min, max) = min_max(values).unwrap_or((0.0, 1.0));
    let (mut lo, mut hi) = (min, max);
    if from_zero && lo >= 0.0 {
        lo = 0.0;
    }
    if hi - lo <= hi.abs().max(lo.abs()) * 1e-12 {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= d;
        hi += d;
        if min >= 0.0 && lo < 0.0 {
            lo = 0.0;
        }
    }
    let step = nice_step((hi - lo) / 5.0);
    let (lo, hi) = if from_zero {
        ((lo / step).floor() * step, (hi / step).ceil() * step)
    } else {
        let pad = (hi - lo) * 0.04;
        (lo - pad, hi + pad)
    };
    let ticks = linear_ticks(lo, hi, step);
    Axis {
        log: false,
        lo,
        hi,
        ticks: label(&ticks, |_| decimals(step)),
        minor: Vec::new(),
    }
}

/// A log axis a little wider than the data, ticked at decades (or 1-2-5 steps when the
/// data spans less than two decades).
fn log_axis(values: &[f64]) -> Axis {
    let (min, max) = min_max(values).unwrap_or((1.0, 10.0));
    let (mut l0, mut l1) = (min.log10(), max.log10());
    if l1 - l0 < 1e-9 {
        l0 -= 0.5;
        l1 += 0.5;
    }
    let pad = (l1 - l0) * 0.05;
    let (lo, hi) = (l0 - pad, l1 + pad);
    let within = |v: &f64| {
        let l = v.log10();
        l >= lo - 1e-9 && l <= hi + 1e-9
    };
    let (k0, k1) = (lo.floor() as i32, hi.ceil() as i32);
    let multiples = |ms: &[f64]| -> Vec<f64> {
        (k0..=k1)
            .flat_map(|k| ms.iter().map(move |m| m * 10f64.powi(k)))
            .filter(within)
            .collect()
    };
    let decades = multiples(&[1.0]);
    let (ticks, minor) = if decades.len() >= 4 {
        // Many decades: label at most eight of them, the others and 2..9 as grid only.
        let every = decades.len().div_ceil(8);
        let labelled: Vec<f64> = decades.iter().copied().step_by(every).collect();
        let skipped = decades
            .iter()
            .enumerate()
            .filter(|(i, _)| i % every != 0)
            .map(|(_, &v)| v);
        let mut minor: Vec<f64> = skipped.collect();
        if decades.len() <= 6 {
            minor.extend(multiples(&[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]));
        }
        (labelled, minor)
    } else {
        let one_two_five = multiples(&[1.0, 2.0, 5.0]);
        let all = multiples(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        if one_two_five.len() >= 3 {
            (one_two_five, multiples(&[3.0, 4.0, 6.0, 7.0, 8.0, 9.0]))
        } else if all.len() >= 3 {
            (all, Vec::new())
        } else {
            // Less than three steps of 1..9 in range: linear steps within it.
            let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
            let step = nice_step((b - a) / 4.0);
            let ticks: Vec<f64> = linear_ticks(a, b, step)
                .into_iter()
                .filter(|&v| v > 0.0)
                .collect();
            return Axis {
                log: true,
                lo,
                hi,
                ticks: label(&ticks, |_| decimals(step)),
                minor: Vec::new(),
            };
        }
    };
    Axis {
        log: true,
        lo,
        hi,
        ticks: label(&ticks, decimals),
        minor,
    }
}

fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn linear_ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last.min(first + 40))
        .map(|i| i as f64 * step + 0.0)
        .collect()
}

/// Decimals that show `step` without rounding it away.
fn decimals(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 0;
    }
    (-(step.log10() + 1e-9).floor()).clamp(0.0, 9.0) as usize
}

/// Tick labels; an axis that reaches 10 000 writes its thousands with SI prefixes.
fn label(ticks: &[f64], decimals: impl Fn(f64) -> usize) -> Vec<(f64, String)> {
    let si = ticks.iter().any(|v| v.abs() >= 1e4);
    ticks
        .iter()
        .map(|&v| (v, format_number(v, decimals(v.abs()), si)))
        .collect()
}

fn format_number(v: f64, decimals: usize, si: bool) -> String {
    let a = v.abs();
    if si && a >= 1e3 {
        let (scale, prefix) = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
            .into_iter()
            .find(|(s, _)| a >= *s)
            .unwrap_or((1e3, "k"));
        return format!("{}{prefix}", trim(format!("{:.2}", v / scale)));
    }
    if a != 0.0 && a < 1e-3 {
        return trim_exp(format!("{v:.1e}"));
    }
    format!("{:.*}", decimals, v + 0.0)
}

/// Four significant digits, for tooltips.
fn sig(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 1e9 || v.abs() < 1e-3 {
        return trim_exp(format!("{v:.3e}"));
    }
    let d = (3.0 - v.abs().log10().floor()).clamp(0.0, 9.0) as usize;
    trim(format!("{v:.d$}"))
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn trim_exp(s: String) -> String {
    match s.split_once('e') {
        Some((m, e)) => format!("{}e{e}", trim(m.to_string())),
        None => s,
    }
}

/// Rough width of `text` in a sans-serif face at `size` px.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// A coordinate: one decimal, and never NaN or infinity in the document.
fn num(v: f64) -> String {
    if v.is_finite() {
        trim(format!("{v:.1}"))
    } else {
        "0".into()
    }
}

/// Text for XML content or a quoted attribute; control characters XML forbids become spaces.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough of XML to catch a broken document: balanced tags, one root, quoted
    /// attributes, only known entities, no stray `<` or `>` in text.
    fn check_xml(doc: &str) -> Result<(), String> {
        let mut stack: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut rest = doc;
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open])?;
            let after = &rest[open..];
            let close = after.find('>').ok_or("unclosed tag")?;
            let tag = &after[1..close];
            if tag.contains('<') {
                return Err(format!("'<' inside a tag: {tag}"));
            }
            if !tag.matches('"').count().is_multiple_of(2) {
                return Err(format!("unbalanced quotes: {tag}"));
            }
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name.trim() => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else {
                let name = tag.split_whitespace().next().ok_or("empty tag")?;
                let name = name.trim_end_matches('/');
                if stack.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &after[close + 1..];
        }
        check_text(rest)?;
        match (stack.is_empty(), roots) {
            (true, 1) => Ok(()),
            _ => Err(format!("unclosed {stack:?}, {roots} roots")),
        }
    }

    fn check_text(text: &str) -> Result<(), String> {
        if text.contains('>') {
            return Err(format!("'>' in text: {text}"));
        }
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| entity.starts_with(e))
            {
                return Err(format!("bare '&': {entity}"));
            }
        }
        Ok(())
    }

    fn chart(log_x: bool, log_y: bool) -> Chart {
        Chart {
            title: "TTFB against body size".into(),
            x_label: "body size".into(),
            y_label: "TTFB ms".into(),
            log_x,
            log_y,
            x_ticks: Vec::new(),
        }
    }

    fn series(name: &str, points: &[(f64, Option<f64>)]) -> Series {
        Series {
            name: name.into(),
            points: points.to_vec(),
        }
    }

    /// The checks every rendering must pass.
    fn sound(svg: &str) {
        assert!(svg.starts_with("<svg"), "{svg}");
        check_xml(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        for bad in ["NaN", "inf", "Inf"] {
            assert!(!svg.contains(bad), "{bad} in\n{svg}");
        }
    }

    fn lines(svg: &str) -> usize {
        svg.matches("<path class=\"line\"").count()
    }

    pub(super) fn sample() -> (Chart, Vec<Series>) {
        let sizes = [1024.0, 65536.0, 1048576.0, 67108864.0, 1073741824.0];
        let ticks = ["1 KiB", "64 KiB", "1 MiB", "64 MiB", "1 GiB"];
        let chart = Chart {
            title: "Time to first byte against body size (p50)".into(),
            x_label: "body size".into(),
            y_label: "TTFB ms".into(),
            log_x: true,
            log_y: true,
            x_ticks: sizes
                .iter()
                .zip(ticks)
                .map(|(s, t)| (*s, t.to_string()))
                .collect(),
        };
        let make = |name: &str, ys: [Option<f64>; 5]| Series {
            name: name.into(),
            points: sizes.iter().copied().zip(ys).collect(),
        };
        let series = vec![
            make(
                "origin",
                [Some(0.21), Some(0.22), Some(0.25), Some(0.3), Some(0.31)],
            ),
            make(
                "reference",
                [Some(1.1), Some(1.15), Some(1.2), Some(1.4), Some(1.5)],
            ),
            make(
                "firstbyte",
                [Some(1.3), Some(1.3), Some(1.4), Some(1.6), Some(1.7)],
            ),
            make(
                "firstbyte buffered",
                [Some(1.5), Some(2.9), Some(14.0), Some(420.0), None],
            ),
            make(
                "firstbyte gzip>html>br",
                [Some(2.1), Some(2.3), Some(2.6), Some(3.0), Some(3.1)],
            ),
            make(
                "nginx",
                [Some(0.45), Some(0.46), Some(0.5), Some(0.52), Some(0.55)],
            ),
            make(
                "nginx sub_filter",
                [Some(0.5), Some(0.6), Some(0.6), Some(0.7), Some(0.7)],
            ),
            make(
                "nginx gzip",
                [Some(0.7), Some(0.8), None, Some(1.0), Some(1.1)],
            ),
        ];
        (chart, series)
    }

    #[test]
    fn a_full_chart_is_sound_and_names_every_series() {
        let (chart, series) = sample();
        let svg = render(&chart, &series);
        sound(&svg);
        for s in &series {
            assert!(svg.contains(&esc(&s.name)), "{}", s.name);
        }
        assert_eq!(lines(&svg), series.len());
        for tick in ["1 KiB", "64 MiB", "1 GiB"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "{tick}");
        }
        // Two missing values: two marks and the legend's note.
        assert_eq!(svg.matches(">×</text>").count(), 2);
        assert!(svg.contains(">failed</text>") && svg.contains("× failed (no value)"));
        // Decades on the log TTFB axis.
        for tick in [">1</text>", ">10</text>", ">100</text>"] {
            assert!(svg.contains(tick), "{tick}\n{svg}");
        }
    }

    #[test]
    fn names_and_labels_are_escaped() {
        let mut c = chart(false, false);
        c.title = "a < b & c > \"d\"".into();
        c.x_ticks = vec![(1.0, "<1>".into())];
        let svg = render(
            &c,
            &[series(
                "gzip>html<br & co",
                &[(1.0, Some(2.0)), (2.0, Some(3.0))],
            )],
        );
        sound(&svg);
        assert!(svg.contains("gzip&gt;html&lt;br &amp; co"));
        assert!(!svg.contains("gzip>html"));
        assert!(svg.contains("a &lt; b &amp; c &gt; &quot;d&quot;"));
        assert!(svg.contains("&lt;1&gt;"));
    }

    #[test]
    fn degenerate_inputs_still_make_a_sound_chart() {
        let nan = f64::NAN;
        let cases: Vec<(Chart, Vec<Series>, usize)> = vec![
            // A single point.
            (
                chart(true, true),
                vec![series("one", &[(1024.0, Some(1.5))])],
                1,
            ),
            (
                chart(false, false),
                vec![series("one", &[(3.0, Some(0.0))])],
                1,
            ),
            // Nothing measured at all.
            (
                chart(true, true),
                vec![series("dead", &[(1.0, None), (10.0, None)])],
                0,
            ),
            (chart(false, true), vec![], 0),
            (chart(false, false), vec![series("empty", &[])], 0),
            // Zero and negative values on log axes, on both x and y.
            (
                chart(true, true),
                vec![series(
                    "signs",
                    &[
                        (0.0, Some(1.0)),
                        (-5.0, Some(2.0)),
                        (10.0, Some(0.0)),
                        (100.0, Some(-3.0)),
                        (1000.0, Some(4.0)),
                    ],
                )],
                1,
            ),
            // Equal minimum and maximum.
            (
                chart(true, true),
                vec![series("flat", &[(5.0, Some(7.0)), (5.0, Some(7.0))])],
                1,
            ),
            (
                chart(false, false),
                vec![series("flat", &[(2.0, Some(-4.0)), (3.0, Some(-4.0))])],
                1,
            ),
            (
                chart(false, false),
                vec![series("zeros", &[(0.0, Some(0.0)), (0.0, Some(0.0))])],
                1,
            ),
            // Non-finite and absurd values.
            (
                chart(false, false),
                vec![series(
                    "wild",
                    &[
                        (nan, Some(1.0)),
                        (1.0, Some(nan)),
                        (2.0, Some(f64::INFINITY)),
                        (3.0, Some(1e300)),
                        (4.0, Some(2.0)),
                        (f64::NEG_INFINITY, None),
                    ],
                )],
                1,
            ),
            // Tiny and huge spans.
            (
                chart(false, true),
                vec![series(
                    "narrow",
                    &[(1.0, Some(1.0001)), (2.0, Some(1.0002))],
                )],
                1,
            ),
            (
                chart(true, false),
                vec![series("wide", &[(1e-9, Some(1e-9)), (1e12, Some(1e12))])],
                1,
            ),
        ];
        for (c, s, drawn) in cases {
            let svg = render(&c, &s);
            sound(&svg);
            assert_eq!(lines(&svg), drawn, "{s:?}\n{svg}");
            for one in &s {
                assert!(svg.contains(&one.name), "{}", one.name);
            }
        }
    }

    #[test]
    fn gaps_split_the_line_and_off_scale_values_are_marked() {
        let svg = render(
            &chart(false, true),
            &[series(
                "gappy",
                &[
                    (1.0, Some(1.0)),
                    (2.0, Some(2.0)),
                    (3.0, None),
                    (4.0, Some(0.0)),
                    (5.0, Some(5.0)),
                    (6.0, Some(6.0)),
                ],
            )],
        );
        sound(&svg);
        let d = svg
            .split("<path class=\"line\" d=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 2, "{d}");
        assert!(svg.contains(">×</text>") && svg.contains(">↓</text>"));
        assert!(svg.contains("↓ ≤ 0, not on the log axis"));
    }

    #[test]
    fn explicit_ticks_replace_the_automatic_ones() {
        let mut c = chart(true, false);
        c.x_ticks = vec![
            (1024.0, "1 KiB".into()),
            (1048576.0, "1 MiB".into()),
            (1e12, "far".into()),
        ];
        let svg = render(
            &c,
            &[series("s", &[(1024.0, Some(1.0)), (1048576.0, Some(2.0))])],
        );
        sound(&svg);
        assert!(svg.contains(">1 KiB</text>") && svg.contains(">1 MiB</text>"));
        assert!(
            !svg.contains(">far</text>"),
            "ticks outside the data stay out"
        );
        assert!(!svg.contains(">10k</text>"));
    }

    #[test]
    fn tick_labels_read_well() {
        let axis = linear_axis(&[0.3, 9.7], true);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "2", "4", "6", "8", "10"]);
        let axis = linear_axis(&[0.0, 0.45], true);
        assert_eq!(axis.ticks[1].1, "0.1");
        let axis = log_axis(&[1.0, 100000.0]);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["1", "10", "100", "1k", "10k", "100k"]);
        let axis = log_axis(&[1.2, 7.0]);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["2", "3", "4", "5", "6", "7"]);
        assert_eq!(format_number(0.00002, 0, false), "2e-5");
        assert_eq!(format_number(-0.0, 1, false), "0.0");
        assert_eq!(sig(1.23456), "1.235");
        assert_eq!(sig(1073741824.0), "1.074e9");
    }

    /// `cargo test --lib write_sample -- --ignored` writes /tmp/chart-sample.svg to look at.
    #[test]
    #[ignore]
    fn write_sample() {
        let (chart, series) = sample();
        std::fs::write("/tmp/chart-sample.svg", render(&chart, &series)).unwrap();
    }
}
