package index

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// growFile extends f to size bytes with fallocate, so the blocks behind the mapping exist: a store into a
// sparse mapping on a full disk raises SIGBUS and kills the broker, while fallocate fails with ENOSPC
// here. Filesystems without fallocate get a sparse ftruncate, as Kafka's RandomAccessFile.setLength.
func growFile(f *os.File, size int) error {
	if size == 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, int64(size))
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return f.Truncate(int64(size))
	}
	return err
}
