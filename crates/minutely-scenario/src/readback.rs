//! What S3 holds under a run's prefix: every count line under `minutes/` summed per (minute,
//! key), and the reject lines under `rejects/` counted, 16 objects at a time (memory grows with
//! the (minute, key) pairs, not with the events).

use anyhow::Context;
use minutely_aws::RetryPolicy;
use minutely_consumer::CountLine;

use crate::model::Counts;

/// What S3 holds under the run's prefix.
pub(crate) struct ReadBack {
    pub sums: Counts,
    pub late: u64,
    pub objects: u64,
    pub rejects: u64,
}

/// Reads `<prefix>/minutes/` and `<prefix>/rejects/` in `bucket`.
pub(crate) async fn read_back(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> anyhow::Result<ReadBack> {
    use minutely_aws::s3::{each_object, keys_under};
    let policy = RetryPolicy::default();
    let mut back = ReadBack { sums: Counts::new(), late: 0, objects: 0, rejects: 0 };
    let minutes = keys_under(s3, bucket, &format!("{prefix}/minutes/"), policy).await?;
    each_object(s3, bucket, minutes, 16, policy, |key, body| {
        back.objects += 1;
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let c: CountLine = serde_json::from_slice(line).with_context(|| format!("s3://{bucket}/{key}"))?;
            if c.late {
                back.late += c.count;
            }
            *back.sums.entry((c.minute, c.key)).or_default() += c.count;
        }
        anyhow::Ok(())
    })
    .await?;
    let rejects = keys_under(s3, bucket, &format!("{prefix}/rejects/"), policy).await?;
    each_object(s3, bucket, rejects, 16, policy, |_, body| {
        back.rejects += body.split(|c| *c == b'\n').filter(|l| !l.is_empty()).count() as u64;
        anyhow::Ok(())
    })
    .await?;
    Ok(back)
}
