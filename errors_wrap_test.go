package guardian_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryErrorWrapsASentinel reads the package's source: errors.New
// appears only in the sentinel block of errors.go, and every fmt.Errorf
// wraps something (%w), so that every error the package returns matches a
// sentinel with errors.Is.
func TestEveryErrorWrapsASentinel(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pkg, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch {
			case pkg.Name == "errors" && sel.Sel.Name == "New" && name != "errors.go":
				t.Errorf("%s: errors.New outside errors.go: declare a sentinel there and wrap it", fset.Position(call.Pos()))
			case pkg.Name == "fmt" && sel.Sel.Name == "Errorf" && len(call.Args) > 0:
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok {
					t.Errorf("%s: fmt.Errorf with a format that is not a literal", fset.Position(call.Pos()))
					return true
				}
				format, _ := strconv.Unquote(lit.Value)
				if !strings.Contains(format, "%w") {
					t.Errorf("%s: fmt.Errorf(%q) wraps no error", fset.Position(call.Pos()), format)
				}
			}
			return true
		})
	}
}
