package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sumPath are the directories (and everything below them) where quantities, summaries and
// charges are parsed, summed, multiplied, divided, rounded, encoded or decoded: a float there
// would lose digits silently. docs/reports.md, "Exact arithmetic (issue 12 item 5)", lists
// them.
var sumPath = []string{"internal/usage", "internal/plans", "internal/metering", "internal/processor", "internal/sink",
	"internal/clickhouse", "internal/report", "pkg/ratedusage", "schemas/clickhouse"}

// allowedFloats are the functions (file:function, or file for a schema) of the sum path that
// may use a float, each for a reason that keeps every sum exact. A new one is a decision to
// write down here and in docs/reports.md, not to slip in.
var allowedFloats = map[string]string{
	// Prometheus counters take float64: counts of records and bytes, never quantities.
	"internal/processor/session.go:(*Service).processPartition": "metric counters",
	"internal/processor/opmetrics.go:(*Service).producing":      "metric counters",
	"internal/sink/raw.go:(*Raw).write":                         "metric counters",
	"internal/sink/sink.go:newSinkOf":                           "metric counters",
	// A float64 reaching a formula is refused (num) or tells only truthiness (Truthy); the
	// type switch must name it to refuse it.
	"internal/plans/values.go:num":       "refuses a float64",
	"internal/plans/values.go:Truthy":    "truthiness only",
	"internal/plans/values.go:Normalize": "refuses a float64 (through num)",
	// OpenStack Nova's API answers in JSON floats: hours and their products are converted
	// once, from the exact decimal sum, to the nearest float64 (the output format's rounding).
	"internal/report/nova/api.go:ServerUsage": "Nova's float fields",
	"internal/report/nova/api.go:TenantUsage": "Nova's float fields",
	"internal/report/nova/api.go:hours":       "the one conversion of Nova's output",
	// JSON numbers a client sent (a time, a budget's variable) are only checked and written
	// back as text, never summed.
	"internal/report/abacus/graphql.go:(*execution).time": "a client's time, as text",
	"internal/report/abacus/budget.go:intVariables":       "a client's variable, checked",
	// Test latencies of the report benchmarks, not quantities.
	"internal/report/reporttest/latencies.go:Latencies": "benchmark latencies",
	// The sums' Float64 twins, only to see whether ClickHouse's Decimal sum wrapped.
	"internal/clickhouse/decimalsum.go:decimalSum":                      "size of a sum only",
	"internal/clickhouse/vcloudairbilled.go:(*VCloudAirBilled).Metered": "size of a sum only",
	"schemas/clickhouse/0010_nova_server_days.sql":                      "released; its tables are replaced by 0011's, which have no float",
}

// floatUses returns the places of dir's sum-path files that use a float: the float32 and
// float64 types, decimal.NewFromFloat*, InexactFloat64 and Float64 methods, ClickHouse's
// toFloat32/toFloat64/Float32/Float64 in a string (SQL) or a schema.
func floatUses(t *testing.T, root string) map[string][]string {
	t.Helper()
	uses := map[string][]string{}
	add := func(key, what string) { uses[key] = append(uses[key], what) }
	for _, dir := range sumPath {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			name := d.Name()
			if strings.HasSuffix(name, ".sql") {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				if sqlFloat(string(b)) {
					add(rel, "a Float in SQL")
				}
				return nil
			}
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || name == "testing.go" || strings.HasSuffix(name, ".pb.go") {
				return nil
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				key := rel + ":" + declName(decl)
				ast.Inspect(decl, func(n ast.Node) bool {
					switch x := n.(type) {
					case *ast.Ident:
						if x.Name == "float64" || x.Name == "float32" {
							add(key, x.Name+" at "+fset.Position(x.Pos()).String())
						}
					case *ast.SelectorExpr:
						if s := x.Sel.Name; strings.HasPrefix(s, "NewFromFloat") || s == "InexactFloat64" || s == "Float64" || s == "Float32" {
							add(key, s+" at "+fset.Position(x.Pos()).String())
						}
					case *ast.BasicLit:
						if x.Kind == token.STRING && sqlFloat(x.Value) {
							add(key, "a Float in SQL at "+fset.Position(x.Pos()).String())
						}
					}
					return true
				})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return uses
}

// sqlFloat reports whether s, SQL, names a ClickHouse float type or conversion.
func sqlFloat(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "tofloat") || strings.Contains(l, "float32") || strings.Contains(l, "float64")
}

// declName is a declaration's function name ((T).M or (*T).M for a method), or the name of
// the first type, variable or constant it declares.
func declName(d ast.Decl) string {
	switch x := d.(type) {
	case *ast.FuncDecl:
		if x.Recv == nil || len(x.Recv.List) == 0 {
			return x.Name.Name
		}
		return "(" + recvName(x.Recv.List[0].Type) + ")." + x.Name.Name
	case *ast.GenDecl:
		for _, s := range x.Specs {
			switch sp := s.(type) {
			case *ast.TypeSpec:
				return sp.Name.Name
			case *ast.ValueSpec:
				return sp.Names[0].Name
			}
		}
	}
	return "?"
}

func recvName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return "*" + recvName(x.X)
	case *ast.IndexExpr:
		return recvName(x.X)
	case *ast.IndexListExpr:
		return recvName(x.X)
	case *ast.Ident:
		return x.Name
	}
	return "?"
}

// TestNoFloatsInTheSumPath: no float in the sum path of quantities, summaries and charges
// outside allowedFloats, and no stale entry there either.
func TestNoFloatsInTheSumPath(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	uses := floatUses(t, root)
	var keys []string
	for k := range uses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := allowedFloats[k]; !ok {
			t.Errorf("%s uses a float in the sum path: %s (an exact decimal, or a documented entry of allowedFloats)", k, strings.Join(uses[k], "; "))
		}
	}
	for k := range allowedFloats {
		if _, ok := uses[k]; !ok {
			t.Errorf("allowedFloats lists %s, which uses no float: remove it", k)
		}
	}
}

// TestFloatGuardSees: the guard finds each kind of float use it looks for.
func TestFloatGuardSees(t *testing.T) {
	dir := t.TempDir()
	src := `package p

import "github.com/shopspring/decimal"

type T struct{}

func (t *T) A(x float64) decimal.Decimal { return decimal.NewFromFloat(x) }

func B(d decimal.Decimal) any { return d.InexactFloat64() }

const q = "SELECT sum(toFloat64(x))"
`
	if err := os.MkdirAll(filepath.Join(dir, "internal/usage"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "internal/usage/x.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range sumPath {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uses := floatUses(t, dir)
	for _, k := range []string{"internal/usage/x.go:(*T).A", "internal/usage/x.go:B", "internal/usage/x.go:q"} {
		if len(uses[k]) == 0 {
			t.Errorf("the guard did not see the float of %s (saw %v)", k, uses)
		}
	}
	if n := len(uses["internal/usage/x.go:(*T).A"]); n != 2 {
		t.Errorf("(*T).A: %d uses, want 2 (float64, NewFromFloat)", n)
	}
}
