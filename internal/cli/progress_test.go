package cli

import (
	"bytes"
	"os"
	"testing"
)

func TestProgressPlainLines(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, false, "applying", 3)
	p.Step("created    metering plan a")
	p.Step("")
	p.Step("unchanged  account acme")
	p.Finish()
	if got, want := b.String(), "created    metering plan a\nunchanged  account acme\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestProgressBarOnTerminal(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, true, "applying", 4)
	p.Step("created    a")
	p.Step("failed     b: 409")
	p.Finish()
	p.Step("late") // after Finish: printed, never a bar again
	want := "applying [                              ] 0/4" +
		"\r\033[Kcreated    a\napplying [=======                       ] 1/4" +
		"\r\033[Kfailed     b: 409\napplying [===============               ] 2/4" +
		"\r\033[K" + "late\n"
	if got := b.String(); got != want {
		t.Errorf("output %q,\nwant   %q", got, want)
	}
}

func TestIsTerminal(t *testing.T) {
	env := func(string) string { return "" }
	if IsTerminal(&bytes.Buffer{}, env) {
		t.Error("a buffer is a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(w, env) {
		t.Error("a pipe is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f, env) {
		t.Error("a file is a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !IsTerminal(tty, env) {
			t.Error("/dev/tty is not a terminal")
		}
		if IsTerminal(tty, func(string) string { return "dumb" }) {
			t.Error("TERM=dumb draws a bar")
		}
	}
}
