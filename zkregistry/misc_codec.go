package zkregistry

import (
	"fmt"
	"strconv"
	"strings"
)

// ControllerInfo is the ephemeral /controller znode.
type ControllerInfo struct {
	BrokerID  int32
	Timestamp int64 // election time, ms (written as a string)
}

// Encode writes {"version":1,"brokerid":..,"timestamp":".."}.
func (c ControllerInfo) Encode() []byte {
	return newObject().int("version", 1).int("brokerid", int64(c.BrokerID)).intStr("timestamp", c.Timestamp).bytes()
}

// DecodeController parses /controller; only brokerid is required.
func DecodeController(data []byte) (ControllerInfo, error) {
	const what = "controller"
	var j struct {
		BrokerID  flexInt `json:"brokerid"`
		Timestamp flexInt `json:"timestamp"`
	}
	if err := decodeJSON(what, data, &j); err != nil {
		return ControllerInfo{}, err
	}
	id, err := int32Field(what, "brokerid", j.BrokerID)
	if err != nil {
		return ControllerInfo{}, err
	}
	return ControllerInfo{BrokerID: id, Timestamp: j.Timestamp.v}, nil
}

// EncodeControllerEpoch writes /controller_epoch: the decimal epoch.
func EncodeControllerEpoch(epoch int32) []byte { return []byte(itoa(epoch)) }

// DecodeControllerEpoch parses /controller_epoch.
func DecodeControllerEpoch(data []byte) (int32, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("decode controller epoch: %w: %q", ErrMalformed, data)
	}
	return int32(v), nil
}

// ProducerIDBlockSize is the fixed size of a producer-id block.
const ProducerIDBlockSize = 1000

// ProducerIDBlock is /latest_producer_id_block: the inclusive range last
// handed to a transaction coordinator.
type ProducerIDBlock struct {
	BrokerID int32
	Start    int64
	End      int64
}

// Encode writes {"version":1,"broker":..,"block_start":"..","block_end":".."}
// (bounds as strings).
func (p ProducerIDBlock) Encode() []byte {
	o := newObject().int("version", 1).int("broker", int64(p.BrokerID))
	return o.intStr("block_start", p.Start).intStr("block_end", p.End).bytes()
}

// DecodeProducerIDBlock parses /latest_producer_id_block (data must not be
// empty: the node exists with null data until the first allocation).
func DecodeProducerIDBlock(data []byte) (ProducerIDBlock, error) {
	const what = "producer id block"
	var j struct {
		Broker flexInt `json:"broker"`
		Start  flexInt `json:"block_start"`
		End    flexInt `json:"block_end"`
	}
	if err := decodeJSON(what, data, &j); err != nil {
		return ProducerIDBlock{}, err
	}
	var p ProducerIDBlock
	var err error
	if p.BrokerID, err = int32Field(what, "broker", j.Broker); err != nil {
		return p, err
	}
	if p.Start, err = int64Field(what, "block_start", j.Start); err != nil {
		return p, err
	}
	if p.End, err = int64Field(what, "block_end", j.End); err != nil {
		return p, err
	}
	return p, nil
}

// EncodeClusterID writes /cluster/id: {"version":"1","id":".."} (version is
// the string "1").
func EncodeClusterID(id string) []byte {
	return newObject().str("version", "1").str("id", id).bytes()
}

// DecodeClusterID parses /cluster/id.
func DecodeClusterID(data []byte) (string, error) {
	var j struct {
		ID *string `json:"id"`
	}
	if err := decodeJSON("cluster id", data, &j); err != nil {
		return "", err
	}
	if j.ID == nil || *j.ID == "" {
		return "", fmt.Errorf("decode cluster id: %w: missing \"id\"", ErrMalformed)
	}
	return *j.ID, nil
}

// Feature znode status values (KIP-584).
const (
	FeatureDisabled = 0
	FeatureEnabled  = 1
)

// FeatureZNode is /feature: the finalized features.
type FeatureZNode struct {
	Status   int32                   // FeatureEnabled or FeatureDisabled
	Features map[string]VersionRange // finalized [min,max] levels; none in 2.8
}

// Encode writes {"version":1,"status":..,"features":{"f":{"min_version_level":..,"max_version_level":..}}}.
func (f FeatureZNode) Encode() []byte {
	o := newObject().int("version", 1).int("status", int64(f.Status))
	return o.raw("features", featureMap(f.Features, "min_version_level", "max_version_level")).bytes()
}

// DecodeFeatureZNode parses /feature.
func DecodeFeatureZNode(data []byte) (FeatureZNode, error) {
	const what = "feature znode"
	var j struct {
		Status   flexInt `json:"status"`
		Features map[string]struct {
			Min flexInt `json:"min_version_level"`
			Max flexInt `json:"max_version_level"`
		} `json:"features"`
	}
	if err := decodeJSON(what, data, &j); err != nil {
		return FeatureZNode{}, err
	}
	status, err := int32Field(what, "status", j.Status)
	if err != nil {
		return FeatureZNode{}, err
	}
	f := FeatureZNode{Status: status, Features: make(map[string]VersionRange, len(j.Features))}
	for name, r := range j.Features {
		if !r.Min.set || !r.Max.set {
			return FeatureZNode{}, fmt.Errorf("decode %s: %w: feature %q lacks version levels", what, ErrMalformed, name)
		}
		f.Features[name] = VersionRange{Min: int16(r.Min.v), Max: int16(r.Max.v)}
	}
	return f, nil
}
