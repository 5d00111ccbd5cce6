package metering_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/meterline/meterline/internal/metering"
)

// BenchmarkCarry100k carries 100,000 running linux container instances (100 organizations of
// 1,000 applications, one consumer each) of one partition into a new month, the heaviest
// boundary (a new hour, day and month at once), as the processor does: a pass in transactions
// of at most 10,000 changed cells (the default batch), each rated and committed. One
// iteration is the whole pass; the state before it (the instances started the hour before)
// is built with the timer stopped. cells/op is the cells the pass changed, txns/op its
// transactions.
func BenchmarkCarry100k(b *testing.B) {
	const orgs, apps, batch = 100, 1000, 10000
	start := time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC)
	tick := time.Date(2026, 2, 1, 0, 0, 30, 0, time.UTC).Add(time.Minute).UnixMilli()
	cat := builtinCatalog(b)
	b.ReportAllocs()
	var cells, txns int
	for range b.N {
		b.StopTimer()
		p := &metering.Engine{Plans: cat, Acceptance: metering.DefaultAcceptance, CarryBatch: batch}
		state := metering.NewCells()
		for o := range orgs {
			for a := range apps {
				d := memoryDoc(fmt.Sprintf("org-%d", o), start, 2, 0)
				d.ConsumerID = fmt.Sprintf("app:%d", a)
				d.ResourceInstanceID = fmt.Sprintf("app-%d", a)
				if err := p.Meter(d, start.UnixMilli(), state); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := p.Rate(state); err != nil {
			b.Fatal(err)
		}
		state.Commit()
		b.StartTimer()
		err := p.Carry(state, tick, false)
		for {
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Rate(state); err != nil {
				b.Fatal(err)
			}
			cells += len(state.Changed())
			txns++
			state.Commit()
			if !state.CarryPending() {
				break
			}
			err = p.ContinueCarry(state, false)
		}
	}
	b.ReportMetric(float64(cells)/float64(b.N), "cells/op")
	b.ReportMetric(float64(txns)/float64(b.N), "txns/op")
}
