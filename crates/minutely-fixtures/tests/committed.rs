//! The files under `fixtures/` are exactly what the generator writes: nobody edits them by hand,
//! and a change to the generator shows up as a change to the fixtures.

use std::path::Path;

#[test]
fn committed_fixtures_match_the_generator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    for f in minutely_fixtures::fixtures() {
        let tsv = dir.join(format!("{}.tsv", f.name));
        let committed = std::fs::read(&tsv).unwrap_or_else(|e| panic!("{}: {e}", tsv.display()));
        assert!(
            committed == f.tsv,
            "{} differs from the generator: run `cargo run -p minutely-fixtures -- fixtures`",
            tsv.display()
        );
        let schema_path = dir.join(format!("{}.schema.toml", f.name));
        assert_eq!(std::fs::read_to_string(&schema_path).ok().as_deref(), f.schema, "{}", schema_path.display());
    }
}

#[test]
fn big_file_is_deterministic_and_about_42_bytes_a_line() {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    minutely_fixtures::write_big(10_000, 7, &mut a).unwrap();
    minutely_fixtures::write_big(10_000, 7, &mut b).unwrap();
    assert_eq!(a, b);
    let per_line = a.len() as f64 / 10_001.0;
    assert!((41.0..43.0).contains(&per_line), "{per_line} bytes a line");
}
