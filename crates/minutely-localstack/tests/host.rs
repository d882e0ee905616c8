//! The host backend for real: install (or reuse) the venv, start LocalStack, use Kinesis and S3
//! through the same clients the pipeline uses, stop it, and check nothing is left running.

use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use minutely_localstack::host::processes_of;
use minutely_localstack::{Backend, LocalStack, Options};

#[test]
fn host_backend_serves_kinesis_and_s3_and_leaves_nothing_behind() {
    let options = Options { backend: Backend::Host, ..Options::from_env().unwrap() };
    let started = Instant::now();
    let localstack = LocalStack::start(&options).unwrap_or_else(|e| panic!("{e}"));
    let instance = localstack.host_instance().expect("the host backend runs it");
    eprintln!(
        "LocalStack ready at {} after {:.1} s ({} install)",
        localstack.endpoint(),
        started.elapsed().as_secs_f64(),
        if instance.install.installed_now { "cold: fresh" } else { "warm: existing" }
    );
    let id = instance.record().id.clone();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let clients = minutely_aws::clients(&minutely_aws::Target::endpoint(localstack.endpoint())).await;
        let k = &clients.kinesis;
        k.create_stream().stream_name("roundtrip").shard_count(1).send().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let d = k.describe_stream_summary().stream_name("roundtrip").send().await.unwrap();
            if d.stream_description_summary().unwrap().stream_status() == &StreamStatus::Active {
                break;
            }
            assert!(Instant::now() < deadline, "stream not active in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let put = k
            .put_record()
            .stream_name("roundtrip")
            .partition_key("usa")
            .data(Blob::new(&b"{\"minute\":\"201608211700\"}"[..]))
            .send()
            .await
            .unwrap();
        let iterator = k
            .get_shard_iterator()
            .stream_name("roundtrip")
            .shard_id(put.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap();
        let records = k.get_records().shard_iterator(iterator.shard_iterator().unwrap()).send().await.unwrap();
        let got: Vec<&[u8]> = records.records().iter().map(|r| r.data().as_ref()).collect();
        assert_eq!(got, vec![&b"{\"minute\":\"201608211700\"}"[..]]);

        let s3 = &clients.s3;
        s3.create_bucket().bucket("minutely-roundtrip").send().await.unwrap();
        s3.put_object()
            .bucket("minutely-roundtrip")
            .key("minutes/a.jsonl")
            .body(b"42\n".to_vec().into())
            .send()
            .await
            .unwrap();
        let object = s3.get_object().bucket("minutely-roundtrip").key("minutes/a.jsonl").send().await.unwrap();
        assert_eq!(object.body.collect().await.unwrap().into_bytes().as_ref(), b"42\n");
    });

    // LocalStack and its kinesis-mock child both carry the instance marker.
    let running = processes_of(&id);
    assert!(running.len() >= 2, "expected LocalStack and kinesis-mock, found pids {running:?}");
    let stopping = Instant::now();
    let stopped = localstack.stop().unwrap();
    eprintln!("stopped in {:.1} s: {stopped:?}", stopping.elapsed().as_secs_f64());
    assert_eq!(processes_of(&id), Vec::<i32>::new(), "processes left behind");
}
