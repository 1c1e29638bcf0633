package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDialectsLineUpByTopic: a method of both stores' DB is declared in the same file name in
// store/sqlite and store/postgres (issue 12.1; the layout is in the package documentation), the
// file named after the package (sqlite.go, postgres.go) counting as one.
func TestDialectsLineUpByTopic(t *testing.T) {
	t.Parallel()
	sqlite, postgres := methodFiles(t, "sqlite"), methodFiles(t, "postgres")
	for _, m := range slices.Sorted(maps.Keys(sqlite)) {
		if fs, fp := sqlite[m], postgres[m]; fp != "" && fp != fs {
			t.Errorf("DB.%s is in sqlite/%s but in postgres/%s", m, fs, fp)
		}
	}
}

// methodFiles maps each exported method of type DB in store/dir to the file that declares it.
func methodFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if name == dir+".go" {
			name = "<package>.go"
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 || !fn.Name.IsExported() {
				continue
			}
			typ := fn.Recv.List[0].Type
			if star, ok := typ.(*ast.StarExpr); ok {
				typ = star.X
			}
			if id, ok := typ.(*ast.Ident); ok && id.Name == "DB" {
				out[fn.Name.Name] = name
			}
		}
	}
	return out
}
