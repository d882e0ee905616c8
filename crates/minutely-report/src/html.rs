//! The page: one HTML file with its style inline and its charts as inline SVG; no script, no
//! font, nothing fetched. One run, or two side by side (latency and throughput overlaid, A
//! solid and B dashed).

use std::fmt::Write;

use crate::charts::{self, ChartError, tag};
use crate::data::Run;

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.verdict { padding: .1rem .5rem; border-radius: .3rem; color: white; font-size: 1rem; vertical-align: middle; }
.PASSED { background: #2c7a2c; } .FAILED, .INTERRUPTED, .TIMED.OUT { background: #b52a2a; }
.runs { display: grid; gap: 1.5rem; } .runs.two { grid-template-columns: 1fr 1fr; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .2rem .6rem; text-align: left; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fbe9e9; } tr.passed td:last-child { color: #2c7a2c; } tr.failed td:last-child { color: #b52a2a; font-weight: bold; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; white-space: pre; }
tr.total td { font-weight: bold; } tr.part td:first-child { padding-left: 1.6rem; }
figcaption { color: #555; font-size: .9rem; }
figure.chart { margin: 1rem 0; } figure.chart svg { width: 100%; height: auto; }
.error { color: #b52a2a; } .muted { color: #777; }
"#;

/// `&`, `<`, `>` and quotes escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page of one run, or of two compared (`runs` has one or two).
pub fn page(runs: &[Run]) -> String {
    let refs: Vec<&Run> = runs.iter().take(2).collect();
    let title = match refs.as_slice() {
        [a] => format!("scenario {}: {} ({})", a.scenario, a.verdict(), a.backend),
        [a, b] => format!("{} ({}) against {} ({})", a.scenario, a.backend, b.scenario, b.backend),
        _ => "no run".to_owned(),
    };
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>minutely: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let two = refs.len() == 2;
    let _ = writeln!(o, "<div class=\"runs{}\">", if two { " two" } else { "" });
    for (i, run) in refs.iter().enumerate() {
        header(&mut o, run, two.then(|| tag(i)));
    }
    o.push_str("</div>\n");

    figure(&mut o, "latency", "Latency per stage (CDF)", charts::latency(&refs));
    latency_table(&mut o, &refs);
    let faulted = refs.iter().any(|r| !r.markers.is_empty() || r.put_retries > 0);
    let title = if faulted { "Throughput, with the run's faults marked" } else { "Throughput (no faults in this run)" };
    figure(&mut o, "throughput", title, charts::throughput(&refs));
    o.push_str("<p class=\"muted\">Counts are written when a minute closes: when the watermark passes its end, or when a shard has had no record for the idle timeout. The written curve comes in steps, and its last step can lag the reads by that timeout.</p>\n");
    for (i, run) in refs.iter().enumerate() {
        let of = if two { format!(" ({} {})", tag(i), escape(&run.backend)) } else { String::new() };
        let differ = run.minutes.iter().filter(|m| m.s3 != m.model).count();
        let title =
            format!("Per-minute counts: S3 against the model{of}, {differ} of {} minutes differ", run.minutes.len());
        figure(&mut o, &format!("counts{}", suffix(two, i)), &title, charts::minutes(run));
        differences(&mut o, run);
        if let Some(h) = &run.history {
            checks_found(&mut o, h, &of);
        }
        let most = run.lag.iter().flat_map(|l| &l.points).map(|p| p.1).max();
        let id = format!("lag{}", suffix(two, i));
        match most {
            // A chart of a flat zero (or of nothing) says less than a line of text.
            None | Some(..=0) => {
                let said = if most.is_none() {
                    "no samples were taken"
                } else {
                    "every reader stayed 0 ms behind the newest record"
                };
                let _ = writeln!(
                    o,
                    "<h2>Lag per shard (MillisBehindLatest){of}</h2>\n<p id=\"chart-{id}\" class=\"folded\">{} shards: {said} over the whole run, so no chart.</p>",
                    run.lag.len()
                );
            }
            Some(ms) => {
                let title =
                    format!("Lag per shard (MillisBehindLatest){of}: {} shards, at most {ms} ms behind", run.lag.len());
                figure(&mut o, &id, &title, charts::lag(run));
            }
        }
    }
    for (i, run) in refs.iter().enumerate() {
        let of = if two { format!(" ({})", tag(i)) } else { String::new() };
        let _ = write!(
            o,
            "<h2>Text summary{of}</h2>\n<pre id=\"summary{}\">{}</pre>\n",
            suffix(two, i),
            escape(&run.summary)
        );
    }
    o.push_str("</body>\n</html>\n");
    o
}

fn suffix(two: bool, i: usize) -> String {
    if two { format!("-{}", tag(i).to_lowercase()) } else { String::new() }
}

/// When, with what build, where and how the run was made, in one muted line.
fn provenance(o: &mut String, run: &Run) {
    match run.provenance() {
        Some(p) => {
            let _ = writeln!(
                o,
                "<p class=\"muted provenance\">run at {} · minutely {} ({}) · on {} ({} cores, {} GiB) · seed {} · <code>{}</code></p>",
                escape(&p.started_at),
                escape(&p.version),
                escape(&p.commit),
                escape(&p.host),
                p.cores,
                p.memory_gib,
                p.seed,
                escape(&p.command)
            );
        }
        None => o.push_str("<p class=\"muted provenance\">when, with which build and how it ran: not in this report (made before they were kept)</p>\n"),
    }
}

fn header(o: &mut String, run: &Run, tag: Option<&str>) {
    let verdict = run.verdict();
    let _ = write!(
        o,
        "<section class=\"run\" id=\"run{}\">\n<h1>{}scenario {} <span class=\"verdict {verdict}\">{verdict}</span></h1>\n<p>{}</p>\n<p class=\"muted\">backend {} · run {:.1} s",
        tag.map(|t| format!("-{}", t.to_lowercase())).unwrap_or_default(),
        tag.map(|t| format!("{t}: ")).unwrap_or_default(),
        escape(&run.scenario),
        escape(&run.description),
        escape(&run.backend),
        run.run_seconds
    );
    if let Some(r) = run.replay.as_ref().filter(|r| r.clock == "virtual") {
        let (wall, command) = (run.wall.run_seconds, escape(&r.command));
        let _ = write!(o, " of virtual time ({wall:.1} s of wall time) · replays exactly: <code>{command}</code>");
    }
    if let Some(why) = &run.interrupted {
        let _ = write!(o, " · cut short: {}", escape(why));
    }
    o.push_str("</p>\n");
    provenance(o, run);
    o.push_str("<h2>Expectations</h2>\n<table class=\"checks\">\n<tr><th>check</th><th>expected</th><th>measured</th><th>verdict</th></tr>\n");
    for c in &run.checks {
        let (class, said) = if c.passed { ("passed", "passed") } else { ("failed", "FAILED") };
        let _ = writeln!(
            o,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{said}</td></tr>",
            escape(&c.name),
            escape(&c.expected),
            escape(&c.measured)
        );
    }
    o.push_str("</table>\n");
    if !run.failures.is_empty() {
        o.push_str("<ul class=\"failures\">\n");
        for f in &run.failures {
            let _ = writeln!(o, "<li class=\"error\">{}</li>", escape(f));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("<h2>Totals</h2>\n<table class=\"totals\">\n");
    let rows: [(&str, String); 14] = [
        ("records in", run.records_in.to_string()),
        ("events (model)", run.events.to_string()),
        ("counted in S3", run.counted.to_string()),
        ("of them late", run.late.to_string()),
        ("rejected by the producer", run.rejected_by_producer.to_string()),
        ("rejected by the consumer", run.rejected_by_consumer.to_string()),
        ("duplicates dropped", run.duplicates_dropped.to_string()),
        ("objects written", run.objects.to_string()),
        ("put retries", run.put_retries.to_string()),
        ("consumer restarts", run.consumer_restarts.to_string()),
        ("reshards", if run.reshards.is_empty() { "none".into() } else { run.reshards.join("; ") }),
        ("records sent", run.records_sent.to_string()),
        ("produced in", format!("{:.2} s", run.produce_seconds)),
        ("put rate", format!("{:.0} events/s", run.throughput_events_per_s)),
    ];
    for (name, value) in rows {
        let _ = writeln!(o, "<tr><td>{name}</td><td class=\"num\" data-total=\"{name}\">{}</td></tr>", escape(&value));
    }
    o.push_str("</table>\n<h2>Input, pipeline, faults</h2>\n");
    for (name, text) in [("input", &run.input), ("pipeline", &run.pipeline), ("faults", &run.faults)] {
        let shown = if text.trim().is_empty() { "(none)".to_owned() } else { escape(text.trim()) };
        let _ = writeln!(o, "<pre class=\"{name}\">[{name}]\n{shown}</pre>");
    }
    o.push_str("</section>\n");
}

fn figure(o: &mut String, id: &str, title: &str, chart: Result<String, ChartError>) {
    let _ = write!(o, "<h2>{}</h2>\n<figure class=\"chart\" id=\"chart-{id}\">\n", escape(title));
    match chart {
        Ok(svg) => o.push_str(svg.trim_start_matches(|c| c != '<')),
        Err(e) => {
            let _ = write!(o, "<p class=\"error\">this chart could not be drawn: {}</p>", escape(&e));
        }
    }
    o.push_str("\n</figure>\n");
}

/// The minutes where S3 and the model differ, with the difference (the first 50).
fn differences(o: &mut String, run: &Run) {
    let differ: Vec<_> = run.minutes.iter().filter(|m| m.s3 != m.model).collect();
    if differ.is_empty() {
        return;
    }
    o.push_str("<table class=\"differences\">\n<tr><th>minute</th><th>model</th><th>S3</th><th>S3 - model</th></tr>\n");
    for m in differ.iter().take(50) {
        let _ = writeln!(
            o,
            "<tr class=\"failed\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:+}</td></tr>",
            escape(&m.minute),
            m.model,
            m.s3,
            m.s3 as i128 - m.model as i128
        );
    }
    if differ.len() > 50 {
        let _ = writeln!(o, "<tr><td colspan=\"4\">and {} more</td></tr>", differ.len() - 50);
    }
    o.push_str("</table>\n");
}

/// The checks of a run with the user's programs: each class the stream's check found, with its
/// first witnesses by id and place, and each class of (window, key) pairs the counts' check
/// found, with the first pairs.
fn checks_found(o: &mut String, h: &crate::data::History, of: &str) {
    if let Some(c) = &h.stream {
        let v = &c.verdict;
        let _ = write!(
            o,
            "<h2 id=\"checks-stream\">The stream's check{of}: {} of {} expected events stored as given ({} records read)</h2>\n<table class=\"anomalies\">\n<tr><th>class</th><th>events</th><th>share</th><th>first witnesses</th></tr>\n",
            v.ok, v.expected, c.records_read
        );
        for (name, k) in v.classes.iter().filter(|(_, k)| k.count > 0) {
            let class = if c.failed.contains(name) { "failed" } else { "passed" };
            let witnesses: Vec<String> = k
                .witnesses
                .iter()
                .take(10)
                .map(|w| {
                    let at = w.places.first().map(|p| format!(" ({} {}#{})", p.shard, p.sequence, p.index));
                    let why = w.reason.as_ref().map(|r| format!(": {r}"));
                    format!("{}{}{}", w.id, at.unwrap_or_default(), why.unwrap_or_default())
                })
                .collect();
            let _ = writeln!(
                o,
                "<tr class=\"{class}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}%</td><td>{}</td></tr>",
                escape(name),
                k.count,
                k.fraction * 100.0,
                escape(&witnesses.join(", "))
            );
        }
        o.push_str("</table>\n");
    }
    if let Some(c) = &h.counts {
        let v = &c.verdict;
        let _ = write!(
            o,
            "<h2 id=\"checks-counts\">The counts' check{of}: {} of {} (minute, key) pairs as expected ({} objects)</h2>\n<table class=\"anomalies\">\n<tr><th>class</th><th>pairs</th><th>events off</th><th>first pairs (found for expected)</th></tr>\n",
            v.ok, v.pairs_expected, c.objects
        );
        for (name, k) in v.classes.iter().filter(|(_, k)| k.windows > 0) {
            let class = if c.failed.contains(name) { "failed" } else { "passed" };
            let first: Vec<String> = k
                .first
                .iter()
                .take(10)
                .map(|d| format!("{} {:?}: {} for {}", minute_label(d.window_start_ms), d.key, d.found, d.expected))
                .collect();
            let _ = writeln!(
                o,
                "<tr class=\"{class}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(name),
                k.windows,
                k.events,
                escape(&first.join(", "))
            );
        }
        o.push_str("</table>\n");
    }
}

/// `YYYYMMDDHHMM` of a window's start (UTC), by hand: this crate depends on nothing of
/// minutely's.
fn minute_label(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000);
    let (days, minute_of_day) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}{:02}{:02}", minute_of_day / 60, minute_of_day % 60)
}

fn latency_table(o: &mut String, runs: &[&Run]) {
    o.push_str("<table class=\"latency\">\n<tr><th>stage</th><th>events</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>\n");
    for (i, run) in runs.iter().enumerate() {
        for (n, (name, s)) in run.latency.stages().into_iter().enumerate() {
            // The first stage is the whole path; the others are its parts, in order.
            let (class, name) = if n == 0 { ("total", format!("{name}, in all")) } else { ("part", name.to_owned()) };
            let name = if runs.len() > 1 { format!("{name} ({})", tag(i)) } else { name };
            let _ = writeln!(
                o,
                "<tr class=\"{class}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&name),
                s.count,
                s.p50_ms,
                s.p95_ms,
                s.p99_ms,
                s.max_ms
            );
        }
    }
    o.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_labels_by_hand() {
        assert_eq!(minute_label(1_471_798_800_000), "201608211700");
        assert_eq!(minute_label(951_782_400_000 + 60_000 * 61), "200002290101");
        assert_eq!(minute_label(-60_000), "196912312359");
    }

    #[test]
    fn escapes_what_html_would_read_as_markup() {
        assert_eq!(escape(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }
}
