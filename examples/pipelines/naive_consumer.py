"""A consumer as many are first written: lists the stream's shards once when it starts, reads
each from TRIM_HORIZON with GetRecords, counts the events per minute (of their own time) and
key, and on SIGTERM writes its counts as one JSON object to S3. It never lists the shards
again: after a reshard, the children, and every event put into them, are never read.

Environment: MINUTELY_STREAM, MINUTELY_BUCKET, MINUTELY_PREFIX, MINUTELY_KEY (the key fields,
comma separated), MINUTELY_RECORD_FORMAT (minutely or json), AWS_ENDPOINT_URL,
AWS_DEFAULT_REGION and the credentials. boto3 only.

Its output, for `minutely check counts` (`[consumer] output` in a scenario):
s3://$MINUTELY_BUCKET/$MINUTELY_PREFIX/counts.json =
{"counts": [{"minute": "YYYYMMDDHHMM", "<key field>": "...", "count": N}, ...]}
"""

import json
import os
import signal
import time
from collections import Counter

import boto3

kinesis = boto3.client("kinesis")
s3 = boto3.client("s3")
stream = os.environ["MINUTELY_STREAM"]
key_fields = os.environ.get("MINUTELY_KEY", "country").split(",")
stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)


def event_of(data):
    """(time in ms, key values) of one record: minutely's own JSON, or JSON with ts."""
    e = json.loads(data)
    if "dims" in e:
        return e["time_ms"], tuple(e["dims"].get(k, "") for k in key_fields)
    return e["ts"], tuple(str(e.get(k, "")) for k in key_fields)


counts = Counter()
shards = [s["ShardId"] for s in kinesis.list_shards(StreamName=stream)["Shards"]]  # once
iterators = {
    s: kinesis.get_shard_iterator(StreamName=stream, ShardId=s, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    for s in shards
}
while not stopping and iterators:
    for shard, iterator in list(iterators.items()):
        answer = kinesis.get_records(ShardIterator=iterator, Limit=10000)
        for record in answer["Records"]:
            ms, key = event_of(record["Data"])
            counts[(time.strftime("%Y%m%d%H%M", time.gmtime(ms / 1000)), key)] += 1
        if answer.get("NextShardIterator"):
            iterators[shard] = answer["NextShardIterator"]
        else:
            del iterators[shard]  # closed and read to its end
    time.sleep(0.25)  # at most 5 GetRecords a second per shard
while not stopping:
    time.sleep(0.1)

rows = [{"minute": m, **dict(zip(key_fields, key)), "count": n} for (m, key), n in sorted(counts.items())]
body = json.dumps({"counts": rows}).encode()
s3.put_object(Bucket=os.environ["MINUTELY_BUCKET"], Key=f"{os.environ['MINUTELY_PREFIX']}/counts.json", Body=body)
print(f"naive_consumer: {sum(counts.values())} events counted from {len(shards)} shards")
