package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// IsTerminal reports whether w is a terminal (a character device), where a progress bar can
// redraw itself; a pipe, a file or a CI log is not, and gets plain lines. TERM=dumb counts
// as no terminal.
func IsTerminal(w io.Writer, getenv func(string) string) bool {
	f, ok := w.(*os.File)
	if !ok || getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Progress shows how far a job of a known number of steps has gone. Every step's result line
// is printed either way; on a terminal a bar below them, redrawn in place, says how many of
// the steps are done, and is cleared when the job is finished, so that what stays on the
// screen is the same lines a pipe gets.
type Progress struct {
	w      io.Writer
	tty    bool
	label  string
	total  int
	done   int
	drawn  bool
	width  int
	closed bool
}

// NewProgress returns the progress of a job of total steps, named label on its bar, written
// to w; tty says whether to draw the bar (IsTerminal).
func NewProgress(w io.Writer, tty bool, label string, total int) *Progress {
	p := &Progress{w: w, tty: tty, label: label, total: total, width: 30}
	p.draw()
	return p
}

// Step records one more step done, with its result line (none when line is empty).
func (p *Progress) Step(line string) {
	p.clear()
	if line != "" {
		fmt.Fprintln(p.w, line)
	}
	p.done = min(p.done+1, p.total)
	p.draw()
}

// Finish clears the bar: it is called once, when the job has ended, done or not.
func (p *Progress) Finish() {
	p.clear()
	p.closed = true
}

func (p *Progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func (p *Progress) draw() {
	if !p.tty || p.closed || p.total <= 0 {
		return
	}
	filled := p.width * p.done / p.total
	fmt.Fprintf(p.w, "%s [%s%s] %d/%d", p.label, strings.Repeat("=", filled), strings.Repeat(" ", p.width-filled), p.done, p.total)
	p.drawn = true
}
