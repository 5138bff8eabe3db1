// Package metadata is the broker's metadata cache: the cluster as the controller last described it in
// UpdateMetadata requests (Kafka 2.8's MetadataCache). Metadata, CreateTopics and the produce/fetch
// "am I the leader" answers read it.
//
// Data flow: controller --UpdateMetadata--> Cache.Update, which builds a new immutable snapshot (copy on
// write per topic) and publishes it with an atomic pointer. Readers take Snapshot() and never block the
// updater or each other; a snapshot never changes after publication.
//
// Rules copied from Kafka: a request from an older controller epoch is refused (STALE_CONTROLLER_EPOCH);
// the alive-broker list is replaced wholesale each time; partition states are upserted; partitions whose
// leader is -2 (LeaderDuringDelete) are removed, and a topic with no partitions left disappears.
package metadata
