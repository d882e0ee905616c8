//! A stream or bucket that does not exist: "did you mean" from the names the account has, and
//! advice that fits the command (a reader is not told to create what it reads; `--status` is
//! read only).

use minutely_aws::{AwsError, Cause, Target};
use minutely_consumer::ConsumeError;
use minutely_consumer::output::OutputError;

/// What the failed command does with the missing stream or bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Writes the stream (`produce`): `--create-stream` makes it.
    Producer,
    /// Reads the stream, writes the bucket (`consume`): `--create-bucket` makes the bucket.
    Consumer,
    /// Reads only (`consume --status`, `check`).
    Reader,
}

/// The error again with a hint that names the close names, when it is a missing stream or
/// bucket; any other error as it was.
pub async fn explain_missing(e: anyhow::Error, target: &Target, role: Role) -> anyhow::Error {
    // The errors that wrap an AWS call's transparently are looked through.
    let aws = e.chain().find_map(|c| {
        (c.downcast_ref::<ConsumeError>().and_then(ConsumeError::aws))
            .or_else(|| match c.downcast_ref::<OutputError>() {
                Some(OutputError::Aws(a)) => Some(a),
                _ => None,
            })
            .or_else(|| c.downcast_ref::<AwsError>())
    });
    let Some(aws) = aws.filter(|a| a.cause == Cause::NotFound).cloned() else {
        return e;
    };
    let clients = minutely_aws::clients(target).await;
    let hint = if let Some(stream) = aws.target.strip_prefix("stream ") {
        let names = match clients.kinesis.list_streams().limit(100).send().await {
            Ok(out) => out.stream_names().to_vec(),
            Err(_) => return e, // the list would not help: the error as it was
        };
        stream_hint(stream, &names, role)
    } else if let Some(path) = aws.target.strip_prefix("s3://") {
        let bucket = path.split('/').next().unwrap_or(path);
        let names: Vec<String> = match clients.s3.list_buckets().send().await {
            Ok(out) => out.buckets().iter().filter_map(|b| b.name().map(str::to_owned)).collect(),
            Err(_) => return e,
        };
        bucket_hint(bucket, &names, role)
    } else {
        return e;
    };
    anyhow::Error::new(aws.with_hint(hint))
}

/// What to say of a missing stream, given the account's streams.
pub fn stream_hint(stream: &str, names: &[String], role: Role) -> String {
    let create = format!("`--create-stream SHARDS` creates kinesis:{stream}");
    match (closest(stream, names), role) {
        (Some(near), Role::Producer) => format!("did you mean kinesis:{near}? Or {create}"),
        (Some(near), _) => format!("did you mean kinesis:{near}?"),
        (None, Role::Producer) => create,
        (None, _) if names.is_empty() => {
            format!("no stream here yet: `minutely produce --create-stream SHARDS --sink kinesis:{stream}` makes it")
        }
        (None, _) => format!("the streams here: {}", listed(names)),
    }
}

/// What to say of a missing bucket, given the account's buckets.
pub fn bucket_hint(bucket: &str, names: &[String], role: Role) -> String {
    let create = "--create-bucket creates it";
    match (closest(bucket, names), role) {
        (Some(near), Role::Consumer) => format!("did you mean s3://{near}? Or {create}"),
        (Some(near), _) => format!("did you mean s3://{near}?"),
        (None, Role::Consumer) => create.to_owned(),
        (None, _) if names.is_empty() => "no bucket here yet: a consumer with an S3 sink makes one".to_owned(),
        (None, _) => format!("the buckets here: {}", listed(names)),
    }
}

/// The first names, comma separated.
fn listed(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
    let more = names.len().saturating_sub(shown.len());
    if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { shown.join(", ") }
}

/// The name closest to `name`: another case, a few letters off (about one in three), or one
/// that starts the other; ties go to the first.
pub fn closest<'a>(name: &str, names: &'a [String]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    names
        .iter()
        .filter(|n| n.as_str() != name)
        .map(|n| {
            let other = n.to_lowercase();
            let distance = strsim::levenshtein(&lower, &other);
            let near = distance <= (lower.len().max(other.len()) / 3).max(1)
                || (lower.len() >= 3 && other.len() >= 3 && (lower.starts_with(&other) || other.starts_with(&lower)));
            (n, distance, near)
        })
        .filter(|(_, _, near)| *near)
        .min_by_key(|(_, d, _)| *d)
        .map(|(n, _, _)| n.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_close_name_is_suggested_and_a_far_one_is_not() {
        let streams = names(&["events", "orders-v2", "clicks"]);
        assert_eq!(closest("evnets", &streams), Some("events"));
        assert_eq!(closest("Events", &streams), Some("events"));
        assert_eq!(closest("event", &streams), Some("events"));
        assert_eq!(closest("orders", &streams), Some("orders-v2"));
        assert_eq!(closest("payments", &streams), None);
        assert_eq!(closest("x", &names(&["y"])), Some("y"), "one letter off is close");
        assert_eq!(closest("events", &names(&[])), None);
    }

    #[test]
    fn the_advice_fits_the_command() {
        let streams = names(&["events"]);
        assert_eq!(stream_hint("evnets", &streams, Role::Consumer), "did you mean kinesis:events?");
        assert!(stream_hint("evnets", &streams, Role::Producer).contains("--create-stream"));
        assert_eq!(stream_hint("payments", &streams, Role::Reader), "the streams here: events");
        assert!(stream_hint("payments", &[], Role::Consumer).starts_with("no stream here yet"));
        let buckets = names(&["counts"]);
        assert_eq!(bucket_hint("count", &buckets, Role::Reader), "did you mean s3://counts?");
        assert_eq!(
            bucket_hint("count", &buckets, Role::Consumer),
            "did you mean s3://counts? Or --create-bucket creates it"
        );
        assert!(!bucket_hint("nope", &buckets, Role::Reader).contains("--create-bucket"), "--status only reads");
        let many: Vec<String> = (0..12).map(|i| format!("b{i:02}-long-name")).collect();
        assert!(bucket_hint("zzz", &many, Role::Reader).ends_with("and 2 more"));
    }
}
