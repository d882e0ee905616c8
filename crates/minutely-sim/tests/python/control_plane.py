"""What infrastructure-as-code tools and careful consumers call, through botocore (boto3's
client layer, 1.43: it knows UpdateMaxRecordSize) against the sim:
retention, tags, the stream mode, on-demand scaling and warm throughput, DescribeLimits, the
consumer calls, and the control plane's
per-account rate (DescribeStream 10 a second) with botocore's retries off, on a clock that
stands still. Exits non-zero with
the failed assertion."""

import json
import os
import urllib.request

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError


def advance(ms):
    """Moves the sim's manual clock (POST /_sim/clock), as a test suite on the sim may."""
    req = urllib.request.Request(
        os.environ["AWS_ENDPOINT_URL"] + "/_sim/clock",
        data=json.dumps({"advance_ms": ms}).encode(),
        headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(req).read()


def wait_active(name):
    """A new stream is CREATING until the sim's transition time has passed, as on AWS."""
    for _ in range(100):
        status = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]
        if status == "ACTIVE":
            return
        assert status in ("CREATING", "UPDATING"), status
        advance(100)
    raise AssertionError(f"{name} is still {status}")


session = botocore.session.get_session()
k = session.create_client("kinesis")
k.create_stream(StreamName="iac", ShardCount=2)
try:
    k.increase_stream_retention_period(StreamName="iac", RetentionPeriodHours=168)
    raise AssertionError("a CREATING stream must refuse a change")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ResourceInUseException", e.response
wait_active("iac")
arn = k.describe_stream_summary(StreamName="iac")["StreamDescriptionSummary"]["StreamARN"]

k.increase_stream_retention_period(StreamName="iac", RetentionPeriodHours=168)
assert k.describe_stream(StreamName="iac")["StreamDescription"]["RetentionPeriodHours"] == 168
try:
    k.decrease_stream_retention_period(StreamName="iac", RetentionPeriodHours=200)
    raise AssertionError("a decrease to a longer retention must fail")
except ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidArgumentException", e.response
k.decrease_stream_retention_period(StreamName="iac", RetentionPeriodHours=24)

k.add_tags_to_stream(StreamName="iac", Tags={"team": "data", "env": "test"})
tags = k.list_tags_for_stream(StreamName="iac")
assert {t["Key"]: t["Value"] for t in tags["Tags"]} == {"team": "data", "env": "test"}, tags
assert tags["HasMoreTags"] is False
k.remove_tags_from_stream(StreamName="iac", TagKeys=["env"])
assert [t["Key"] for t in k.list_tags_for_stream(StreamName="iac")["Tags"]] == ["team"]

k.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
summary = k.describe_stream_summary(StreamName="iac")["StreamDescriptionSummary"]
assert summary["StreamModeDetails"]["StreamMode"] == "ON_DEMAND", summary
limits = k.describe_limits()
assert limits["OpenShardCount"] == 2 and limits["OnDemandStreamCount"] == 1, limits

c = k.register_stream_consumer(StreamARN=arn, ConsumerName="app")["Consumer"]
assert c["ConsumerStatus"] == "CREATING", c
listed = k.list_stream_consumers(StreamARN=arn)["Consumers"]
assert [x["ConsumerName"] for x in listed] == ["app"], listed
assert k.describe_stream_summary(StreamName="iac")["StreamDescriptionSummary"]["ConsumerCount"] == 1
k.deregister_stream_consumer(ConsumerARN=c["ConsumerARN"])
assert k.list_stream_consumers(StreamARN=arn)["Consumers"] == []

# Records up to 10 MiB once the stream allows them; the shard's 1 MiB a second is repaid after.
big = b"x" * (5 * 1024 * 1024)
try:
    k.put_record(StreamName="iac", Data=big, PartitionKey="big")
    raise AssertionError("a 5 MiB record must be refused at the default 1 MiB")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e.response
wait_active("iac")  # UpdateStreamMode above left it UPDATING: no other change until ACTIVE
k.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=10240)
wait_active("iac")
summary = k.describe_stream_summary(StreamName="iac")["StreamDescriptionSummary"]
assert summary["MaxRecordSizeInKiB"] == 10240, summary
put = k.put_record(StreamName="iac", Data=big, PartitionKey="big")
it = k.get_shard_iterator(StreamName="iac", ShardId=put["ShardId"], ShardIteratorType="AT_SEQUENCE_NUMBER",
                          StartingSequenceNumber=put["SequenceNumber"])["ShardIterator"]
got = k.get_records(ShardIterator=it, Limit=1)["Records"]
while not got:  # an empty page may come first, as on AWS
    page = k.get_records(ShardIterator=it, Limit=1)
    got, it = page["Records"], page["NextShardIterator"]
assert got[0]["Data"] == big
try:
    k.put_record(StreamName="iac", Data=b"small", PartitionKey="big")
    raise AssertionError("the shard repays the large record first")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ProvisionedThroughputExceededException", e.response
advance(5000)

# Encryption is said back; KMS's errors hit an encrypted stream's data calls, as a fault.
k.start_stream_encryption(StreamName="iac", EncryptionType="KMS", KeyId="alias/aws/kinesis")
wait_active("iac")
summary = k.describe_stream_summary(StreamName="iac")["StreamDescriptionSummary"]
assert (summary["EncryptionType"], summary["KeyId"]) == ("KMS", "alias/aws/kinesis"), summary
assert k.put_record(StreamName="iac", Data=b"e", PartitionKey="p")["EncryptionType"] == "KMS"
faults = {"seed": 1, "kms_errors": {"rate": 1.0, "error": "KMSAccessDeniedException"}}
req = urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + "/_sim/faults", data=json.dumps(faults).encode(),
                             headers={"content-type": "application/json"})
urllib.request.urlopen(req).read()
try:
    k.put_records(StreamName="iac", Records=[{"Data": b"e", "PartitionKey": "p"}])
    raise AssertionError("KMS refused: the call fails as a whole")
except ClientError as e:
    assert e.response["Error"]["Code"] == "KMSAccessDeniedException", e.response
# "iac" is on-demand: its 5 MiB record made a shard hot, so it has split since and is UPDATING.
wait_active("iac")
k.stop_stream_encryption(StreamName="iac", EncryptionType="KMS", KeyId="alias/aws/kinesis")
wait_active("iac")
assert k.put_record(StreamName="iac", Data=b"e", PartitionKey="p")["EncryptionType"] == "NONE"

# On-demand: a shard that met half its limit for a whole second splits at its next put, and
# readers see a reshard they did not ask for, as on AWS.
k.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
wait_active("od")


def open_shards(name):
    return len(k.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})["Shards"])


assert open_shards("od") == 4
hot = [{"Data": b"x" * 10, "PartitionKey": "hot"}] * 500
assert k.put_records(StreamName="od", Records=hot)["FailedRecordCount"] == 0
advance(1000)
k.put_records(StreamName="od", Records=hot[:1])
assert open_shards("od") == 5
assert k.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]["StreamStatus"] == "UPDATING"
wait_active("od")

# Warm throughput needs the account's commitment (24 hours at least), then grows the stream.
try:
    k.update_stream_warm_throughput(StreamName="od", WarmThroughputMiBps=16)
    raise AssertionError("warm throughput without the commitment")
except ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidArgumentException", e.response
commitment = k.update_account_settings(MinimumThroughputBillingCommitment={"Status": "ENABLED"})
commitment = commitment["MinimumThroughputBillingCommitment"]
assert commitment["Status"] == "ENABLED", commitment
assert (commitment["EarliestAllowedEndAt"] - commitment["StartedAt"]).total_seconds() == 24 * 3600, commitment
warm = k.update_stream_warm_throughput(StreamName="od", WarmThroughputMiBps=16)["WarmThroughput"]
assert warm == {"TargetMiBps": 16, "CurrentMiBps": 16}, warm
wait_active("od")
assert open_shards("od") == 16
summary = k.describe_stream_summary(StreamName="od")["StreamDescriptionSummary"]
assert summary["WarmThroughput"] == {"TargetMiBps": 16, "CurrentMiBps": 16}, summary
disabled = k.update_account_settings(MinimumThroughputBillingCommitment={"Status": "DISABLED"})
assert disabled["MinimumThroughputBillingCommitment"]["Status"] == "ENABLED_UNTIL_EARLIEST_ALLOWED_END", disabled
k.delete_stream(StreamName="od")

# DescribeStream is 10 a second per account, and the sim's clock stands still (the test starts
# it manual): of 30 calls without retries, those beyond the second's 10 are refused.
bare = session.create_client("kinesis", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
refused = 0
for _ in range(30):
    try:
        bare.describe_stream(StreamName="iac")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "LimitExceededException", e.response
        refused += 1
assert refused == 20, refused  # the clock moved since the one DescribeStream above: a full second's 10
print("ok", refused)
