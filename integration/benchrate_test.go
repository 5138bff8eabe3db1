//go:build integration

package integration

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Small-request rate (the later target: at least 150k small requests/s): several connections, each
// keeping requests pipelined as a Kafka client does, against one broker.
const (
	rateConns    = 8
	rateInFlight = 5 // Kafka's max.in.flight.requests.per.connection default
)

// BenchmarkE2EApiVersionsRate: ApiVersions v3, the smallest request every client sends.
func BenchmarkE2EApiVersionsRate(b *testing.B) {
	c := benchCluster(b)
	w := dialWire(b, c.Addr(1))
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = w.version(b, kmsg.ApiVersions, 3)
	req.ClientSoftwareName = benchClientID
	req.ClientSoftwareVersion = "0"
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := w.roundTrip(req, resp); err != nil {
		b.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		b.Fatal(err)
	}
	benchRequestRate(b, c.Addr(1), appendRequest(nil, 0, req), len(w.rbuf))
}

// BenchmarkE2EMetadataRate: Metadata for one one-partition topic, answered from the broker's cache.
func BenchmarkE2EMetadataRate(b *testing.B) {
	c := benchCluster(b)
	benchTopicWith(c, 1)
	w := dialWire(b, c.Addr(1))
	req := kmsg.NewPtrMetadataRequest()
	req.Version = w.version(b, kmsg.Metadata, 11)
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(benchTopic)
	req.Topics = append(req.Topics, t)
	resp := kmsg.NewPtrMetadataResponse()
	if err := w.roundTrip(req, resp); err != nil {
		b.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		b.Fatalf("metadata: %d topics in answer", len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		b.Fatal(err)
	}
	benchRequestRate(b, c.Addr(1), appendRequest(nil, 0, req), len(w.rbuf))
}

// benchRequestRate sends copies of the request frame over rateConns connections, rateInFlight at a time on
// each, one completed request per iteration, and reports requests/s. The first answer was decoded and
// checked by the caller; every later one must have its size (respSize, without the size prefix) and the
// next correlation id of its connection.
func benchRequestRate(b *testing.B, addr string, frame []byte, respSize int) {
	credits := make(chan int, 1024)
	errc := make(chan error, rateConns)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var conns []net.Conn
	defer func() {
		close(stop)
		for _, nc := range conns {
			_ = nc.Close() // unblocks readers
		}
		wg.Wait()
	}()
	for range rateConns {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, nc)
	}
	for _, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pipelineRequests(nc, frame, respSize, credits, stop); err != nil {
				select {
				case <-stop: // closed under it
				default:
					errc <- err
				}
			}
		}()
	}
	credit := 0
	for b.Loop() {
		for credit == 0 {
			select {
			case credit = <-credits:
			case err := <-errc:
				b.Fatal(err)
			}
		}
		credit--
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// pipelineRequests keeps rateInFlight requests outstanding on nc: it reads every response already buffered,
// credits them, and writes as many new requests in one write.
func pipelineRequests(nc net.Conn, frame []byte, respSize int, credits chan<- int, stop <-chan struct{}) error {
	r := bufio.NewReaderSize(nc, 64<<10)
	var wbuf []byte
	var sent, next int32
	send := func(n int) error {
		wbuf = wbuf[:0]
		for range n {
			start := len(wbuf)
			wbuf = append(wbuf, frame...)
			putCorrID(wbuf[start:], sent)
			sent++
		}
		_, err := nc.Write(wbuf)
		return err
	}
	if err := send(rateInFlight); err != nil {
		return err
	}
	var hdr [8]byte // size, correlation id
	for {
		n := 0
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return err
			}
			size := int(int32(binary.BigEndian.Uint32(hdr[:4])))
			if corr := int32(binary.BigEndian.Uint32(hdr[4:])); size != respSize || corr != next {
				return fmt.Errorf("response of %d bytes with correlation id %d, want %d bytes and id %d", size, corr, respSize, next)
			}
			next++
			if _, err := r.Discard(size - 4); err != nil {
				return err
			}
			if n++; !frameBuffered(r) {
				break
			}
		}
		select {
		case credits <- n:
		case <-stop:
			return nil
		}
		if err := send(n); err != nil {
			return err
		}
	}
}

// frameBuffered reports whether r already holds a whole frame.
func frameBuffered(r *bufio.Reader) bool {
	if r.Buffered() < 4 {
		return false
	}
	h, _ := r.Peek(4)
	return 4+int(binary.BigEndian.Uint32(h)) <= r.Buffered()
}
