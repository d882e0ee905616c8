"""Reads a whole stream with enhanced fan-out, as a KCL-style consumer does: registers a
consumer (or finds it), waits until it is ACTIVE, then subscribes to each shard from TRIM_HORIZON
with SubscribeToShard, parents before children (a shard's children come in its last event's
ChildShards). A subscription ends after 5 minutes, or is cut: the reader subscribes again
AFTER_SEQUENCE_NUMBER its last ContinuationSequenceNumber, so nothing is lost or read twice.
It stops reading an open shard once caught up (an event with MillisBehindLatest 0).

Usage: efo_reader.py STREAM [CONSUMER_NAME]. Prints one line per record (shard, sequence number,
data) on stdout and a JSON summary on stderr. boto3 only; the endpoint from AWS_ENDPOINT_URL.
"""

import json
import sys
import time

import boto3
from botocore.exceptions import ClientError

stream = sys.argv[1]
name = sys.argv[2] if len(sys.argv) > 2 else "efo-reader"
kinesis = boto3.client("kinesis")
arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
try:
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName=name)["Consumer"]
except ClientError as e:
    if e.response["Error"]["Code"] != "ResourceInUseException":
        raise
    consumer = kinesis.describe_stream_consumer(StreamARN=arn, ConsumerName=name)["ConsumerDescription"]
consumer_arn = consumer["ConsumerARN"]
while kinesis.describe_stream_consumer(ConsumerARN=consumer_arn)["ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
    time.sleep(0.1)

summary = {"subscriptions": 0, "refused": 0, "broken": 0, "events": 0, "records": 0, "shards": 0}


def read_shard(shard_id):
    """Every record of one shard; its children (at its end), or [] (caught up)."""
    position = {"Type": "TRIM_HORIZON"}
    while True:
        try:
            answer = kinesis.subscribe_to_shard(ConsumerARN=consumer_arn, ShardId=shard_id, StartingPosition=position)
            summary["subscriptions"] += 1
            for item in answer["EventStream"]:
                event = item.get("SubscribeToShardEvent")
                if event is None:
                    continue
                summary["events"] += 1
                for r in event["Records"]:
                    data = r["Data"].decode("utf-8", "replace")
                    print(f"{shard_id}\t{r['SequenceNumber']}\t{data}")
                    summary["records"] += 1
                continuation = event.get("ContinuationSequenceNumber")
                if continuation is None:
                    return event.get("ChildShards", [])
                position = {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": continuation}
                if event["MillisBehindLatest"] == 0:
                    return []  # caught up: everything the shard holds now is read
        except ClientError as e:
            # Another subscription still live (ResourceInUse), or one a second (LimitExceeded).
            if e.response["Error"]["Code"] not in ("ResourceInUseException", "LimitExceededException"):
                raise
            summary["refused"] += 1
            time.sleep(1.0)
        except Exception as e:  # a cut connection: subscribe again from the last continuation
            summary["broken"] += 1
            summary["last_break"] = f"{type(e).__name__}: {e}"
            time.sleep(1.0)


shards = kinesis.list_shards(StreamName=stream)["Shards"]
known = {s["ShardId"] for s in shards}
todo = [s["ShardId"] for s in shards if s.get("ParentShardId") not in known]
parents = {}
done = set()
while todo:
    shard = todo.pop(0)
    if shard in done:
        continue
    if not all(p in done for p in parents.get(shard, [])):
        todo.append(shard)  # a merge's child: after both its parents
        continue
    done.add(shard)
    summary["shards"] += 1
    for child in read_shard(shard):
        parents[child["ShardId"]] = child["ParentShards"]
        todo.append(child["ShardId"])
print(json.dumps(summary), file=sys.stderr)
