package protocol

import "errors"

// Every error ParseRequest and ReadFrame return for bad input wraps one of these, so the broker can tell with
// errors.Is why it closes a connection. In Kafka 2.8 all of them close the connection without a response
// (SocketServer.scala, RequestContext.java); the one exception is ErrUnsupportedVersion on an ApiVersions
// request, which is answered (KIP-511, see ParseRequest).
var (
	// ErrFrameTooLarge: the declared frame size is above the limit (socket.request.max.bytes, or the
	// pre-authentication limit). Returned before any of the body is read.
	ErrFrameTooLarge = errors.New("protocol: frame larger than the limit")
	// ErrInvalidFrame: the declared frame size is negative or smaller than a request header.
	ErrInvalidFrame = errors.New("protocol: invalid frame size")
	// ErrUnknownAPIKey: the API key is not one kmsg knows.
	ErrUnknownAPIKey = errors.New("protocol: unknown api key")
	// ErrUnsupportedVersion: the caller's table (or kmsg) does not support the key at this version.
	ErrUnsupportedVersion = errors.New("protocol: unsupported api version")
	// ErrMalformed: the header or body does not parse, has trailing bytes, or made the decoder panic.
	ErrMalformed = errors.New("protocol: malformed request")
)
