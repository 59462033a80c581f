package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockSQLite takes an exclusive lock on the SQLite file at path, creating
// the file when it is missing, and returns what releases it; the lock also
// dies with the process, however it ends. It fails at once when another
// process holds the file.
//
// The lock is a flock(2) on a descriptor of its own, held until release.
// On Linux it does not interact with the fcntl(2) byte-range locks SQLite
// takes on the same file (on BSD and macOS the two kinds can conflict,
// hence the file's build constraint), and it is not lost when SQLite
// closes one of its own descriptors, as fcntl locks are.
func lockSQLite(path string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open SQLite store %s: %w", path, err)
	}
	conn, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock SQLite store %s: %w", path, err)
	}
	var lockErr error
	err = conn.Control(func(fd uintptr) {
		for {
			lockErr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if lockErr != syscall.EINTR {
				return
			}
		}
	})
	if err == nil {
		err = lockErr
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another process holds the SQLite store %s; stop it first, or use a PostgreSQL or Redis store to run several instances", path)
		}
		return nil, fmt.Errorf("lock SQLite store %s: %w", path, err)
	}
	return f.Close, nil
}
