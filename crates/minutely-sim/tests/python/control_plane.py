"""What infrastructure-as-code tools and careful consumers call, through boto3 against the sim:
retention, tags, the stream mode, DescribeLimits, the consumer calls, and the control plane's
per-account rate (DescribeStream 10 a second) with botocore's retries off, on a clock that
stands still. Exits non-zero with
the failed assertion."""

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

k = boto3.client("kinesis")
k.create_stream(StreamName="iac", ShardCount=2)
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

# DescribeStream is 10 a second per account, and the sim's clock stands still (the test starts
# it manual): of 30 calls without retries, those beyond the second's 10 are refused.
bare = boto3.client("kinesis", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
refused = 0
for _ in range(30):
    try:
        bare.describe_stream(StreamName="iac")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "LimitExceededException", e.response
        refused += 1
assert refused == 21, refused  # one DescribeStream was made above
print("ok", refused)
