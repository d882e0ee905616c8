//! Writes the fixtures under `fixtures/`, or a large benchmark file.
//!
//! ```text
//! cargo run -p minutely-fixtures -- fixtures [DIR]           # regenerate fixtures/ (default DIR)
//! cargo run -p minutely-fixtures -- big LINES OUT [SEED]     # the benchmark TSV file
//! ```

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["fixtures", rest @ ..] => {
            let dir = PathBuf::from(rest.first().copied().unwrap_or("fixtures"));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for f in minutely_fixtures::fixtures() {
                let tsv = dir.join(format!("{}.tsv", f.name));
                std::fs::write(&tsv, &f.tsv).with_context(|| format!("writing {}", tsv.display()))?;
                if let Some(schema) = f.schema {
                    std::fs::write(dir.join(format!("{}.schema.toml", f.name)), schema)?;
                }
                println!("{}", tsv.display());
            }
            Ok(())
        }
        ["big", lines, out, rest @ ..] => {
            let lines: u64 = lines.parse().context("LINES must be a number")?;
            let seed: u64 = rest.first().map_or(Ok(42), |s| s.parse()).context("SEED must be a number")?;
            let file = std::fs::File::create(out).with_context(|| format!("creating {out}"))?;
            let mut w = std::io::BufWriter::new(file);
            minutely_fixtures::write_big(lines, seed, &mut w)?;
            w.flush()?;
            Ok(())
        }
        _ => bail!("usage: minutely-fixtures fixtures [DIR] | big LINES OUT [SEED]"),
    }
}
