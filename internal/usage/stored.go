package usage

import (
	"errors"

	meterlinev1 "github.com/meterline/meterline/proto/meterline/v1"
)

// EventRow is one usage event with where it was read from the collected-usage topic. The raw
// event sink writes it; its position tells a replayed row from a new one.
type EventRow struct {
	Event     *meterlinev1.UsageEvent
	Partition int32
	Offset    int64
}

// EventRef names a stored event: its organization and id.
type EventRef struct {
	Org string
	ID  string
}

// StoredEvent is a usage event read back from the archive of usage events.
type StoredEvent struct {
	ID         string
	Source     string
	AccountID  string
	Document   Document
	ReceivedMs int64
	StoredMs   int64
}

// ErrNoEvent is returned by an archive for an id it does not hold.
var ErrNoEvent = errors.New("no such usage event")

// RejectionRow is a document the metering processor did not count, with where it was read
// from the rejected-usage topic.
type RejectionRow struct {
	Rejection *meterlinev1.RejectedUsage
	Partition int32
	Offset    int64
}

// Rejection says why a document was not counted.
type Rejection struct {
	Code        string `json:"code"`
	Reason      string `json:"reason"`
	ProcessedMs int64  `json:"processed"`
}

// ErrNotRejected is returned by an archive for a document that was not rejected (or not yet).
var ErrNotRejected = errors.New("not rejected")
