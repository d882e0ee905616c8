//! S3 as the AWS CLI and the SDKs use it beyond one PutObject: multipart uploads (AWS's rules:
//! 5 MiB parts but the last, ascending order, ETags, the `-N` ETag), UploadPartCopy, CopyObject,
//! ListParts, ListMultipartUploads, aborts; then the unmodified AWS CLI v1 (`aws s3 cp` of 50 MB
//! up, across keys and down, `aws s3 sync` both ways), installed into a venv of its own.

use std::path::Path;
use std::process::Command;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use md5::{Digest, Md5};
use minutely_aws::{Target, clients};
use minutely_sim::{Config, Sim};

mod common;

const MIB: usize = 1024 * 1024;

/// Bytes that differ from part to part.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    let parts = parts.iter().map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build()).collect();
    CompletedMultipartUpload::builder().set_parts(Some(parts)).build()
}

/// The error code of a call that must fail.
fn e<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, aws_sdk_s3::error::SdkError<E>>,
) -> Option<String> {
    r.expect_err("the call must fail").code().map(str::to_owned)
}

#[tokio::test]
async fn multipart_uploads_and_copies_follow_aws_rules() {
    let sim = Sim::start(Config::default()).await.unwrap();
    let s3 = clients(&Target::endpoint(sim.endpoint())).await.s3;
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let up = s3.create_multipart_upload().bucket("bkt").key("big").content_type("text/plain").send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let chunks = [bytes(5 * MIB, 1), bytes(5 * MIB, 2), bytes(1000, 3)];
    let mut etags = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let part = s3.upload_part().bucket("bkt").key("big").upload_id(&id).part_number(i as i32 + 1);
        let out = part.body(ByteStream::from(c.clone())).send().await.unwrap();
        assert_eq!(out.e_tag().unwrap(), format!("\"{:x}\"", Md5::digest(c)));
        etags.push(out.e_tag().unwrap().to_owned());
    }
    let listed = s3.list_parts().bucket("bkt").key("big").upload_id(&id).max_parts(2).send().await.unwrap();
    assert_eq!(listed.parts().len(), 2);
    assert_eq!(listed.is_truncated(), Some(true));
    let uploads = s3.list_multipart_uploads().bucket("bkt").send().await.unwrap();
    assert_eq!(uploads.uploads().len(), 1);

    // Out of order, a wrong ETag, a small part before the last: AWS's errors, nothing stored.
    let complete = |parts: CompletedMultipartUpload| {
        s3.complete_multipart_upload().bucket("bkt").key("big").upload_id(&id).multipart_upload(parts).send()
    };
    let order = complete(completed(&[(2, &etags[1]), (1, &etags[0])])).await;
    assert_eq!(e(order).as_deref(), Some("InvalidPartOrder"));
    let wrong = complete(completed(&[(1, &etags[1])])).await;
    assert_eq!(e(wrong).as_deref(), Some("InvalidPart"));
    let missing = complete(completed(&[(1, &etags[0]), (3, &etags[2]), (4, &etags[2])])).await;
    assert_eq!(e(missing).as_deref(), Some("InvalidPart"));
    let head = s3.head_object().bucket("bkt").key("big").send().await;
    assert!(head.is_err(), "nothing stored before the upload completes");

    let done = complete(completed(&[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])])).await.unwrap();
    let mut md5s = Md5::new();
    chunks.iter().for_each(|c| md5s.update(Md5::digest(c)));
    assert_eq!(done.e_tag().unwrap(), format!("\"{:x}-3\"", md5s.finalize()));
    let got = s3.get_object().bucket("bkt").key("big").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), chunks.concat());
    let again = s3.upload_part().bucket("bkt").key("big").upload_id(&id).part_number(1).body(vec![1].into());
    assert_eq!(e(again.send().await).as_deref(), Some("NoSuchUpload"), "a completed upload is gone");

    // A part smaller than 5 MiB before the last one.
    let id2 = s3.create_multipart_upload().bucket("bkt").key("two").send().await.unwrap().upload_id.unwrap();
    let mut small_etags = Vec::new();
    for n in 1..=2 {
        let part = s3.upload_part().bucket("bkt").key("two").upload_id(&id2).part_number(n);
        small_etags.push(part.body(vec![n as u8; 10].into()).send().await.unwrap().e_tag.unwrap());
    }
    let two = s3.complete_multipart_upload().bucket("bkt").key("two").upload_id(&id2);
    let two = two.multipart_upload(completed(&[(1, &small_etags[0]), (2, &small_etags[1])])).send().await;
    assert_eq!(e(two).as_deref(), Some("EntityTooSmall"));
    let bad_number = s3.upload_part().bucket("bkt").key("two").upload_id(&id2).part_number(10_001);
    assert_eq!(e(bad_number.body(vec![1].into()).send().await).as_deref(), Some("InvalidArgument"));
    s3.abort_multipart_upload().bucket("bkt").key("two").upload_id(&id2).send().await.unwrap();
    let aborted = s3.list_parts().bucket("bkt").key("two").upload_id(&id2).send().await;
    assert_eq!(e(aborted).as_deref(), Some("NoSuchUpload"));

    // CopyObject, and UploadPartCopy with a range.
    s3.copy_object().bucket("bkt").key("copy").copy_source("bkt/big").send().await.unwrap();
    let copy = s3.get_object().bucket("bkt").key("copy").send().await.unwrap();
    assert_eq!(copy.body.collect().await.unwrap().into_bytes(), chunks.concat());
    let to_itself = s3.copy_object().bucket("bkt").key("copy").copy_source("bkt/copy").send().await;
    assert_eq!(e(to_itself).as_deref(), Some("InvalidRequest"));
    let missing = s3.copy_object().bucket("bkt").key("x").copy_source("bkt/nothing").send().await;
    assert_eq!(e(missing).as_deref(), Some("NoSuchKey"));
    let id3 = s3.create_multipart_upload().bucket("bkt").key("ranged").send().await.unwrap().upload_id.unwrap();
    let part = s3.upload_part_copy().bucket("bkt").key("ranged").upload_id(&id3).part_number(1);
    let part = part.copy_source("/bkt/big").copy_source_range("bytes=10-19").send().await.unwrap();
    let etag = part.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    let done = s3.complete_multipart_upload().bucket("bkt").key("ranged").upload_id(&id3);
    done.multipart_upload(completed(&[(1, &etag)])).send().await.unwrap();
    let ranged = s3.get_object().bucket("bkt").key("ranged").send().await.unwrap();
    assert_eq!(ranged.body.collect().await.unwrap().into_bytes(), chunks[0][10..20]);
}

fn aws(cli: &Path, endpoint: &str, args: &[&str]) -> String {
    let out = Command::new(cli)
        .args(["--endpoint-url", endpoint])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "aws {args:?} failed:\n{stdout}\n{stderr}");
    stdout.into_owned()
}

#[test]
fn the_aws_cli_copies_and_syncs_at_any_size() {
    let cli = common::aws_cli();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(Sim::start(Config::default())).unwrap();
    let ep = sim.endpoint();
    let dir = std::env::temp_dir().join(format!("minutely-awscli-{}", std::process::id()));
    let (up, down) = (dir.join("up"), dir.join("down"));
    std::fs::create_dir_all(up.join("nested")).unwrap();
    let big = bytes(50 * MIB, 7);
    std::fs::write(up.join("big.bin"), &big).unwrap();
    for i in 0..5 {
        std::fs::write(up.join(format!("nested/small-{i}.txt")), format!("file {i}\n")).unwrap();
    }
    aws(&cli, &ep, &["s3", "mb", "s3://cli"]);
    // 50 MB: the CLI's multipart upload (8 MB parts), then its multipart copy (UploadPartCopy).
    aws(&cli, &ep, &["s3", "cp", up.join("big.bin").to_str().unwrap(), "s3://cli/big.bin"]);
    aws(&cli, &ep, &["s3", "cp", "s3://cli/big.bin", "s3://cli/copied/big.bin"]);
    let fetched = dir.join("fetched.bin");
    aws(&cli, &ep, &["s3", "cp", "s3://cli/copied/big.bin", fetched.to_str().unwrap()]);
    assert!(std::fs::read(&fetched).unwrap() == big, "the 50 MB object came back changed");
    let stats = ureq::get(&format!("{ep}/_sim/stats")).call().unwrap().into_body().read_to_string().unwrap();
    for op in ["s3:CreateMultipartUpload", "s3:UploadPart", "s3:UploadPartCopy", "s3:CompleteMultipartUpload"] {
        assert!(stats.contains(op), "the CLI did not use {op}: {stats}");
    }
    // sync up, then down into an empty folder: the same files; a second sync copies nothing.
    aws(&cli, &ep, &["s3", "sync", up.to_str().unwrap(), "s3://cli/synced/"]);
    aws(&cli, &ep, &["s3", "sync", "s3://cli/synced/", down.to_str().unwrap()]);
    for i in 0..5 {
        let f = format!("nested/small-{i}.txt");
        assert_eq!(std::fs::read_to_string(down.join(&f)).unwrap(), format!("file {i}\n"));
    }
    assert!(std::fs::read(down.join("big.bin")).unwrap() == big);
    let again = aws(&cli, &ep, &["s3", "sync", up.to_str().unwrap(), "s3://cli/synced/"]);
    assert!(again.trim().is_empty(), "nothing to sync the second time: {again}");
    let listed = aws(&cli, &ep, &["s3", "ls", "--recursive", "s3://cli/"]);
    assert_eq!(listed.lines().count(), 8, "{listed}");
    std::fs::remove_dir_all(&dir).unwrap();
    drop(sim);
}
