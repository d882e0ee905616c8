"""A careful consumer: lists the shards again every few seconds and reads a shard's children
only after its parents are read to their end (a reshard loses nothing), renews an expired
iterator after the last record it took, counts each event id once (a producer's retry stores
some twice), and on SIGTERM writes its counts as one JSON object to S3.

Environment and output as naive_consumer.py's. boto3 only.
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
    """(id, time in ms, key values) of one record: minutely's own JSON, or JSON with ts."""
    e = json.loads(data)
    if "dims" in e:
        return e["id"], e["time_ms"], tuple(e["dims"].get(k, "") for k in key_fields)
    return e["id"], e["ts"], tuple(str(e.get(k, "")) for k in key_fields)


counts = Counter()
seen = set()
finished = set()  # shards read to their end
reading = {}  # shard -> [iterator, last sequence number]
listed_at = 0.0

while not stopping:
    if time.time() - listed_at > 2:
        listed_at = time.time()
        shards = kinesis.list_shards(StreamName=stream)["Shards"]
        listed = {s["ShardId"] for s in shards}
        for s in shards:
            sid = s["ShardId"]
            parents = [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p in listed]
            if sid in finished or sid in reading or any(p not in finished for p in parents):
                continue
            it = kinesis.get_shard_iterator(StreamName=stream, ShardId=sid, ShardIteratorType="TRIM_HORIZON")
            reading[sid] = [it["ShardIterator"], None]
    for sid, state in list(reading.items()):
        try:
            answer = kinesis.get_records(ShardIterator=state[0], Limit=10000)
        except kinesis.exceptions.ExpiredIteratorException:
            kind = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": state[1]} if state[1] else {"ShardIteratorType": "TRIM_HORIZON"}
            state[0] = kinesis.get_shard_iterator(StreamName=stream, ShardId=sid, **kind)["ShardIterator"]
            continue
        for record in answer["Records"]:
            state[1] = record["SequenceNumber"]
            event_id, ms, key = event_of(record["Data"])
            if event_id in seen:
                continue
            seen.add(event_id)
            counts[(time.strftime("%Y%m%d%H%M", time.gmtime(ms / 1000)), key)] += 1
        if answer.get("NextShardIterator"):
            state[0] = answer["NextShardIterator"]
        else:
            finished.add(sid)
            del reading[sid]
            listed_at = 0.0  # its children may be readable now
    time.sleep(0.25)  # at most 5 GetRecords a second per shard

rows = [{"minute": m, **dict(zip(key_fields, key)), "count": n} for (m, key), n in sorted(counts.items())]
body = json.dumps({"counts": rows}).encode()
s3.put_object(Bucket=os.environ["MINUTELY_BUCKET"], Key=f"{os.environ['MINUTELY_PREFIX']}/counts.json", Body=body)
print(f"consumer: {sum(counts.values())} events counted, {len(finished)} shards finished")
