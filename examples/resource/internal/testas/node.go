package testas

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
	"runtime"
	"sync"
	"testing"
	"time"
)

// The Node.js projects of examples/resource/testdata: each a directory
// with a package.json and a package-lock.json that pins its dependencies.

const (
	npmTimeout = 5 * time.Minute
	staleLock  = 10 * time.Minute
)

// NodeProject returns the directory of the Node.js project
// examples/resource/testdata/<name> and the path of node, after installing
// the project's dependencies with "npm ci" if they are missing or older
// than its package-lock.json (once per test binary and project, under a
// lock shared with other test binaries; npm's own cache is shared by all).
// Without node or npm it skips the test, except under CI=true, where it
// fails.
func NodeProject(tb testing.TB, name string) (dir, node string) {
	tb.Helper()
	p := projectOf(name)
	p.once.Do(func() {
		p.dir, p.node, p.skip, p.err = install(name)
	})
	switch {
	case p.skip != "":
		tb.Skip(p.skip)
	case p.err != nil:
		tb.Fatalf("testas: %v", p.err)
	}
	return p.dir, p.node
}

// nodeProject is the outcome of installing one project.
type nodeProject struct {
	once sync.Once
	dir  string
	node string
	skip string // reason to skip; set when node or npm is missing outside CI
	err  error
}

var projects struct {
	mu     sync.Mutex
	byName map[string]*nodeProject
}

func projectOf(name string) *nodeProject {
	projects.mu.Lock()
	defer projects.mu.Unlock()
	if projects.byName == nil {
		projects.byName = make(map[string]*nodeProject)
	}
	p := projects.byName[name]
	if p == nil {
		p = &nodeProject{}
		projects.byName[name] = p
	}
	return p
}

func install(name string) (dir, node, skip string, err error) {
	ci := os.Getenv("CI") == "true"
	dir, err = projectDir(name)
	if err != nil {
		return "", "", "", err
	}
	node, err = exec.LookPath("node")
	if err != nil {
		if !ci {
			return "", "", "testas: node is not installed; skipping the tests that run " + name, nil
		}
		return "", "", "", fmt.Errorf("node is required under CI=true: %v", err)
	}
	if fresh(dir) {
		return dir, node, "", nil
	}

	unlock, err := lock(dir)
	if err != nil {
		return "", "", "", err
	}
	defer unlock()
	if fresh(dir) { // another test binary installed them meanwhile
		return dir, node, "", nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		if !ci {
			return "", "", "testas: npm is not installed; skipping the tests that run " + name, nil
		}
		return "", "", "", fmt.Errorf("npm is required under CI=true: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", "", fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir, node, "", nil
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
	if err != nil {
		return false
	}
	return !installed.ModTime().Before(lockFile.ModTime())
}

// lock takes an exclusive lock across processes, a directory in os.TempDir
// named after dir, and returns its release. A lock older than staleLock is
// taken to be left by a killed process and broken.
func lock(dir string) (unlock func(), err error) {
	sum := sha256.Sum256([]byte(dir))
	path := filepath.Join(os.TempDir(), "guardian-testas-npm-"+hex.EncodeToString(sum[:6])+".lock")
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

// projectDir finds examples/resource/testdata/<name>: next to this source
// file, or else from the working directory or one of its parents (the
// source path is not a file path under -trimpath).
func projectDir(name string) (string, error) {
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "..", "testdata", name))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			for _, rel := range []string{"testdata", "resource/testdata", "examples/resource/testdata"} {
				candidates = append(candidates, filepath.Join(d, filepath.FromSlash(rel), name))
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "package.json")); err == nil {
			return filepath.Abs(c)
		}
	}
	return "", fmt.Errorf("cannot find examples/resource/testdata/%s/package.json", name)
}
