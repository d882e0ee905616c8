// Enhanced fan-out with the Node SDK v3's default client (HTTP/2): registers a consumer, waits
// until it is ACTIVE, subscribes to every shard from TRIM_HORIZON and prints each record's data
// on its own line, until each shard is read to its tip (MillisBehindLatest 0) or its end.
// Usage: node efo.mjs STREAM; the endpoint from AWS_ENDPOINT_URL.
import {
  KinesisClient, DescribeStreamSummaryCommand, RegisterStreamConsumerCommand,
  DescribeStreamConsumerCommand, ListShardsCommand, SubscribeToShardCommand,
} from "@aws-sdk/client-kinesis";

const stream = process.argv[2];
const k = new KinesisClient({
  endpoint: process.env.AWS_ENDPOINT_URL, region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
});
const arn = (await k.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary.StreamARN;
const consumer = (await k.send(new RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: "node" }))).Consumer;
while ((await k.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumer.ConsumerARN })))
  .ConsumerDescription.ConsumerStatus !== "ACTIVE") {
  await new Promise((r) => setTimeout(r, 100));
}
let events = 0;
for (const shard of (await k.send(new ListShardsCommand({ StreamName: stream }))).Shards) {
  // Reading stops before the subscription's 5 minutes are up: the abort ends it.
  const abort = new AbortController();
  const out = await k.send(new SubscribeToShardCommand({
    ConsumerARN: consumer.ConsumerARN, ShardId: shard.ShardId, StartingPosition: { Type: "TRIM_HORIZON" },
  }), { abortSignal: abort.signal });
  for await (const item of out.EventStream) {
    const e = item.SubscribeToShardEvent;
    if (!e) continue;
    events += 1;
    for (const r of e.Records) console.log(Buffer.from(r.Data).toString());
    if (e.MillisBehindLatest === 0 || e.ContinuationSequenceNumber === undefined) break;
  }
  abort.abort();
}
console.error(JSON.stringify({ events }));
k.destroy();
