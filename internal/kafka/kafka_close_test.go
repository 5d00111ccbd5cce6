package kafka

import (
	"testing"
	"time"
)

func TestCloseWithin(t *testing.T) {
	if !closeWithin(func() {}, time.Minute) {
		t.Error("a close that returns at once was reported as not finished")
	}
	release := make(chan struct{})
	defer close(release)
	if closeWithin(func() { <-release }, time.Millisecond) {
		t.Error("a close that blocks was reported as finished")
	}
}
