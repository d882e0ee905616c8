"""A careful producer: puts the input, one record per line, with PutRecords and re-sends only
the entries the answer says failed (FailedRecordCount, each entry's ErrorCode), with an
exponential backoff, until every entry is stored or the deadline passes. boto3 retries whole
calls that fail (a 500, a dropped connection); when Kinesis had applied such a call, its
records are stored twice: the duplicates at-least-once delivery allows, which `minutely check`
calls explained on a minutely sim.

It promises no order: a re-sent entry is stored after later entries of its partition key. With
`--keys N` the partition key is the line number modulo N (N writers' worth of keys, each key's
lines in input order): a consumer that relies on per-key order sees re-sent events out of it,
which `minutely check --ordered` (a scenario's `[expect] ordered`) names. Without it, every
line is its own key.

Environment: MINUTELY_INPUT (the file), MINUTELY_STREAM, MINUTELY_DEADLINE (unix seconds, the
run's end; optional), AWS_ENDPOINT_URL, AWS_DEFAULT_REGION and the credentials. boto3 only.
"""

import os
import random
import sys
import time

import boto3

keys = int(sys.argv[sys.argv.index("--keys") + 1]) if "--keys" in sys.argv else None

kinesis = boto3.client("kinesis")
stream = os.environ["MINUTELY_STREAM"]
deadline = float(os.environ.get("MINUTELY_DEADLINE", time.time() + 600))

with open(os.environ["MINUTELY_INPUT"], "rb") as f:
    lines = [line.rstrip(b"\n") for line in f if line.strip()]

resent = 0
for start in range(0, len(lines), 500):
    pending = [{"Data": data, "PartitionKey": str((start + i) % keys if keys else start + i)} for i, data in enumerate(lines[start:start + 500])]
    attempt = 0
    while pending:
        answer = kinesis.put_records(StreamName=stream, Records=pending)
        if answer["FailedRecordCount"] == 0:
            break
        pending = [entry for entry, result in zip(pending, answer["Records"]) if "ErrorCode" in result]
        resent += len(pending)
        attempt += 1
        if time.time() > deadline:
            sys.exit(f"producer: {len(pending)} records not stored before the deadline")
        time.sleep(min(2.0, 0.05 * 2 ** attempt) * random.random())

print(f"producer: put {len(lines)} records into {stream}, {resent} entries re-sent")
