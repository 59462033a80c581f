package main

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

// Installing the npm packages of a test's Node.js program, as
// examples/resource/internal/testas does for oidc-provider: "npm ci" from
// the committed package-lock.json, into the package's node_modules.

const (
	npmTimeout = 5 * time.Minute
	staleLock  = 10 * time.Minute
)

// The Node client's dependencies, installed once per test binary.
var dpopClient struct {
	once      sync.Once
	dir, node string
	skip      string // why to skip: node or npm missing outside CI
	err       error
}

// installDPoPClient finds node and runs "npm ci" in testdata/dpopclient
// when its node_modules is missing or older than package-lock.json, under
// a lock shared with other test processes. Without node or npm the test
// skips, except under CI=true, where it fails.
func installDPoPClient(t *testing.T) (dir, node string) {
	t.Helper()
	dpopClient.once.Do(func() {
		dpopClient.dir, dpopClient.node, dpopClient.skip, dpopClient.err = installNodeDeps(dpopClientDir)
	})
	switch {
	case dpopClient.skip != "":
		t.Skip(dpopClient.skip)
	case dpopClient.err != nil:
		t.Fatal(dpopClient.err)
	}
	return dpopClient.dir, dpopClient.node
}

// installNodeDeps installs the locked dependencies of the npm package in
// rel; see installDPoPClient.
func installNodeDeps(rel string) (dir, node, skip string, err error) {
	ci := os.Getenv("CI") == "true"
	if dir, err = filepath.Abs(rel); err != nil {
		return "", "", "", err
	}
	missing := func(tool string, err error) (string, string, string, error) {
		if !ci {
			return "", "", tool + " is not installed; skipping the Node.js DPoP client", nil
		}
		return "", "", "", fmt.Errorf("%s is required under CI=true: %v", tool, err)
	}
	if node, err = exec.LookPath("node"); err != nil {
		return missing("node", err)
	}
	if depsFresh(dir) {
		return dir, node, "", nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return "", "", "", err
	}
	defer unlock()
	if depsFresh(dir) { // another test process installed them meanwhile
		return dir, node, "", nil
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
		return "", "", "", fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir, node, "", nil
}

// depsFresh reports whether node_modules was installed after
// package-lock.json last changed: npm writes node_modules/.package-lock.json
// at the end of an install.
func depsFresh(dir string) bool {
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	return err == nil && !installed.ModTime().Before(lock.ModTime())
}

// lockDir takes an exclusive lock across processes for installing into
// dir: a directory in os.TempDir named after dir. A lock older than
// staleLock was left by a killed process and is broken.
func lockDir(dir string) (unlock func(), err error) {
	sum := sha256.Sum256([]byte(dir))
	path := filepath.Join(os.TempDir(), "guardian-npm-"+hex.EncodeToString(sum[:6])+".lock")
	deadline := time.Now().Add(npmTimeout + time.Minute)
	for {
		err := os.Mkdir(path, 0o700)
		if err == nil {
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > staleLock {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("timed out waiting for the lock %s", path)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
