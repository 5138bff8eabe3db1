package protocol

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// unsupportedVersion is Kafka's UNSUPPORTED_VERSION error code.
const unsupportedVersion = 35

// BeginResponse appends the start of a response frame for hdr: a size placeholder, the correlation id and,
// for flexible response versions, an empty tagged-field section (response header v1). ApiVersions responses
// always use header v0, since a client cannot know in advance which version the broker will answer with.
// The caller appends the body and finishes with SetSize; this is how a Fetch response followed by sendfile
// ranges is framed.
func BeginResponse(dst []byte, hdr RequestHeader) []byte {
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(hdr.CorrelationID))
	if hdr.APIKey != apiVersionsKey && responseFlexible(hdr.APIKey, hdr.APIVersion) {
		dst = append(dst, 0)
	}
	return dst
}

// AppendResponse appends a complete response frame answering hdr: size, response header, and resp encoded
// at hdr.APIVersion (resp's version is set to it). resp must be the response kind of hdr's key.
func AppendResponse(dst []byte, hdr RequestHeader, resp kmsg.Response) []byte {
	resp.SetVersion(hdr.APIVersion)
	start := len(dst)
	dst = BeginResponse(dst, hdr)
	dst = resp.AppendTo(dst)
	SetSize(dst[start:], 0)
	return dst
}

// AppendUnsupportedVersionAPIVersions appends the KIP-511 answer to an ApiVersions request at a version the
// broker does not support: the v0 response layout (whatever version was asked) with UNSUPPORTED_VERSION (35)
// and apis, which Kafka 2.8 sets to ApiVersions' own range only ([{18, 0, 3}]), so the client retries lower.
func AppendUnsupportedVersionAPIVersions(dst []byte, hdr RequestHeader, apis []kmsg.ApiVersionsResponseApiKey) []byte {
	resp := kmsg.ApiVersionsResponse{ErrorCode: unsupportedVersion, ApiKeys: apis} // Version 0
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(hdr.CorrelationID))
	dst = resp.AppendTo(dst)
	SetSize(dst[start:], 0)
	return dst
}

// flexibleFrom[key] is the first flexible version of key's messages (a request and its response become
// flexible together), or -1 when none is or kmsg does not know the key. Built once from kmsg so the response
// path needs no allocation to pick the header version.
var flexibleFrom = func() (t [kmsg.MaxKey + 1]int16) {
	for key := range t {
		t[key] = -1
		resp := kmsg.ResponseForKey(int16(key))
		if resp == nil {
			continue
		}
		for v := int16(0); v <= resp.MaxVersion(); v++ {
			resp.SetVersion(v)
			if resp.IsFlexible() {
				t[key] = v
				break
			}
		}
	}
	return t
}()

// responseFlexible reports whether key's response at version is flexible.
func responseFlexible(key, version int16) bool {
	if key < 0 || int(key) >= len(flexibleFrom) {
		return false
	}
	f := flexibleFrom[key]
	return f >= 0 && version >= f
}
