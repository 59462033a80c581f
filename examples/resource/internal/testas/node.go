package testas

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/guardian-go/guardian/examples/internal/nodetest"
)

// The Node.js projects of examples/resource/testdata: each a directory
// with a package.json and a package-lock.json that pins its dependencies.

// NodeProject returns the directory of the Node.js project
// examples/resource/testdata/<name> and the path of node, after installing
// the project's dependencies (see nodetest.Install). Without node or npm
// it skips the test, except under CI=true, where it fails.
func NodeProject(tb testing.TB, name string) (dir, node string) {
	tb.Helper()
	dir, err := projectDir(name)
	if err != nil {
		tb.Fatalf("testas: %v", err)
	}
	return dir, nodetest.Install(tb, dir)
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
