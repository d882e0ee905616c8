# minutely: `just --list` shows every workflow. Install just with `cargo install just --locked`
# (or `pip install rust-just`).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Run every test (unit, property, snapshot, end-to-end): the README's test command.
test:
    cargo test --workspace --locked

# Fuzz the sim's request path, each target for `seconds` from its corpus (a failure prints the
# command that replays it): `just fuzz 60`, `MINUTELY_FUZZ_SEED=7 just fuzz 600`.
fuzz seconds="60":
    MINUTELY_FUZZ_SECONDS={{seconds}} cargo test --release --locked -p minutely-sim --test fuzz -- --nocapture

# One scenario over many seeds on virtual time (the sim): `just swarm chaos 1..200`.
swarm name seeds="1..200" *args:
    cargo run --release --locked -p minutely-cli -- scenario {{name}} --backend sim --seeds {{seeds}} {{args}}

# Count a TSV file per minute and key: `just aggregate fixtures/clean.tsv --format table`.
aggregate file *args:
    cargo run --release --locked -p minutely-cli -- aggregate {{file}} {{args}}

# Run the criterion benchmarks (results in target/criterion/).
bench *args:
    cargo bench --locked -p minutely-benches {{args}}

# Write the benchmark file to target/data/big-LINES.tsv: big-5000000.tsv (~210 MB) by default.
big-file lines="5000000":
    mkdir -p target/data
    cargo run --release --locked -p minutely-fixtures -- big {{lines}} target/data/big-{{lines}}.tsv

# Time `minutely aggregate` on the big file with hyperfine (apt install hyperfine).
bench-aggregate lines="5000000": (big-file lines)
    cargo build --release --locked -p minutely-cli
    cat target/data/big-{{lines}}.tsv > /dev/null
    hyperfine --warmup 3 --runs 20 -N './target/release/minutely aggregate target/data/big-{{lines}}.tsv --key-cols country'

# minutely against DuckDB, side by side on the same files, medians and ratios: `just bench-vs full`
# (2M records, a 5M-line TSV), `just bench-vs small --fail-below 1.0` (what CI runs).
bench-vs *args:
    cargo build --release --locked -p minutely-cli
    cargo bench --locked -p minutely-benches --bench vs -- {{args}}

# Regenerate fixtures/ from the deterministic generator (then review and accept snapshots).
fixtures:
    cargo run --locked -p minutely-fixtures -- fixtures fixtures

# Accept changed insta snapshots after reviewing them (cargo install cargo-insta).
snapshots:
    cargo insta review

# Start LocalStack (Kinesis and S3) and leave it running; `eval "$(just localstack-up)"` exports AWS_ENDPOINT_URL.
localstack-up *args:
    @cargo run --quiet --locked -p minutely-cli -- localstack up {{args}}

# Stop the LocalStack that `just localstack-up` started.
localstack-down:
    cargo run --quiet --locked -p minutely-cli -- localstack down

# Is LocalStack running, and are Kinesis and S3 up?
localstack-status:
    cargo run --quiet --locked -p minutely-cli -- localstack status

# Print LocalStack's log.
localstack-logs *args:
    cargo run --quiet --locked -p minutely-cli -- localstack logs {{args}}

# Count a stream per minute: `just consume --source kinesis:events --sink s3://counts/run1 --key country`.
consume *args:
    cargo run --release --locked -p minutely-cli -- consume {{args}}

# Run the embedded Kinesis + S3 emulator in the foreground: `just sim --no-limits`; `minutely sim --help`.
sim *args:
    cargo run --release --locked -p minutely-cli -- sim {{args}}

# Measure the sim through the Rust SDK: PutRecords and GetRecords records/s, per-call time at 1M records, start, memory.
bench-sim records="1000000":
    cargo run --release --locked -p minutely-sim --example throughput {{records}}

# Run a scenario of scenarios/ and check it: `just scenario smoke` (LocalStack, started for it),
# `just scenario million --backend sim` (the embedded emulator).
scenario name *args:
    cargo run --release --locked -p minutely-cli -- scenario {{name}} {{args}}

# List the scenarios.
scenarios:
    cargo run --release --locked -p minutely-cli -- scenario --list

# Run a scenario and draw its page (target/scenarios/NAME.html): `just report smoke --backend sim`.
report name *args:
    cargo run --release --locked -p minutely-cli -- scenario {{name}} --html {{args}}

# Compare two runs' JSON reports on one page: `just compare target/a.json target/b.json`.
compare a b:
    cargo run --release --locked -p minutely-cli -- report {{a}} {{b}}
