package plans

import "testing"

func TestZZConst(t *testing.T) {
	for _, c := range []struct {
		st  Stage
		src string
	}{{Meter, "(m) => (m.storage || 0) / 1073741824"}, {Meter, "m.heavy || 0"}, {Meter, "m.duration/3600000"}, {Meter, "(storage) => storage.storage"}, {Meter, "m.x"},
		{Aggregate, "(a, prev, curr) => (a || 0) + curr - (prev || 0)"}, {Rate, "(price, qty) => qty * (price || 0)"}} {
		f, err := CompileFormula(c.st, c.src, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%q canon=%q fast=%v consts=%#v", c.src, f.canonical, f.Fast(), f.program.Constants)
		t.Log(f.program.Disassemble())
	}
	f, _ := CompileFormula(Meter, "(storage) => storage.storage", nil)
	v, _ := f.Eval(&Env{M: map[string]any{"storage": d("1"), "m": d("2")}})
	t.Logf("rename bug: got %v want 1", v)
}
