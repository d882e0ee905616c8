//! The AWS flags every command that talks to AWS takes, and the runtime those commands run on.

/// Where the AWS calls go.
#[derive(Clone, Debug, clap::Args)]
pub struct AwsArgs {
    /// The AWS endpoint (LocalStack, the sim). Without it, the standard AWS configuration applies.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint: Option<String>,
    /// The AWS region. Default: the standard chain (us-east-1 for LocalStack and the sim).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
}

impl AwsArgs {
    pub fn target(&self) -> minutely_aws::Target {
        minutely_aws::Target { endpoint: self.endpoint.clone(), region: self.region.clone() }
    }
}

/// The runtime of `produce`, `consume` and `scenario`: two workers, one per core of the
/// machines this runs on in CI.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}
