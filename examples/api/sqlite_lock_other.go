//go:build !linux

package main

// lockSQLite does not lock on this system: the example targets Linux (see
// sqlite_lock_linux.go: a flock(2) on the database file can conflict
// with SQLite's own locks on BSD and macOS). Run one process per SQLite
// file here, or use a PostgreSQL or Redis store to run several.
func lockSQLite(path string) (release func() error, err error) {
	return func() error { return nil }, nil
}
