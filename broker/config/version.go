package config

import (
	"fmt"
	"strings"
)

// ProtocolVersion is a Kafka ApiVersion (inter.broker.protocol.version, log.message.format.version), ordered:
// a later version compares greater. Only versions with message format v2 (0.11.0 and later) exist here.
type ProtocolVersion int

// Kafka 2.8's ApiVersion values from 0.11.0 on, in order. The comments name what each one gates in Kafka.
const (
	V0_11_0_IV0 ProtocolVersion = iota + 1 // message format v2
	V0_11_0_IV1
	V0_11_0_IV2
	V1_0_IV0
	V1_1_IV0
	V2_0_IV0
	V2_0_IV1
	V2_1_IV0
	V2_1_IV1
	V2_1_IV2
	V2_2_IV0
	V2_2_IV1
	V2_3_IV0
	V2_3_IV1
	V2_4_IV0
	V2_4_IV1
	V2_5_IV0
	V2_6_IV0
	V2_7_IV0 // feature versioning
	V2_7_IV1 // Fetch v12, truncation on fetch
	V2_7_IV2 // AlterIsr
	V2_8_IV0 // flexible ListOffsets/WriteTxnMarkers/OffsetsForLeaderEpoch, topic ids in ZooKeeper
	V2_8_IV1 // topic ids in LeaderAndIsr and UpdateMetadata
)

const latestVersion = V2_8_IV1

var versionNames = [...]string{
	V0_11_0_IV0: "0.11.0-IV0", V0_11_0_IV1: "0.11.0-IV1", V0_11_0_IV2: "0.11.0-IV2",
	V1_0_IV0: "1.0-IV0", V1_1_IV0: "1.1-IV0",
	V2_0_IV0: "2.0-IV0", V2_0_IV1: "2.0-IV1",
	V2_1_IV0: "2.1-IV0", V2_1_IV1: "2.1-IV1", V2_1_IV2: "2.1-IV2",
	V2_2_IV0: "2.2-IV0", V2_2_IV1: "2.2-IV1",
	V2_3_IV0: "2.3-IV0", V2_3_IV1: "2.3-IV1",
	V2_4_IV0: "2.4-IV0", V2_4_IV1: "2.4-IV1",
	V2_5_IV0: "2.5-IV0", V2_6_IV0: "2.6-IV0",
	V2_7_IV0: "2.7-IV0", V2_7_IV1: "2.7-IV1", V2_7_IV2: "2.7-IV2",
	V2_8_IV0: "2.8-IV0", V2_8_IV1: "2.8-IV1",
}

// Versions Kafka knows that predate message format v2; named so the error can say why they are refused.
var oldVersions = []string{"0.8.0", "0.8.1", "0.8.2", "0.9.0", "0.10.0", "0.10.1", "0.10.2"}

// String is the full name, e.g. "2.8-IV1".
func (v ProtocolVersion) String() string {
	if v < V0_11_0_IV0 || v > latestVersion {
		return fmt.Sprintf("ProtocolVersion(%d)", int(v))
	}
	return versionNames[v]
}

// ShortVersion is the release, e.g. "2.8" (or "0.11.0").
func (v ProtocolVersion) ShortVersion() string {
	s, _, _ := strings.Cut(v.String(), "-")
	return s
}

// ParseProtocolVersion accepts what Kafka's ApiVersion.apply does: a full name ("2.8-IV0"), a release ("2.8",
// meaning its latest IV) or a release with a patch ("2.8.1"): two segments are significant, three for 0.x.
func ParseProtocolVersion(s string) (ProtocolVersion, error) {
	s = strings.TrimSpace(s)
	segs := strings.Split(s, ".")
	n := 2
	if strings.HasPrefix(s, "0.") {
		n = 3
	}
	key := s
	if len(segs) > n {
		key = strings.Join(segs[:n], ".")
	}
	var found ProtocolVersion
	for v := V0_11_0_IV0; v <= latestVersion; v++ {
		if v.String() == key || v.ShortVersion() == key {
			found = v // short names resolve to the last (latest) IV of the release
		}
	}
	if found != 0 {
		return found, nil
	}
	for _, old := range oldVersions {
		if strings.HasPrefix(key, old) {
			return 0, fmt.Errorf("version %s predates message format v2 (0.11.0), which Samsa requires", s)
		}
	}
	return 0, fmt.Errorf("%q is not a Kafka version (want e.g. %s or %s)", s, latestVersion.ShortVersion(), latestVersion)
}
