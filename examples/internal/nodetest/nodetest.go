// Package nodetest installs the npm dependencies of the Node.js programs
// the examples' tests run (an OpenID provider, DPoP clients): "npm ci"
// from the committed package-lock.json, once per test binary and
// directory, under a lock shared with other test processes.
package nodetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const (
	npmTimeout = 5 * time.Minute
	staleLock  = 10 * time.Minute
)

// Install returns the path of node after installing the dependencies of
// the Node.js project in dir (an absolute path holding package.json and
// package-lock.json) with "npm ci", if they are missing or older than its
// package-lock.json. Without node or npm it skips the test, except under
// CI=true, where it fails.
func Install(tb testing.TB, dir string) (node string) {
	tb.Helper()
	p := projectOf(dir)
	p.once.Do(func() { p.node, p.skip, p.err = install(dir) })
	switch {
	case p.skip != "":
		tb.Skip(p.skip)
	case p.err != nil:
		tb.Fatalf("nodetest: %v", p.err)
	}
	return p.node
}

// project is the outcome of installing one directory.
type project struct {
	once sync.Once
	node string
	skip string // reason to skip; set when node or npm is missing outside CI
	err  error
}

var projects sync.Map // dir → *project

func projectOf(dir string) *project {
	p, _ := projects.LoadOrStore(dir, &project{})
	return p.(*project)
}

func install(dir string) (node, skip string, err error) {
	ci := os.Getenv("CI") == "true"
	missing := func(tool string, err error) (string, string, error) {
		if !ci {
			return "", tool + " is not installed; skipping the tests that run " + dir, nil
		}
		return "", "", fmt.Errorf("%s is required under CI=true: %v", tool, err)
	}
	if node, err = exec.LookPath("node"); err != nil {
		return missing("node", err)
	}
	if fresh(dir) {
		return node, "", nil
	}
	unlock, err := lock(dir)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if fresh(dir) { // another test binary installed them meanwhile
		return node, "", nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return missing("npm", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return node, "", nil
}

// fresh reports whether node_modules was installed after package-lock.json
// was last changed. npm writes node_modules/.package-lock.json at the end of
// an install.
func fresh(dir string) bool {
	lockFile, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	return err == nil && !installed.ModTime().Before(lockFile.ModTime())
}

// lock takes an exclusive lock across processes, a directory in os.TempDir
// named after dir, and returns its release. A lock older than staleLock is
// taken to be left by a killed process and broken.
func lock(dir string) (unlock func(), err error) {
	sum := sha256.Sum256([]byte(dir))
	path := filepath.Join(os.TempDir(), "guardian-npm-"+hex.EncodeToString(sum[:6])+".lock")
	deadline := time.Now().Add(npmTimeout + time.Minute)
	for {
		err := os.Mkdir(path, 0o700)
		if err == nil {
			return func() { _ = os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > staleLock {
			_ = os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("timed out waiting for the lock %s", path)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
