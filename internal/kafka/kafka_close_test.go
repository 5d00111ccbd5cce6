package kafka

import (
	"testing"
	"time"
)

func TestCloseWithin(t *testing.T) {
	if !CloseWithin(func() {}, time.Minute) {
		t.Error("a close that returns at once was reported as not finished")
	}
	release := make(chan struct{})
	defer close(release)
	if CloseWithin(func() { <-release }, time.Millisecond) {
		t.Error("a close that blocks was reported as finished")
	}
}
