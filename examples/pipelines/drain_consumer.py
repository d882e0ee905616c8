"""A batch consumer: waits for the run to end (SIGTERM), then drains the stream: reads each
shard from TRIM_HORIZON, parents before children, counts each event id once, and writes its
counts as one JSON object to S3.

Where it stops reading a shard is the point. Naive (the default): at the first page without
records, as much code does. AWS answers an empty page while records remain, with
`MillisBehindLatest` above 0 (the sim does so under the `empty_pages` fault): the rest of the
shard is never read. With `--careful` it stops only where AWS says the reader is at the tip (an
empty page with `MillisBehindLatest` 0) or the shard ends (no NextShardIterator).

Environment and output as naive_consumer.py's. boto3 only.
"""

import json
import os
import signal
import sys
import time
from collections import Counter

import boto3

careful = "--careful" in sys.argv
kinesis = boto3.client("kinesis")
s3 = boto3.client("s3")
stream = os.environ["MINUTELY_STREAM"]
key_fields = os.environ.get("MINUTELY_KEY", "country").split(",")
stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
while not stopping:
    time.sleep(0.1)


def event_of(data):
    """(id, time in ms, key values) of one record: minutely's own JSON, or JSON with ts."""
    e = json.loads(data)
    if "dims" in e:
        return e["id"], e["time_ms"], tuple(e["dims"].get(k, "") for k in key_fields)
    return e["id"], e["ts"], tuple(str(e.get(k, "")) for k in key_fields)


counts = Counter()
seen = set()
shards = kinesis.list_shards(StreamName=stream)["Shards"]  # parents before their children
pages = empty = 0
for s in shards:
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while iterator:
        answer = kinesis.get_records(ShardIterator=iterator, Limit=500)
        pages += 1
        for record in answer["Records"]:
            event_id, ms, key = event_of(record["Data"])
            if event_id not in seen:
                seen.add(event_id)
                counts[(time.strftime("%Y%m%d%H%M", time.gmtime(ms / 1000)), key)] += 1
        iterator = answer.get("NextShardIterator")
        if not answer["Records"]:
            empty += 1
            if not careful or answer.get("MillisBehindLatest", 0) == 0:
                break
        time.sleep(0.2)  # at most 5 GetRecords a second per shard

rows = [{"minute": m, **dict(zip(key_fields, key)), "count": n} for (m, key), n in sorted(counts.items())]
body = json.dumps({"counts": rows}).encode()
s3.put_object(Bucket=os.environ["MINUTELY_BUCKET"], Key=f"{os.environ['MINUTELY_PREFIX']}/counts.json", Body=body)
print(f"drain_consumer: {sum(counts.values())} events counted from {len(shards)} shards, {pages} pages, {empty} empty")
