//! Log–log line charts as standalone SVG documents, for the benchmark's figures, drawn with
//! plotters' SVG backend. Readable at 800×450, colours from the Okabe–Ito palette (safe for
//! colour-blind readers) and told apart by marker shape as well, so a grey print still shows
//! which line is which. Text is left to the viewer's fonts (the SVG names a family): no font
//! is read to draw it.
//!
//! A missing value (a failed measurement, or one a log axis cannot show) leaves a gap in its
//! line and an "×" in the series' colour at its x, in a band just above the x axis that no
//! line enters.

use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::CoordTranslate;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 450;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub name: String,
    /// x and y; `None` is a failed or missing measurement: a gap, marked on the x axis.
    pub points: Vec<(f64, Option<f64>)>,
}

/// Both axes are logarithmic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Labelled positions for the x axis, e.g. `(1024.0, "1 KiB")`; decades when empty.
    pub x_ticks: Vec<(f64, String)>,
}

/// Okabe & Ito's palette without its yellow, which is unreadable on white.
static PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0x8C, 0x8C, 0x8C),
];

const FONT: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";
/// plotters writes a text's size as `size / 1.24` into the SVG: this is the factor back.
const PX: f64 = 1.24;
const LEGEND_W: u32 = 230;
const GREY: RGBColor = RGBColor(0x55, 0x55, 0x55);

fn font(px: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, px * PX)).color(&RGBColor(0x33, 0x33, 0x33))
}

/// A value a log axis can place.
fn usable(v: f64) -> bool {
    v.is_finite() && v > 1e-200 && v < 1e200
}

/// Colour, marker shape and dash for the `i`th series: past the palette, colours repeat
/// with another shape and a dashed line.
fn style_of(i: usize) -> (&'static RGBColor, usize, bool) {
    (
        &PALETTE[i % PALETTE.len()],
        (i + i / PALETTE.len()) % 4,
        (i / PALETTE.len()) % 2 == 1,
    )
}

/// Circles, squares, triangles or diamonds, centred on `points`, outlined in white.
fn markers<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    points: &[CT::From],
    shape: usize,
    colour: &RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    CT::From: Clone,
{
    let (fill, edge) = (colour.filled(), WHITE.stroke_width(1));
    let corners = match shape {
        0 => vec![],
        1 => vec![(-4, -4), (4, -4), (4, 4), (-4, 4)],
        2 => vec![(0, -6), (5, 4), (-5, 4)],
        _ => vec![(0, -6), (6, 0), (0, 6), (-6, 0)],
    };
    let outline: Vec<(i32, i32)> = corners.iter().chain(corners.first()).copied().collect();
    for p in points {
        let at = || EmptyElement::at(p.clone());
        if corners.is_empty() {
            area.draw(&(at() + Circle::new((0, 0), 4, fill)))?;
            area.draw(&(at() + Circle::new((0, 0), 4, edge)))?;
        } else {
            area.draw(&(at() + Polygon::new(corners.clone(), fill)))?;
            area.draw(&(at() + PathElement::new(outline.clone(), edge)))?;
        }
    }
    Ok(())
}

/// Ticks of a log axis over `lo..hi`: 1-2-5 steps, or decades when there are too many.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let steps: &[f64] = if k1 - k0 > 4 {
        &[1.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    (k0..=k1)
        .flat_map(|k| steps.iter().map(move |m| m * 10f64.powi(k)))
        .filter(|v| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9))
        .collect()
}

/// A tick label: as few digits as the value needs.
fn tick_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{v:.0e}")
    } else if v >= 1.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').to_string()
    }
}

/// The range `values` span on a log axis, a little wider; `(1, 10)` when there are none.
fn log_span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| usable(*v))
        .fold(None, |acc: Option<(f64, f64)>, v| {
            Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
        .unwrap_or((1.0, 10.0));
    let (l0, l1) = (lo.log10(), hi.log10());
    let (l0, l1) = if l1 - l0 < 1e-9 {
        (l0 - 0.5, l1 + 0.5)
    } else {
        (l0, l1)
    };
    let pad = (l1 - l0) * 0.05;
    (10f64.powf(l0 - pad), 10f64.powf(l1 + pad))
}

/// A complete SVG document for `series` drawn on `chart`'s axes.
pub fn render(chart: &Chart, series: &[Series]) -> String {
    let mut svg = String::new();
    if let Err(e) = draw(&mut svg, chart, series) {
        // Drawing into a string fails only on a bug; say so in the chart rather than panic.
        svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\">\
             <text x=\"20\" y=\"40\">chart failed: {}</text></svg>\n",
            e.to_string().replace('&', "&amp;").replace('<', "&lt;")
        );
    }
    svg
}

type Failure = Box<dyn std::error::Error>;

fn draw(svg: &mut String, chart: &Chart, series: &[Series]) -> Result<(), Failure> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = TextStyle::from((FONT, 17.0 * PX, FontStyle::Bold));
    let root = root
        .margin(14, 0, 0, 0)
        .titled(&chart.title, title.color(&RGBColor(0x22, 0x22, 0x22)))?;
    let (plot_area, legend_area) = root.split_horizontally(WIDTH - LEGEND_W);

    let ticks: Vec<&(f64, String)> = chart.x_ticks.iter().filter(|t| usable(t.0)).collect();
    let points = |s: &Series| {
        let mut points: Vec<(f64, Option<f64>)> =
            s.points.iter().copied().filter(|p| usable(p.0)).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    };
    let points: Vec<_> = series.iter().map(points).collect();
    let all = || points.iter().flatten();
    let (x_lo, x_hi) = log_span(all().map(|p| p.0).chain(ticks.iter().map(|t| t.0)));
    let (y_lo, y_hi) = log_span(all().filter_map(|p| p.1));
    // Missing values: a mark per series at its x, stacked in a band below the data.
    let mut marks: Vec<(f64, usize, i32)> = Vec::new();
    for (i, pts) in points.iter().enumerate() {
        for &(x, _) in pts.iter().filter(|p| !p.1.is_some_and(usable)) {
            let k = marks.iter().filter(|m| m.0 == x).count() as i32;
            marks.push((x, i, k));
        }
    }
    let stack = marks.iter().map(|m| m.2 + 1).max().unwrap_or(0);
    // Of about 330 px of plot, the band takes 24 px and 14 more a mark.
    let band = if stack > 0 {
        f64::from(24 + 14 * stack) / 330.0
    } else {
        0.0
    };
    let y_bottom = 10f64.powf(y_lo.log10() - (y_hi / y_lo).log10() * band / (1.0 - band));

    let x_points: Vec<f64> = if ticks.is_empty() {
        let decades = log_ticks(x_lo, x_hi).into_iter();
        decades.filter(|v| v.log10().fract() == 0.0).collect()
    } else {
        ticks.iter().map(|t| t.0).collect()
    };
    let y_points = log_ticks(y_lo, y_hi);
    // Unlabelled grid lines between the labelled ones: every 1..9 of each decade.
    let y_minor: Vec<f64> = (y_lo.log10().floor() as i32..=y_hi.log10().ceil() as i32)
        .flat_map(|k| (1..10).map(move |m| f64::from(m) * 10f64.powi(k)))
        .filter(|v| *v >= y_lo && *v <= y_hi && !y_points.contains(v))
        .collect();
    let x_range = (x_lo..x_hi).log_scale().with_key_points(x_points);
    let y_range = (y_bottom..y_hi)
        .log_scale()
        .with_key_points(y_points)
        .with_light_points(y_minor);

    let mut ctx = ChartBuilder::on(&plot_area)
        .margin_top(8)
        .margin_right(16)
        .x_label_area_size(46)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range, y_range)?;
    let x_label = |v: &f64| {
        let tick = ticks.iter().find(|t| (t.0 / v - 1.0).abs() < 1e-9);
        tick.map_or_else(|| tick_label(*v), |t| t.1.clone())
    };
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_label_formatter(&x_label)
        .y_label_formatter(&|v| tick_label(*v))
        .label_style(font(12.0))
        .axis_desc_style(font(13.0))
        .axis_style(GREY)
        .bold_line_style(RGBColor(0xde, 0xde, 0xde))
        .light_line_style(RGBColor(0xf2, 0xf2, 0xf2))
        .draw()?;

    let mut drawn_any = false;
    for (i, pts) in points.iter().enumerate() {
        let (colour, shape, dashed) = style_of(i);
        let line = colour.stroke_width(2);
        // One run of consecutive usable values at a time: a missing value is a gap.
        for run in pts.split(|p| !p.1.is_some_and(usable)) {
            let run: Vec<(f64, f64)> = run.iter().filter_map(|&(x, y)| Some((x, y?))).collect();
            if run.is_empty() {
                continue;
            }
            drawn_any = true;
            if dashed {
                ctx.draw_series(DashedLineSeries::new(run.clone(), 7, 4, line))?;
            } else {
                ctx.draw_series(LineSeries::new(run.clone(), line))?;
            }
            markers(ctx.plotting_area(), &run, shape, colour)?;
        }
    }
    let centre = |lo: f64, hi: f64| (lo * hi).sqrt();
    if !drawn_any {
        let style = font(15.0).pos(Pos::new(HPos::Center, VPos::Center));
        let at = (centre(x_lo, x_hi), centre(y_lo, y_hi));
        ctx.plotting_area().draw(&Text::new("no data", at, style))?;
    }
    if !marks.is_empty() {
        let edge = [(x_lo, y_lo), (x_hi, y_lo)];
        let style = RGBColor(0xbb, 0xbb, 0xbb).stroke_width(1);
        ctx.draw_series(DashedLineSeries::new(edge, 3, 3, style))?;
    }
    let below = Pos::new(HPos::Center, VPos::Bottom);
    for &(x, i, k) in &marks {
        let cross = title.color(style_of(i).0).pos(below);
        let at = EmptyElement::at((x, y_bottom));
        ctx.plotting_area()
            .draw(&(at + Text::new("×", (0, -3 - 14 * k), cross)))?;
        if !marks.iter().any(|m| m.0 == x && m.2 > k) {
            let note = font(10.0).color(&GREY).pos(below);
            let at = EmptyElement::at((x, y_bottom));
            ctx.plotting_area()
                .draw(&(at + Text::new("failed", (0, -20 - 14 * k), note)))?;
        }
    }

    let top = ctx.plotting_area().get_pixel_range().1.start - legend_area.get_base_pixel().1;
    legend(&legend_area, series, !marks.is_empty(), top)?;
    root.present()?;
    Ok(())
}

/// The legend, a row per series, beside the plot from its top `top` down.
fn legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    series: &[Series],
    failures: bool,
    top: i32,
) -> Result<(), Failure> {
    let height = 12 + 20 * series.len() as i32 + if failures { 17 } else { 0 };
    area.draw(&Rectangle::new(
        [(2, top), (LEGEND_W as i32 - 8, top + height)],
        RGBColor(0xd0, 0xd0, 0xd0).stroke_width(1),
    ))?;
    for (i, s) in series.iter().enumerate() {
        let (colour, shape, dashed) = style_of(i);
        let y = top + 18 + 20 * i as i32;
        let line = colour.stroke_width(2);
        let ends = vec![(10, y), (36, y)];
        if dashed {
            area.draw(&DashedPathElement::new(ends, 7, 4, line))?;
        } else {
            area.draw(&PathElement::new(ends, line))?;
        }
        markers(area, &[(23, y)], shape, colour)?;
        let shown = s
            .points
            .iter()
            .any(|p| usable(p.0) && p.1.is_some_and(usable));
        let name = if shown || s.points.is_empty() {
            s.name.clone()
        } else {
            format!("{} (no values)", s.name)
        };
        let label = font(12.0).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(name, (44, y), label))?;
    }
    if failures {
        let y = top + 18 + 20 * series.len() as i32;
        let note = font(11.0).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(
            "× failed (no value)",
            (10, y),
            note.color(&GREY),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: f64 = 1_073_741_824.0;

    /// Four body sizes and four modes, one failing at the two largest, as in a real run.
    fn sample() -> (Chart, Vec<Series>) {
        let sizes = [1024.0, 1_048_576.0, 67_108_864.0, GIB];
        let ticks = ["1 KiB", "1 MiB", "64 MiB", "1 GiB"];
        let series = |name: &str, ys: [Option<f64>; 4]| Series {
            name: name.into(),
            points: sizes.iter().copied().zip(ys).collect(),
        };
        (
            Chart {
                title: "Time to first byte against body size (p50)".into(),
                x_label: "body size".into(),
                y_label: "TTFB ms".into(),
                x_ticks: sizes
                    .iter()
                    .zip(ticks)
                    .map(|(s, t)| (*s, t.to_string()))
                    .collect(),
            },
            vec![
                series("origin", [Some(0.23), Some(0.21), Some(0.21), Some(0.21)]),
                series(
                    "reference",
                    [Some(2.07), Some(2.44), Some(2.37), Some(2.52)],
                ),
                series(
                    "firstbyte",
                    [Some(2.33), Some(2.58), Some(2.51), Some(2.72)],
                ),
                series("buffered", [Some(2.17), Some(6.40), None, None]),
                series(
                    "gzip>html>br & co",
                    [Some(2.47), Some(3.65), Some(3.51), Some(3.52)],
                ),
            ],
        )
    }

    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                Some(
                    t.split_once('>')?
                        .1
                        .split_once("</text>")?
                        .0
                        .trim()
                        .to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn a_chart_labels_its_axes_ticks_and_every_series() {
        let (chart, series) = sample();
        let svg = render(&chart, &series);
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        let texts = texts(&svg);
        for label in [
            "Time to first byte against body size (p50)",
            "body size",
            "TTFB ms",
            "1 KiB",
            "1 MiB",
            "64 MiB",
            "1 GiB",
            "origin",
            "firstbyte",
            "gzip&gt;html&gt;br &amp; co",
            "× failed (no value)",
            "1",
            "2",
        ] {
            assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
        }
        // Two failed values: two crosses above the axis, in the buffered line's colour.
        assert_eq!(texts.iter().filter(|t| *t == "×").count(), 2, "{texts:?}");
        assert!(svg.contains("#D55E00"), "buffered's colour");
        // No font was read: the text is left to the viewer, in the family the SVG names.
        assert!(svg.contains("font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn degenerate_inputs_still_make_a_chart() {
        let empty = render(&Chart::default(), &[]);
        assert!(texts(&empty).iter().any(|t| t == "no data"), "{empty}");
        let odd = Series {
            name: "odd".into(),
            points: vec![
                (f64::NAN, Some(1.0)),
                (1.0, Some(0.0)),
                (2.0, Some(f64::INFINITY)),
            ],
        };
        let svg = render(&Chart::default(), &[odd]);
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(texts(&svg).iter().any(|t| t == "odd (no values)"), "{svg}");
        assert!(!svg.contains("NaN"), "{svg}");
        let flat = Series {
            name: "flat".into(),
            points: vec![(5.0, Some(3.0)), (5.0, Some(3.0))],
        };
        assert!(!render(&Chart::default(), &[flat]).contains("no data"));
    }

    #[test]
    fn tick_labels_read_well() {
        assert_eq!(log_ticks(0.15, 7.0), [0.2, 0.5, 1.0, 2.0, 5.0]);
        assert_eq!(log_ticks(1.0, 1e9).len(), 10);
        let labels: Vec<String> = [0.2, 0.05, 1.0, 20.0, 1000.0, 1e7]
            .into_iter()
            .map(tick_label)
            .collect();
        assert_eq!(labels, ["0.2", "0.05", "1", "20", "1000", "1e7"]);
    }

    /// `cargo test --release --lib write_sample -- --ignored` writes the sample chart to
    /// target/bench/sample.svg, to look at.
    #[test]
    #[ignore]
    fn write_sample() {
        let (chart, series) = sample();
        let dir = crate::stack::repo_root().join("target/bench");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("sample.svg"), render(&chart, &series)).unwrap();
    }
}
