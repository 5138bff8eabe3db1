package zktest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// FourLetterWord sends one of ZooKeeper's four-letter-word commands (it must
// be whitelisted) and returns the whole answer; the server closes the
// connection after answering.
func FourLetterWord(addr, cmd string, timeout time.Duration) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, cmd); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Ready reports whether the server at addr answers ruok with imok and
// srvr with its mode, i.e. it accepts client sessions.
func Ready(addr string, timeout time.Duration) error {
	out, err := FourLetterWord(addr, "ruok", timeout)
	if err != nil {
		return err
	}
	if out != "imok" {
		return fmt.Errorf("ruok answered %q", out)
	}
	out, err = FourLetterWord(addr, "srvr", timeout)
	if err != nil {
		return err
	}
	if !strings.Contains(out, "Mode: ") {
		return fmt.Errorf("srvr answered %q", strings.TrimSpace(out))
	}
	return nil
}

// ExpireSession closes the ZooKeeper session sessionID on the server at addr
// by attaching to it with its password and sending closeSession, the way
// Kafka's tests force an expiry. The owner of the session sees its
// connection dropped and, on reconnecting, learns the session has expired;
// its ephemeral znodes are deleted at once.
func ExpireSession(addr string, sessionID int64, passwd []byte, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if err := attachSession(conn, sessionID, passwd); err != nil {
		return err
	}
	return closeSession(conn)
}

// attachSession sends a ConnectRequest for an existing session (jute:
// protocolVersion int32, lastZxidSeen int64, timeOut int32, sessionId int64,
// passwd buffer) and checks the ConnectResponse names the same session.
func attachSession(conn net.Conn, sessionID int64, passwd []byte) error {
	req := make([]byte, 0, 48)
	req = binary.BigEndian.AppendUint32(req, 0) // protocol version
	req = binary.BigEndian.AppendUint64(req, 0) // last zxid seen
	req = binary.BigEndian.AppendUint32(req, 30000)
	req = binary.BigEndian.AppendUint64(req, uint64(sessionID))
	req = binary.BigEndian.AppendUint32(req, uint32(len(passwd)))
	req = append(req, passwd...)
	if err := writeFrame(conn, req); err != nil {
		return err
	}
	resp, err := readFrame(conn)
	if err != nil {
		return fmt.Errorf("read connect response: %w", err)
	}
	if len(resp) < 16 {
		return fmt.Errorf("short connect response (%d bytes)", len(resp))
	}
	// protocolVersion int32, timeOut int32, sessionId int64
	if got := int64(binary.BigEndian.Uint64(resp[8:16])); got != sessionID {
		return fmt.Errorf("session 0x%x is not alive (server answered session 0x%x)", sessionID, got)
	}
	return nil
}

// closeSession sends the request header {xid 1, type closeSession(-11)} and
// waits for the reply header {xid, zxid, err}.
func closeSession(conn net.Conn) error {
	req := binary.BigEndian.AppendUint32(nil, 1)
	req = binary.BigEndian.AppendUint32(req, uint32(0xFFFFFFF5)) // -11
	if err := writeFrame(conn, req); err != nil {
		return err
	}
	resp, err := readFrame(conn)
	if err != nil {
		return fmt.Errorf("read close response: %w", err)
	}
	if len(resp) < 16 {
		return fmt.Errorf("short close response (%d bytes)", len(resp))
	}
	if code := int32(binary.BigEndian.Uint32(resp[12:16])); code != 0 {
		return fmt.Errorf("closeSession failed with ZooKeeper error %d", code)
	}
	return nil
}

func writeFrame(w io.Writer, body []byte) error {
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	_, err := w.Write(append(frame, body...))
	return err
}

// readFrame reads one length-prefixed reply, refusing absurd lengths so a
// confused peer cannot make us allocate gigabytes.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 1<<20 {
		return nil, errors.New("reply frame larger than 1 MiB")
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}
