//go:build !linux

package index

import "os"

// growFile extends f to size bytes; without fallocate the file is sparse, as Kafka's
// RandomAccessFile.setLength makes it.
func growFile(f *os.File, size int) error {
	if size == 0 {
		return nil
	}
	return f.Truncate(int64(size))
}
