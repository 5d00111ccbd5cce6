// Package metadata is what a poller learns of a provider's entities beside their usage (an
// ElasticBox instance's size, region and state history; later a Cloud Foundry app's name, a
// vCloud Air group's members): a Record per entity and day, published in the poller's
// transaction to <prefix>.poller.metadata.v1 and written by the metadata sink into the
// ClickHouse table provider_metadata. Usage documents carry measured quantities only; what
// describes an entity travels here.
//
// A record's value is a small versioned JSON object (Encode, Decode); its key
// "<source>/<kind>/<id>/<day>" (Key) makes the compacted topic keep the last record a source
// wrote of an entity and day. The package does no I/O.
package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Version is the version of the value's encoding ("v").
const Version = 1

// Bounds of a record: a record beyond them is refused (Validate), never cut.
const (
	MaxName       = 256      // provider, kind, id, source, an attribute's key
	MaxAttributes = 256      // attributes of a record
	MaxValue      = 16 << 10 // bytes of an attribute's value
	MaxRecord     = 64 << 10 // bytes of an encoded record
)

// DayLayout is the day in a record's key.
const DayLayout = "2006-01-02"

// Record is what a source told of one entity of a provider from ValidFromMs on (a poller's
// day: its UTC midnight).
type Record struct {
	// Source is the poller source that read it ("poller:elasticbox/<host>").
	Source string `json:"source"`
	// Provider is the provider's name ("elasticbox"), Kind the kind of entity
	// ("service_instance"), ID the provider's id of it.
	Provider string `json:"provider"`
	Kind     string `json:"kind"`
	ID       string `json:"id"`
	// ValidFromMs is from when the attributes hold (epoch milliseconds, UTC).
	ValidFromMs int64 `json:"valid_from_ms"`
	// Attributes are the details by name; a detail the provider did not tell is absent.
	Attributes map[string]string `json:"attributes"`
}

// envelope is the encoded value: the record with its version.
type envelope struct {
	V int `json:"v"`
	Record
}

// Key is the record's Kafka key: "<source>/<kind>/<id>/<day of ValidFromMs>".
func (r Record) Key() string {
	return r.Source + "/" + r.Kind + "/" + r.ID + "/" + time.UnixMilli(r.ValidFromMs).UTC().Format(DayLayout)
}

// Validate returns every problem of r, joined: names empty, too long or not UTF-8, too many
// attributes, a value too long.
func (r Record) Validate() error {
	var errs []error
	name := func(field, v string, required bool) {
		switch {
		case v == "" && required:
			errs = append(errs, fmt.Errorf("%s: empty", field))
		case len(v) > MaxName:
			errs = append(errs, fmt.Errorf("%s: %d bytes, at most %d", field, len(v), MaxName))
		case !utf8.ValidString(v):
			errs = append(errs, fmt.Errorf("%s: not UTF-8", field))
		}
	}
	name("source", r.Source, true)
	name("provider", r.Provider, true)
	name("kind", r.Kind, true)
	name("id", r.ID, true)
	if r.ValidFromMs < 0 {
		errs = append(errs, fmt.Errorf("valid_from_ms: %d is before 1970", r.ValidFromMs))
	}
	if len(r.Attributes) > MaxAttributes {
		errs = append(errs, fmt.Errorf("attributes: %d, at most %d", len(r.Attributes), MaxAttributes))
	}
	for k, v := range r.Attributes {
		name("attribute key "+k, k, true)
		if len(v) > MaxValue {
			errs = append(errs, fmt.Errorf("attribute %s: %d bytes, at most %d", k, len(v), MaxValue))
		} else if !utf8.ValidString(v) {
			errs = append(errs, fmt.Errorf("attribute %s: not UTF-8", k))
		}
	}
	return errors.Join(errs...)
}

// Encode returns the record's value, once it is valid.
func Encode(r Record) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("metadata record %s: %w", r.Key(), err)
	}
	b, err := json.Marshal(envelope{V: Version, Record: r})
	if err != nil {
		return nil, fmt.Errorf("metadata record %s: %w", r.Key(), err)
	}
	if len(b) > MaxRecord {
		return nil, fmt.Errorf("metadata record %s: %d bytes encoded, at most %d", r.Key(), len(b), MaxRecord)
	}
	return b, nil
}

// Decode reads a record's value: version 1, valid, within MaxRecord. Unknown fields are
// ignored (fields are only added within a version).
func Decode(b []byte) (Record, error) {
	if len(b) > MaxRecord {
		return Record{}, fmt.Errorf("metadata record: %d bytes, at most %d", len(b), MaxRecord)
	}
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Record{}, fmt.Errorf("metadata record: %w", err)
	}
	if e.V != Version {
		return Record{}, fmt.Errorf("metadata record: version %d, want %d", e.V, Version)
	}
	if err := e.Record.Validate(); err != nil {
		return Record{}, fmt.Errorf("metadata record %s: %w", e.Record.Key(), err)
	}
	return e.Record, nil
}

// Row is a record as the metadata sink writes it: with when it was written (the Kafka
// record's timestamp, the poller's clock) and where it was read.
type Row struct {
	Record
	WrittenMs int64
	Partition int32
	Offset    int64
}
