"""A producer as many are written: reads the input, one record per line, and puts it into
the stream with PutRecords, 500 entries a call. It never looks at FailedRecordCount, so every
entry Kinesis refuses (throttled, or failed inside) is lost without a word.

Run by a scenario with `[producer] command = ["python3", "examples/pipelines/naive_producer.py"]`
(the environment below is set by the engine), or by hand against `minutely sim`.

Environment: MINUTELY_INPUT (the file), MINUTELY_STREAM, AWS_ENDPOINT_URL, AWS_DEFAULT_REGION
and the credentials. boto3 only.
"""

import os

import boto3

kinesis = boto3.client("kinesis")
stream = os.environ["MINUTELY_STREAM"]

with open(os.environ["MINUTELY_INPUT"], "rb") as f:
    lines = [line.rstrip(b"\n") for line in f if line.strip()]

sent = 0
for start in range(0, len(lines), 500):
    batch = lines[start:start + 500]
    entries = [{"Data": data, "PartitionKey": str(start + i)} for i, data in enumerate(batch)]
    kinesis.put_records(StreamName=stream, Records=entries)  # the answer is never read
    sent += len(batch)

print(f"naive_producer: put {sent} records into {stream}")
