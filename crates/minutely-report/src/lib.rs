//! A scenario run's report as a page: one self-contained HTML file (style inline, charts as
//! inline SVG drawn with plotters, no script, no font, nothing fetched) made from the run's JSON
//! report, so that any earlier run can be drawn again, and two runs compared.
//!
//! ```text
//! target/scenarios/NAME.json ──► data::Run ──► html::page ──► header (verdicts, totals, input)
//!                                                  └──► charts: latency CDF, throughput + faults,
//!                                                       per-minute S3 against model, lag per shard
//! ```

pub mod charts;
pub mod data;
pub mod html;

pub use data::Run;
pub use html::page;

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as `minutely scenario` writes it, cut down to a few seconds and minutes.
    const REPORT: &str = r#"{
      "scenario": "smoke", "description": "A <small> run", "backend": "sim", "passed": false,
      "failures": ["latency p99 9000 ms is above the limit 5s"],
      "checks": [
        {"name": "S3 sums equal the model", "expected": "every (minute, key) exactly", "measured": "1200 counted of 1200 events; 0 (minute, key) short, 0 over", "passed": true},
        {"name": "latency p99, put to S3", "expected": "at most 5s", "measured": "9000 ms", "passed": false}
      ],
      "input": "count = 1200\nseed = 7\n", "pipeline": "shards = 2\n", "faults": "",
      "records_in": 1210, "events": 1200, "counted": 1200, "late": 3, "rejected_by_producer": 0,
      "rejected_by_consumer": 10, "duplicates_dropped": 10, "consumer_restarts": 1,
      "reshards": ["split shardId-000000000000"], "put_retries": 4, "objects": 9,
      "latency": {
        "total": {"count": 1200, "p50_ms": 3000, "p95_ms": 8000, "p99_ms": 9000, "max_ms": 9500,
                  "cdf": [[0.0, 100], [50.0, 3000], [95.0, 8000], [99.0, 9000], [100.0, 9500]]},
        "put_acknowledged": {"count": 1200, "p50_ms": 40, "p95_ms": 90, "p99_ms": 100, "max_ms": 120,
                  "cdf": [[0.0, 10], [50.0, 40], [100.0, 120]]},
        "read_by_consumer": {}, "window_closed": {}, "written_to_s3": {},
        "limit_p99_ms": 5000
      },
      "throughput": [{"second": 0, "produced": 500, "read": 400, "written": 0, "retried": 4},
                     {"second": 1, "produced": 700, "read": 800, "written": 1200, "retried": 0}],
      "markers": [{"second": 0.6, "what": "split shardId-000000000000"}],
      "minutes": [{"minute": "201608211700", "model": 700, "s3": 700}, {"minute": "201608211701", "model": 500, "s3": 499}],
      "lag": [{"shard": "shardId-000000000000", "points": [[0.0, 0], [1.0, 250]]}],
      "produce_seconds": 1.5, "run_seconds": 7.25, "throughput_events_per_s": 800.0, "records_sent": 1210,
      "summary": "scenario smoke: FAILED (sim, 7.2 s)\n"
    }"#;

    fn run() -> Run {
        Run::from_json(REPORT.as_bytes()).unwrap()
    }

    /// The inline SVG of the chart with this id.
    fn chart<'a>(page: &'a str, id: &str) -> &'a str {
        let start = page.find(&format!("id=\"chart-{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
        let end = start + page[start..].find("</figure>").expect("the figure ends");
        &page[start..end]
    }

    #[test]
    fn one_run_has_its_verdicts_totals_and_four_charts() {
        let page = page(&[run()]);
        assert!(page.starts_with("<!doctype html>") && page.ends_with("</html>\n"));
        assert!(page.contains(r#"<span class="verdict FAILED">FAILED</span>"#));
        assert!(page.contains("A &lt;small&gt; run"), "text is escaped");
        assert!(page.contains(r#"<tr class="failed"><td>latency p99, put to S3</td><td>at most 5s</td><td>9000 ms</td><td>FAILED</td></tr>"#));
        assert!(page.contains(r#"<tr class="passed"><td>S3 sums equal the model</td>"#));
        for (name, value) in
            [("counted in S3", "1200"), ("records in", "1210"), ("of them late", "3"), ("put rate", "800 events/s")]
        {
            assert!(page.contains(&format!(r#"data-total="{name}">{value}</td>"#)), "{name}");
        }
        for id in ["latency", "throughput", "counts", "lag"] {
            let c = chart(&page, id);
            assert!(c.contains("<svg") && c.contains("</svg>"), "{id} is drawn");
            assert!(!c.contains("could not be drawn"), "{id}: {c}");
        }
        let latency = chart(&page, "latency");
        assert!(latency.contains("p99 9000 ms") && latency.contains("limit p99 5000 ms"), "marks and limits");
        assert!(chart(&page, "throughput").contains("split shardId-000000000000"), "the fault is marked");
        assert!(chart(&page, "counts").contains("S3 differs from the model"), "the short minute is highlighted");
        assert!(page.contains("1 of 2 minutes differ"));
        assert!(page.contains(r#"<tr class="failed"><td>201608211701</td><td class="num">500</td><td class="num">499</td><td class="num">-1</td></tr>"#));
        assert!(!page.contains("<td>201608211700</td>"), "only the minutes that differ are listed");
        assert!(chart(&page, "lag").contains("shardId-000000000000"));
        assert!(page.contains("scenario smoke: FAILED (sim, 7.2 s)"), "the text summary");
        // Self-contained: nothing to fetch (the SVG's xmlns is a name, not a fetch).
        for fetch in ["<script", "src=", "href=", "url(", "@import", "<link"] {
            assert!(!page.contains(fetch), "{fetch} in the page");
        }
    }

    #[test]
    fn two_runs_overlay_latency_and_throughput_and_keep_their_own_counts() {
        let mut b = run();
        b.backend = "host".into();
        b.passed = true;
        b.failures.clear();
        let page = page(&[run(), b]);
        assert!(page.contains(r#"id="run-a""#) && page.contains(r#"id="run-b""#));
        assert!(page.contains("PASSED") && page.contains("FAILED"));
        assert!(chart(&page, "latency").contains("put to S3 (A)") && chart(&page, "latency").contains("put to S3 (B)"));
        assert!(chart(&page, "throughput").contains("events read (B)"));
        for id in ["counts-a", "counts-b", "lag-a", "lag-b"] {
            assert!(chart(&page, id).contains("<svg"), "{id}");
        }
    }

    #[test]
    fn an_old_report_without_charts_data_still_makes_a_page() {
        let old = Run::from_json(br#"{"scenario": "smoke", "backend": "sim", "passed": true, "counted": 5}"#).unwrap();
        let page = page(&[old]);
        assert!(page.contains("PASSED") && page.contains(r#"data-total="counted in S3">5</td>"#));
        for id in ["latency", "throughput", "counts"] {
            assert!(chart(&page, id).contains("<svg"), "{id}: an empty chart, not an error");
        }
        assert!(page.contains("0 shards: no samples were taken over the whole run, so no chart."));
        assert!(page.contains("when, with which build and how it ran: not in this report"));
        assert!(page.contains("Throughput (no faults in this run)"), "no faults, not said as if there were");
    }

    #[test]
    fn a_lag_that_stayed_at_zero_is_a_line_not_a_chart_and_the_latency_parts_sit_under_their_total() {
        let mut r = run();
        r.lag[0].points = vec![(0.0, 0), (1.0, 0)];
        let page = page(&[r]);
        assert!(page.contains(r#"<p id="chart-lag" class="folded">1 shards: every reader stayed 0 ms behind the newest record over the whole run, so no chart.</p>"#));
        assert!(page.contains(r#"<tr class="total"><td>put to S3, in all</td>"#));
        assert!(page.contains(r#"<tr class="part"><td>put acknowledged</td>"#));
        assert!(page.contains("Throughput, with the run&#39;s faults marked"));
    }

    #[test]
    fn fault_windows_run_from_on_to_off_or_to_the_end() {
        let mut r = run();
        let marker = |second: f64, what: &str| crate::data::Marker { second, what: what.into() };
        r.markers =
            vec![marker(1.0, "faults on"), marker(2.5, "split x"), marker(3.0, "faults off"), marker(4.0, "faults on")];
        assert_eq!(charts::fault_windows(&r, 9.0), [(1.0, 3.0), (4.0, 9.0)]);
        let page = page(&[r]);
        assert!(chart(&page, "throughput").matches("faults on").count() == 2, "the edges are labelled");
    }
}
