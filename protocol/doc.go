// Package protocol is the broker's wire edge for the Kafka protocol as a Kafka 2.8 broker speaks it
// (reference 08): framing, request headers, response headers, and version ranges. Message bodies are
// franz-go's kmsg types; this package adds what a server needs around them and imports nothing of ours.
//
// Data flow per connection (the broker's reader goroutine):
//
//	ReadFrame(conn, limit, buf)        size checked before the body: ErrInvalidFrame / ErrFrameTooLarge
//	  -> ParseRequest(frame, supported) header v0/v1/v2, then the body via kmsg at the header's version
//	  -> handler(req) -> resp           (broker; resp from req.ResponseKind())
//	  -> AppendResponse(out, hdr, resp) size + response header v0/v1 + body
//
// Zero-copy Fetch frames its in-memory part with BeginResponse, appends the body up to each records field
// itself, and finishes with SetSize(frame, bytes sent from files).
//
// Invariants:
//   - No allocation in proportion to a declared frame size before the bytes arrive: while a frame is
//     incomplete, ReadFrame holds at most the bytes received plus 64 KiB (reliability plan 10 §8.2).
//   - A kmsg decode of a body allocates at most MaxDecodeAlloc (256 MiB), whatever the array counts claim:
//     Produce is walked exactly first (scanProduce), every other key is checked against a per-byte worst
//     case derived from kmsg's types, which caps non-Produce bodies at about 1-3 MB (guard.go). Non-Produce
//     bodies are decoded twice (the second, one byte short, finds trailing bytes), so the transient peak per
//     request is twice that.
//   - Every request either parses completely, with no trailing bytes, or yields an error wrapping one of
//     the package's sentinels; a panic inside kmsg becomes ErrMalformed. All errors close the connection
//     except ErrUnsupportedVersion on ApiVersions, which gets the KIP-511 v0 answer
//     (AppendUnsupportedVersionAPIVersions).
//   - Response header v1 (tagged fields) exactly when the response version is flexible, except ApiVersions,
//     always v0. Request header v2 exactly when the request version is flexible, v0 for ControlledShutdown
//     v0, v1 otherwise.
//   - A parsed request's byte fields (Produce records) alias the frame; its strings are copies.
//
// Deviation from Kafka: bodies other than Produce larger than MaxDecodeAlloc divided by their key's factor
// (about 0.9 MB for LeaderAndIsr, 1 MB UpdateMetadata, 1.3 MB Fetch, 2.7 MB Metadata) are refused as
// malformed, where Kafka accepts any request up to socket.request.max.bytes.
package protocol
