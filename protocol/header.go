package protocol

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsKey is ApiVersions' key: the one API whose unsupported versions are answered (KIP-511) and
// whose responses always use response header v0.
const apiVersionsKey = 18

// RequestHeader is a parsed request header (08 §3).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	// ClientID is nil when the client sent a null string or the header is v0. Kafka treats null as "".
	ClientID *string
	// HeaderVersion is 0 (ControlledShutdown v0 only), 1, or 2 (flexible request versions: v1 plus tagged
	// fields; the client id stays a classic int16-length string).
	HeaderVersion int
}

// requestHeaderVersion is Kafka's ApiMessageType.requestHeaderVersion: v2 for flexible versions, v1
// otherwise, except ControlledShutdown v0 which predates the client id.
func requestHeaderVersion(key, version int16, flexible bool) int {
	switch {
	case key == 7 && version == 0:
		return 0
	case flexible:
		return 2
	default:
		return 1
	}
}

// ParseRequest parses a request frame as returned by ReadFrame: the header, then the body with kmsg at the
// header's version. supported says which (key, version) pairs the broker serves; nil accepts every version
// kmsg knows. Versions kmsg does not know are always unsupported.
//
// Errors, all closing the connection in Kafka except the ApiVersions case:
//   - ErrMalformed: fewer than MinRequestSize bytes, a header that does not parse (client id length < -1 or
//     past the end, bad tagged fields), a body that does not parse, has trailing bytes, or panics kmsg.
//   - ErrUnknownAPIKey: kmsg has no such key. hdr holds key, version and correlation id only.
//   - ErrUnsupportedVersion: supported (or kmsg) rejects the version. hdr is complete, req is nil, and the
//     body is not looked at.
//
// KIP-511 contract: an ApiVersions request at an unsupported version returns the complete header, a nil
// request and ErrUnsupportedVersion; the broker answers it with AppendUnsupportedVersionAPIVersions (v0
// layout, error 35) and keeps the connection. For every other key ErrUnsupportedVersion means close.
//
// Whenever err is nil or ErrUnsupportedVersion the header is complete. Byte slices in req (Produce records,
// for example) alias frame, so frame must not be reused while req is in use; strings are copies.
func ParseRequest(frame []byte, supported func(key, version int16) bool) (hdr RequestHeader, req kmsg.Request, err error) {
	if len(frame) < MinRequestSize {
		return hdr, nil, fmt.Errorf("%w: %d-byte frame is shorter than a request header", ErrMalformed, len(frame))
	}
	hdr.APIKey = int16(binary.BigEndian.Uint16(frame))
	hdr.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	hdr.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	req = kmsg.RequestForKey(hdr.APIKey)
	if req == nil {
		return hdr, nil, fmt.Errorf("%w: %d", ErrUnknownAPIKey, hdr.APIKey)
	}
	req.SetVersion(hdr.APIVersion)
	hdr.HeaderVersion = requestHeaderVersion(hdr.APIKey, hdr.APIVersion, req.IsFlexible())
	body, err := parseHeaderRest(&hdr, frame[MinRequestSize:])
	if err != nil {
		return hdr, nil, err
	}
	if hdr.APIVersion < 0 || hdr.APIVersion > req.MaxVersion() ||
		(supported != nil && !supported(hdr.APIKey, hdr.APIVersion)) {
		return hdr, nil, fmt.Errorf("%w: %s v%d", ErrUnsupportedVersion, kmsg.NameForKey(hdr.APIKey), hdr.APIVersion)
	}
	if err := decodeBody(req, body); err != nil {
		return hdr, nil, fmt.Errorf("%w: %s v%d: %v", ErrMalformed, kmsg.NameForKey(hdr.APIKey), hdr.APIVersion, err)
	}
	return hdr, req, nil
}

// parseHeaderRest parses the header after the correlation id (client id, tagged fields) according to
// hdr.HeaderVersion and returns the body.
func parseHeaderRest(hdr *RequestHeader, b []byte) (body []byte, err error) {
	if hdr.HeaderVersion == 0 {
		return b, nil
	}
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: header ends before the client id", ErrMalformed)
	}
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	switch {
	case n == -1: // null
	case n < -1 || int(n) > len(b):
		return nil, fmt.Errorf("%w: client id length %d with %d bytes left", ErrMalformed, n, len(b))
	default:
		id := string(b[:n])
		hdr.ClientID = &id
		b = b[n:]
	}
	if hdr.HeaderVersion == 1 {
		return b, nil
	}
	// Header v2 defines no tags; unknown ones are skipped as Kafka does (RequestHeaderData).
	count, b, ok := uvarint(b)
	if !ok {
		return nil, fmt.Errorf("%w: bad header tag count", ErrMalformed)
	}
	for i := uint32(0); i < count; i++ {
		var size uint32
		if _, b, ok = uvarint(b); ok {
			size, b, ok = uvarint(b)
		}
		if !ok || uint64(size) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: bad header tag %d of %d", ErrMalformed, i, count)
		}
		b = b[size:]
	}
	return b, nil
}

// uvarint reads an unsigned varint of at most 5 bytes (a uint32, as Kafka's ByteUtils.readUnsignedVarint),
// accepting non-minimal encodings as Kafka does.
func uvarint(b []byte) (v uint32, rest []byte, ok bool) {
	for i := 0; i < 5 && i < len(b); i++ {
		c := b[i]
		if i == 4 && c > 0x0f {
			return 0, nil, false // more than 32 bits
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, b[i+1:], true
		}
	}
	return 0, nil, false
}

// decodeBody decodes body into req (version already set) after guardAllocation, turning a kmsg panic into
// an error, and rejects trailing bytes.
//
// kmsg does not say how much input it consumed, so trailing bytes are found by decoding the body minus its
// last byte into a scratch request: kmsg reads strictly forward and fails as soon as a read runs past the
// end, so that shorter decode succeeds exactly when the full decode left at least one byte unread. (The one
// blind spot is an array whose elements encode to zero bytes, which no 2.8 request has at a version we
// serve.) The scratch decode uses kmsg's unsafe mode, which allocates no strings.
func decodeBody(req kmsg.Request, body []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panic: %v", p)
		}
	}()
	exact, err := guardAllocation(req, body)
	if err != nil {
		return err
	}
	if err := req.ReadFrom(body); err != nil {
		return err
	}
	if exact || len(body) == 0 {
		return nil
	}
	scratch := kmsg.RequestForKey(req.Key())
	scratch.SetVersion(req.GetVersion())
	if scratch.(kmsg.UnsafeReadFrom).UnsafeReadFrom(body[:len(body)-1]) == nil {
		return fmt.Errorf("trailing bytes after the body")
	}
	return nil
}

// AppendRequestHeader appends hdr in the layout hdr.HeaderVersion names (no size prefix, no tags).
func AppendRequestHeader(dst []byte, hdr RequestHeader) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(hdr.APIKey))
	dst = binary.BigEndian.AppendUint16(dst, uint16(hdr.APIVersion))
	dst = binary.BigEndian.AppendUint32(dst, uint32(hdr.CorrelationID))
	if hdr.HeaderVersion == 0 {
		return dst
	}
	if hdr.ClientID == nil {
		dst = binary.BigEndian.AppendUint16(dst, 0xffff)
	} else {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(*hdr.ClientID)))
		dst = append(dst, *hdr.ClientID...)
	}
	if hdr.HeaderVersion == 2 {
		dst = append(dst, 0) // no tagged fields
	}
	return dst
}

// AppendRequest appends a complete request frame (size, header, body) for req at hdr.APIVersion, with the
// header version req's flexibility implies; hdr.APIKey must be req's key. For tests and inter-broker clients.
func AppendRequest(dst []byte, hdr RequestHeader, req kmsg.Request) []byte {
	req.SetVersion(hdr.APIVersion)
	hdr.HeaderVersion = requestHeaderVersion(hdr.APIKey, hdr.APIVersion, req.IsFlexible())
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = AppendRequestHeader(dst, hdr)
	dst = req.AppendTo(dst)
	SetSize(dst[start:], 0)
	return dst
}
