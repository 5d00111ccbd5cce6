package clock

import (
	"testing"
	"time"
)

func TestManual(t *testing.T) {
	at := time.Date(2025, 12, 31, 23, 59, 59, 500_000_000, time.UTC)
	m := NewManual(at)
	if got := m.Now(); !got.Equal(at) {
		t.Fatalf("Now() = %v, want %v", got, at)
	}
	if got := m.Advance(time.Second); got.Year() != 2026 || got.Month() != time.January || got.Day() != 1 {
		t.Fatalf("a second after the year's last half second is %v, want 2026-01-01", got)
	}
}

func TestStartingAt(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 30, 0, time.UTC)
	c := StartingAt(at)
	got := c.Now()
	if got.Before(at) || got.Sub(at) > time.Minute {
		t.Fatalf("Now() = %v, want just after %v", got, at)
	}
	if Or(nil) != Wall || Or(c) == Wall {
		t.Fatal("Or: nil is the wall clock, a clock is itself")
	}
}
