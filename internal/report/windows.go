package report

import (
	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/metering"
)

// NewWindows returns a node's empty windows of slot type W: one array per level, one slot per
// period shown (slots[l] at level l). A nil slot has no usage and reads as null.
func NewWindows[W any](slots metering.Slots) [][]*W {
	w := make([][]*W, metering.Levels)
	for l := range w {
		w[l] = make([]*W, slots[l])
	}
	return w
}

// Charge is a slot of a node's windows that sums the charges below it.
type Charge struct {
	Charge Number `json:"charge"`
}

// Charges are a node's windows of charges: the roll-up of the charges of what is below it
// (plans into a resource, resources into a consumer, and so on up to the organization).
type Charges [][]*Charge

// NewCharges returns empty charge windows.
func NewCharges(slots metering.Slots) Charges { return NewWindows[Charge](slots) }

// Add adds d into slot s of level l, creating the slot (a slot with usage charged 0 shows 0,
// not null).
func (w Charges) Add(l, s int, d decimal.Decimal) {
	if w[l][s] == nil {
		w[l][s] = &Charge{Charge: Number(d)}
		return
	}
	w[l][s].Charge = Number(decimal.Decimal(w[l][s].Charge).Add(d))
}

// SumInto adds every slot of w into into, which has the same slots.
func (w Charges) SumInto(into Charges) {
	for l := range w {
		for s, c := range w[l] {
			if c != nil {
				into.Add(l, s, decimal.Decimal(c.Charge))
			}
		}
	}
}
