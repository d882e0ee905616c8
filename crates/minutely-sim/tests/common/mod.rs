//! What the tests that run other clients' programs against the sim share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the Python script at `script` (with `args`) under the Python with boto3 that the
/// LocalStack backend installs into the cache, pointed at the sim at `endpoint` with `test`
/// credentials, off the runtime's threads.
#[allow(dead_code)] // each test file uses some of these
pub async fn boto3(script: &Path, args: &[&str], endpoint: String) -> Output {
    let options = minutely_localstack::Options::from_env().unwrap();
    let python = minutely_localstack::host::ensure_installed(&options).unwrap_or_else(|e| panic!("{e}")).python;
    python_script(python, script, args, endpoint).await
}

/// Runs the Python script at `script` under the AWS CLI's venv (botocore 1.43.11, which knows
/// Kinesis's newer operations such as UpdateMaxRecordSize; LocalStack's boto3 pins 1.40.40),
/// as [`boto3`] does.
#[allow(dead_code)]
pub async fn botocore(script: &Path, args: &[&str], endpoint: String) -> Output {
    let python = tokio::task::spawn_blocking(aws_cli).await.unwrap().with_file_name("python");
    python_script(python, script, args, endpoint).await
}

async fn python_script(python: PathBuf, script: &Path, args: &[&str], endpoint: String) -> Output {
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

/// The AWS CLI v1, from its own venv in the cache (made by the Python LocalStack's backend
/// finds, so nothing else is needed): pinned, installed once.
#[allow(dead_code)]
pub fn aws_cli() -> PathBuf {
    let options = minutely_localstack::Options::from_env().unwrap();
    let install = minutely_localstack::host::ensure_installed(&options).unwrap_or_else(|e| panic!("{e}"));
    let home = options.cache_dir.join("awscli-1.45.11");
    let aws = home.join("venv/bin/aws");
    if !aws.exists() {
        let run = |c: &mut Command| {
            let out = c.output().unwrap();
            assert!(out.status.success(), "{c:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(Command::new(&install.python).arg("-m").arg("venv").arg(home.join("venv")));
        run(Command::new(home.join("venv/bin/pip")).args(["install", "-q", "awscli==1.45.11"]));
    }
    aws
}
