//! The report page as a user makes it: `minutely scenario smoke --backend sim --html` for a run
//! that passes, a scenario with an impossible latency limit for one that fails, and
//! `minutely report A.json B.json` comparing them. Each page is rendered by a real headless
//! browser (Debian's `chromium`) to a PNG when one is installed; without one that step is
//! skipped, and the test says so.

use std::path::{Path, PathBuf};
use std::process::Command;

fn minutely() -> Command {
    Command::new(env!("CARGO_BIN_EXE_minutely"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a scenario on the sim with `--html` as the README writes it (no value, here before the
/// name, where a flag with an optional value once swallowed it); the page lands beside the JSON.
/// Returns its exit status, JSON and page.
fn scenario(dir: &Path, name: &str, out: &Path) -> (bool, serde_json::Value, String) {
    let (json, html) = (out.join(format!("{name}.json")), out.join(format!("{name}.html")));
    let status = minutely()
        .current_dir(workspace())
        .args(["scenario", "--html", name, "--backend", "sim", "--dir"])
        .arg(dir)
        .arg("--report")
        .arg(&json)
        .status()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    (status.success(), report, std::fs::read_to_string(&html).unwrap())
}

/// The `<figure>` of a chart.
fn chart<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page.find(&format!("id=\"chart-{id}\"")).unwrap_or_else(|| panic!("no chart {id}"));
    &page[at..at + page[at..].find("</figure>").unwrap()]
}

/// Headless chromium's screenshot of `page`, if a chromium is installed.
fn screenshot(page: &Path) -> Option<PathBuf> {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(browser) = browser else {
        eprintln!("SKIPPED the browser step: no chromium on PATH (`apt install chromium` to run it)");
        return None;
    };
    let png = page.with_extension("png");
    let _ = std::fs::remove_file(&png);
    let out = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,5200"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .unwrap();
    assert!(png.is_file(), "{browser} made no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    // A blank page of this size compresses to a few kilobytes; text and four charts do not.
    assert!(bytes.len() > 60_000, "{} is {} bytes: the page looks empty", png.display(), bytes.len());
    eprintln!("rendered by {browser}: {}", png.display());
    Some(png)
}

#[test]
fn pages_of_a_passing_run_a_failing_run_and_both_compared() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-pages");
    let dir = out.join("scenarios");
    std::fs::create_dir_all(&dir).unwrap();
    let smoke = std::fs::read_to_string(workspace().join("scenarios/smoke.toml")).unwrap();
    std::fs::write(dir.join("smoke.toml"), &smoke).unwrap();
    std::fs::create_dir_all(dir.join("snapshots")).unwrap();
    std::fs::copy(workspace().join("scenarios/snapshots/smoke.snap"), dir.join("snapshots/smoke.snap")).unwrap();
    // The same run, held to a p99 of 1 ms: it fails on that check alone.
    let strict = smoke
        .replace("latency_p99 = \"12s\"", "latency_p99 = \"1ms\"")
        .replace("snapshot = \"smoke\"", "snapshot = false");
    assert!(strict.contains("\"1ms\""));
    std::fs::write(dir.join("strict.toml"), strict).unwrap();

    let (passed, json, page) = scenario(&dir, "smoke", &out);
    assert!(passed, "{page}");
    assert!(page.contains(r#"<span class="verdict PASSED">PASSED</span>"#));
    let counted = json["counted"].as_u64().unwrap();
    assert!(
        page.contains(&format!(r#"data-total="counted in S3">{counted}</td>"#)),
        "the page's numbers are the JSON's"
    );
    let p99 = json["latency"]["total"]["p99_ms"].as_u64().unwrap();
    assert!(chart(&page, "latency").contains(&format!("p99 {p99} ms")));
    assert!(chart(&page, "latency").contains("limit p99 12000 ms"), "the scenario's limit drawn");
    for id in ["throughput", "counts"] {
        assert!(chart(&page, id).contains("<svg"), "{id}");
    }
    // The lag is drawn, or said in a line when every reader stayed at 0 ms.
    let lag_max = json["lag"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["points"].as_array().unwrap().iter())
        .filter_map(|p| p[1].as_i64())
        .max();
    if lag_max > Some(0) {
        assert!(chart(&page, "lag").contains("<svg"), "a lag above 0 is drawn");
    } else {
        assert!(
            page.contains("id=\"chart-lag\" class=\"folded\">")
                && page.contains("0 ms behind the newest record over the whole run")
        );
    }
    // The latency table: the whole path, then its parts.
    assert!(
        page.contains("<tr class=\"total\"><td>put to S3, in all</td>")
            && page.contains("<tr class=\"part\"><td>written to S3</td>")
    );
    assert!(
        page.contains("Throughput (no faults in this run)")
            || page.contains("Throughput, with the run&#39;s faults marked")
    );
    assert!(json["lag"].as_array().is_some_and(|l| !l.is_empty()), "lag sampled per shard");
    // When, with what build, where and how: in the JSON and on the page.
    let p = &json["wall"]["provenance"];
    let commit = p["commit"].as_str().unwrap();
    assert!(!commit.is_empty() && p["cores"].as_u64() > Some(0) && p["memory_gib"].as_f64() > Some(0.0), "{p}");
    assert!(
        p["started_at"].as_str().unwrap().starts_with("20") && p["started_at"].as_str().unwrap().ends_with('Z'),
        "{p}"
    );
    assert!(p["command"].as_str().unwrap().starts_with("minutely scenario --html smoke --backend sim"), "{p}");
    let said = format!("minutely {} ({commit})", env!("CARGO_PKG_VERSION"));
    assert!(page.contains(&said) && page.contains("<code>minutely scenario --html smoke"), "{said} on the page");

    let (passed, json, page) = scenario(&dir, "strict", &out);
    assert!(!passed, "a p99 of 1 ms cannot hold");
    assert!(page.contains(r#"<span class="verdict FAILED">FAILED</span>"#));
    assert!(page.contains(&format!(
        r#"<tr class="failed"><td>latency p99, put to S3</td><td>at most 1ms</td><td>{} ms</td><td>FAILED</td></tr>"#,
        json["latency"]["total"]["p99_ms"]
    )));
    assert!(page.contains(r#"<tr class="passed"><td>S3 sums equal the model</td>"#));

    let compared = out.join("smoke-vs-strict.html");
    let status = minutely().arg("report").arg(out.join("smoke.json")).arg(out.join("strict.json")).status().unwrap();
    assert!(status.success());
    let both = std::fs::read_to_string(&compared).unwrap();
    assert!(both.contains(r#"id="run-a""#) && both.contains(r#"id="run-b""#));
    assert!(
        chart(&both, "latency").contains("put to S3 (B)") && chart(&both, "throughput").contains("events read (A)")
    );

    let not_a_report = out.join("not-a-report.json");
    std::fs::write(&not_a_report, "[1, 2]").unwrap();
    let failed = minutely().arg("report").arg(&not_a_report).output().unwrap();
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("not-a-report.json is not a scenario report"));

    for page in [out.join("smoke.html"), out.join("strict.html"), compared] {
        screenshot(&page);
    }
}
