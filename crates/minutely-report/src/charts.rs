//! The page's charts, drawn with plotters' SVG backend into strings: latency CDF per stage,
//! throughput per second with the run's faults marked, per-minute counts of S3 against the
//! model, lag per shard. A second run (a comparison) is drawn dashed over the first.

use std::iter::once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::data::Run;

const SIZE: (u32, u32) = (960, 400);
const FONT: &str = "sans-serif";
/// One colour per series kind (stages, or produced/read/written), the same in every chart.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(214, 39, 40),
];
const FAULT: RGBColor = RGBColor(214, 39, 40);
/// The mesh's minor lines: there, but quiet.
const LIGHT: RGBColor = RGBColor(242, 242, 242);

/// One of a second's numbers.
type PerSecond = fn(&crate::data::Second) -> u64;

/// A chart's failure, said on the page in place of the chart.
pub type ChartError = String;

fn err<E: std::fmt::Debug>(e: E) -> ChartError {
    format!("{e:?}")
}

/// `A` and `B` in a comparison.
pub fn tag(i: usize) -> &'static str {
    ["A", "B"].get(i).copied().unwrap_or("?")
}

/// Draws into an SVG string of the page's size.
fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), ChartError>) -> Result<String, ChartError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// A line, solid for the first run and dashed for the second, with its legend entry.
macro_rules! line {
    ($chart:expr, $run:expr, $points:expr, $colour:expr, $label:expr) => {{
        let colour = $colour;
        let style = ShapeStyle { color: colour.to_rgba(), filled: false, stroke_width: 2 };
        let drawn = if $run == 0 {
            $chart.draw_series(LineSeries::new($points, style)).map_err(err)?
        } else {
            $chart.draw_series(DashedLineSeries::new($points, 7, 5, style)).map_err(err)?
        };
        if $run == 0 {
            drawn.label($label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style).into_dyn());
        } else {
            drawn.label($label).legend(move |(x, y)| {
                plotters::element::DashedPathElement::new(vec![(x, y), (x + 22, y)], 5, 3, style).into_dyn()
            });
        }
    }};
}

/// The series' legend, in a box at `$position`.
macro_rules! legend {
    ($chart:expr, $position:ident) => {
        $chart
            .configure_series_labels()
            .position(SeriesLabelPosition::$position)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)
    };
}

/// Latency CDF of every stage on one chart (log scale), p50/p95/p99 of the total marked, the
/// scenario's limits drawn as vertical lines.
pub fn latency(runs: &[&Run]) -> Result<String, ChartError> {
    let max = runs.iter().flat_map(|r| r.latency.stages()).map(|(_, s)| s.max_ms).max().unwrap_or(0).max(10);
    let l = &runs[0].latency;
    let limits = [l.limit_p50_ms, l.limit_p95_ms, l.limit_p99_ms];
    // Room right of the slowest event and of every limit, for their labels.
    let x_max = limits.into_iter().flatten().fold(max, u64::max) as f64 * 2.5;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d((1f64..x_max).log_scale(), 0f64..100f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("latency, ms (log scale)")
            .y_desc("% of events at or below")
            .label_style((FONT, 13))
            .light_line_style(LIGHT)
            .draw()
            .map_err(err)?;
        for (ri, run) in runs.iter().enumerate() {
            for (si, (name, stage)) in run.latency.stages().into_iter().enumerate() {
                if stage.cdf.is_empty() {
                    continue;
                }
                let points: Vec<(f64, f64)> = stage.cdf.iter().map(|(q, ms)| ((*ms).max(1) as f64, *q)).collect();
                let label = if runs.len() > 1 { format!("{name} ({})", tag(ri)) } else { name.to_owned() };
                line!(chart, ri, points, COLOURS[si], label);
            }
            let t = &run.latency.total;
            if t.count == 0 {
                continue;
            }
            for (p, ms) in [(50.0, t.p50_ms), (95.0, t.p95_ms), (99.0, t.p99_ms)] {
                let at = (ms.max(1) as f64, p);
                chart.draw_series(once(Circle::new(at, 4, BLACK.filled()))).map_err(err)?;
                let text =
                    format!("p{p} {ms} ms{}", if runs.len() > 1 { format!(" ({})", tag(ri)) } else { String::new() });
                let offset = if ri == 0 { (6, 4) } else { (6, -16) };
                let label = EmptyElement::at(at) + Text::new(text, offset, (FONT, 12).into_font());
                chart.draw_series(once(label)).map_err(err)?;
            }
        }
        for (name, limit) in ["p50", "p95", "p99"].into_iter().zip(limits) {
            let Some(ms) = limit else { continue };
            let style = ShapeStyle { color: FAULT.to_rgba(), filled: false, stroke_width: 1 };
            chart
                .draw_series(DashedLineSeries::new(vec![(ms as f64, 0.0), (ms as f64, 100.0)], 4, 4, style))
                .map_err(err)?;
            let y = match name {
                "p50" => 3.0,
                "p95" => 9.0,
                _ => 15.0,
            };
            let text = Text::new(format!("limit {name} {ms} ms"), (ms as f64, y), (FONT, 12).into_font().color(&FAULT));
            chart.draw_series(once(text)).map_err(err)?;
        }
        // Middle right: right of the slowest event every curve is at 100 %, and the limits'
        // labels are low down: nothing there for the legend to hide.
        legend!(chart, MiddleRight)
    })
}

/// Per second: records acknowledged, events read, counts written, and entries retried; the
/// run's faults (reshards, restarts, workers killed or added) as vertical lines.
pub fn throughput(runs: &[&Run]) -> Result<String, ChartError> {
    let end = |r: &&Run| r.throughput.iter().map(|s| s.second + r.throughput_step).max();
    let seconds = runs.iter().filter_map(end).max().unwrap_or(0).max(1) as f64;
    let markers = runs.iter().flat_map(|r| &r.markers).map(|m| m.second).fold(0.0, f64::max);
    let x_max = seconds.max(markers) + 1.0;
    // Per second: an entry summing several seconds is divided by them.
    let per_second = |r: &Run, v: u64| v as f64 / f64::from(r.throughput_step.max(1));
    let y_max = runs
        .iter()
        .flat_map(|r| r.throughput.iter().map(|s| per_second(r, s.produced.max(s.read).max(s.written).max(s.retried))))
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.45; // headroom for the legend above the curves: every series stays visible
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the first put")
            .y_desc("per second")
            .label_style((FONT, 13))
            .light_line_style(LIGHT)
            .draw()
            .map_err(err)?;
        for run in runs {
            // A fault window (`faults on` .. `faults off`, or the end) shaded behind the curves.
            for (from, to) in fault_windows(run, x_max) {
                let shade = Rectangle::new([(from, 0.0), (to, y_max)], FAULT.mix(0.10).filled());
                chart.draw_series(once(shade)).map_err(err)?;
            }
        }
        for (ri, run) in runs.iter().enumerate() {
            let suffix = if runs.len() > 1 { format!(" ({})", tag(ri)) } else { String::new() };
            let series: [(&str, PerSecond, RGBColor); 4] = [
                ("records acknowledged", |s| s.produced, COLOURS[0]),
                ("events read", |s| s.read, COLOURS[1]),
                ("counts written", |s| s.written, COLOURS[2]),
                ("entries retried", |s| s.retried, FAULT),
            ];
            for (name, value, colour) in series {
                if name == "entries retried" && run.throughput.iter().all(|s| s.retried == 0) {
                    continue;
                }
                let middle = f64::from(run.throughput_step.max(1)) / 2.0;
                let points: Vec<(f64, f64)> =
                    run.throughput.iter().map(|s| (s.second as f64 + middle, per_second(run, value(s)))).collect();
                line!(chart, ri, points, colour, format!("{name}{suffix}"));
            }
            for (i, m) in run.markers.iter().enumerate() {
                let style = ShapeStyle { color: FAULT.mix(0.7), filled: false, stroke_width: 1 };
                chart
                    .draw_series(DashedLineSeries::new(vec![(m.second, 0.0), (m.second, y_max)], 3, 3, style))
                    .map_err(err)?;
                // Labels step down the chart so that markers close together stay readable.
                let y = y_max * (0.96 - 0.07 * ((i + ri * 2) % 6) as f64);
                let text =
                    Text::new(format!("{}{suffix}", m.what), (m.second, y), (FONT, 12).into_font().color(&FAULT));
                chart.draw_series(once(text)).map_err(err)?;
            }
        }
        legend!(chart, UpperRight)
    })
}

/// The spans of a run (seconds) when its faults were on: from each `faults on` marker to the
/// next `faults off`, or to `end`.
pub fn fault_windows(run: &Run, end: f64) -> Vec<(f64, f64)> {
    let mut windows = Vec::new();
    let mut open = None;
    for m in &run.markers {
        match m.what.as_str() {
            "faults on" => open = open.or(Some(m.second)),
            "faults off" => windows.extend(open.take().map(|from| (from, m.second))),
            _ => {}
        }
    }
    windows.extend(open.map(|from| (from, end)));
    windows
}

/// Each minute's count over every key: the model as grey bars, S3 as blue points, minutes
/// where they differ as red crosses.
pub fn minutes(run: &Run) -> Result<String, ChartError> {
    let n = run.minutes.len();
    let y_max = run.minutes.iter().map(|m| m.model.max(m.s3)).max().unwrap_or(0).max(1) as f64 * 1.15;
    let labels: Vec<String> = run.minutes.iter().map(|m| minute_label(&m.minute)).collect();
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5f64..n.max(1) as f64 - 0.5, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("minute (event time)")
            .y_desc("events counted")
            .x_labels(n.clamp(1, 16))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .label_style((FONT, 12))
            .light_line_style(LIGHT)
            .draw()
            .map_err(err)?;
        let grey = RGBColor(190, 190, 190);
        chart
            .draw_series(
                run.minutes.iter().enumerate().map(|(i, m)| {
                    Rectangle::new([(i as f64 - 0.4, 0.0), (i as f64 + 0.4, m.model as f64)], grey.filled())
                }),
            )
            .map_err(err)?
            .label("model")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], grey.filled()));
        chart
            .draw_series(
                run.minutes
                    .iter()
                    .enumerate()
                    .map(|(i, m)| Circle::new((i as f64, m.s3 as f64), 3, COLOURS[0].filled())),
            )
            .map_err(err)?
            .label("S3")
            .legend(|(x, y)| Circle::new((x + 7, y), 3, COLOURS[0].filled()));
        let differ: Vec<(f64, f64)> = run
            .minutes
            .iter()
            .enumerate()
            .filter(|(_, m)| m.s3 != m.model)
            .map(|(i, m)| (i as f64, m.s3 as f64))
            .collect();
        if !differ.is_empty() {
            chart
                .draw_series(differ.into_iter().map(|p| Cross::new(p, 7, FAULT.stroke_width(3))))
                .map_err(err)?
                .label("S3 differs from the model")
                .legend(|(x, y)| Cross::new((x + 7, y), 5, FAULT.stroke_width(2)));
        }
        legend!(chart, UpperRight)
    })
}

/// `201608211700` as `17:00` (and `08-21 17:00` would not fit under a bar).
fn minute_label(minute: &str) -> String {
    match minute.get(8..12) {
        Some(hm) if minute.len() == 12 => format!("{}:{}", &hm[..2], &hm[2..]),
        _ => minute.to_owned(),
    }
}

/// `MillisBehindLatest` of every shard over the run, one line each.
pub fn lag(run: &Run) -> Result<String, ChartError> {
    let x_max = run.lag.iter().flat_map(|l| &l.points).map(|p| p.0).fold(1.0, f64::max) + 1.0;
    let y_max = run.lag.iter().flat_map(|l| &l.points).map(|p| p.1).max().unwrap_or(0).max(100) as f64 * 1.15;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the first put")
            .y_desc("ms behind the newest record")
            .label_style((FONT, 13))
            .light_line_style(LIGHT)
            .draw()
            .map_err(err)?;
        for (i, shard) in run.lag.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let style = ShapeStyle { color: colour, filled: false, stroke_width: 2 };
            let points = shard.points.iter().map(|(s, ms)| (*s, (*ms).max(0) as f64));
            let drawn = chart.draw_series(LineSeries::new(points, style)).map_err(err)?;
            if run.lag.len() <= 8 {
                drawn
                    .label(shard.shard.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
            }
        }
        if run.lag.len() <= 8 && !run.lag.is_empty() {
            legend!(chart, UpperRight)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_labelled_by_their_time_of_day() {
        assert_eq!(minute_label("201608211700"), "17:00");
        assert_eq!(minute_label("odd"), "odd");
    }
}
