//! What the tests that run other clients' programs against the sim share.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the Python script at `script` (with `args`) under the Python with boto3 that the
/// LocalStack backend installs into the cache, pointed at the sim at `endpoint` with `test`
/// credentials, off the runtime's threads.
pub async fn boto3(script: &Path, args: &[&str], endpoint: String) -> Output {
    let options = minutely_localstack::Options::from_env().unwrap();
    let python = minutely_localstack::host::ensure_installed(&options).unwrap_or_else(|e| panic!("{e}")).python;
    let (script, args) = (script.to_owned(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(args)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}
