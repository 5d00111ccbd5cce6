package metering

import (
	"cmp"
	"encoding/binary"
	"slices"
)

// Cells holds the cells of one partition in memory, and keeps the changes of an open
// transaction apart from the committed values until Commit or Abort.
//
// A cell is found by its group (the scope and ids down to it, the resource and the plan),
// looked up once per document with one string key, then by its series within the group (a
// metric at a level: a few, compared by name) and its period start within the series, whose
// cells are in time order (usage mostly arrives in time order: the cell is nearly always the
// last one or after it). The hot path hashes no struct of strings. Cells is not safe for
// concurrent use.
type Cells struct {
	groups map[string]*group
	n      int    // cells with a committed value
	key    []byte // scratch for group keys

	doc      uint64  // generation of the document Process is applying
	docCells []*Cell // cells the document changed, in order of first change
	txn      []*Cell // cells changed in the open transaction, in order of first change
	expiry   Expiry[*Cell]
	// retention tells when a cell expires (Acceptance.Expires; the zero value: at the end of
	// its period), and floor is the latest time Expire was given: a cell whose expiry is at or
	// before it is gone, and is not made again.
	retention Acceptance
	floor     int64
	trimmed   []*series // series with removed cells at their start
	// The carry pass (carry.go): its progress in the open transaction and as committed (an
	// abort goes back to it), the instance groups it visits, and the cells it changed in
	// the open transaction.
	carry, carryCommitted CarryProgress
	pass                  passOrder
	txnCarried            int
}

type group struct {
	id  string  // its key in Cells.groups
	key CellKey // scope, ids and plan; Metric, Level and From unset
	// The rating and pricing plans of key.Plan, set when a document changes the group (a
	// restored group does not know them; its cells are rated once a document changes them).
	rating, pricing string
	series          []*series
	cells           int // in all its series
}

// series is the cells of a group for one metric at one level, by period start.
type series struct {
	g      *group
	metric string
	level  Level
	cells  []*Cell // ascending by from
	trim   int     // removed cells at the start of cells
}

// Cell is one window cell of a Cells. Its Value and Cost are those of the open transaction.
type Cell struct {
	s         *series
	from, to  int64 // the period
	removed   bool
	committed any

	inTxn       bool
	value, cost any // in the open transaction, when inTxn

	docGen            uint64 // Cells.doc when the document in Process changed it
	docValue, docCost any
}

// NewCells returns an empty store.
func NewCells() *Cells {
	return &Cells{groups: map[string]*group{}}
}

// SetRetention makes cells expire as a's retention says (Acceptance.Expires): a level kept
// less than the slack expires that much before the end of its period. Without it every
// level is kept for the slack. It must be called before any cell is added.
func (s *Cells) SetRetention(a Acceptance) {
	if len(s.groups) > 0 {
		panic("metering: SetRetention on cells that hold cells")
	}
	s.retention = a
}

// LoadFloor raises the floor to f, the horizon up to which the cells were expired, as read
// from the changelog.
func (s *Cells) LoadFloor(f int64) { s.floor = max(s.floor, f) }

// expires returns when a cell of level l whose period ends at to expires.
func (s *Cells) expires(l Level, to int64) int64 { return s.retention.Expires(l, to) }

// Key returns the cell's key.
func (c *Cell) Key() CellKey {
	k := c.s.g.key
	k.Metric, k.Level, k.From = c.s.metric, c.s.level, c.from
	return k
}

// Value returns the cell's value in the open transaction (its committed value when the
// transaction did not change it).
func (c *Cell) Value() any {
	if c.inTxn {
		return c.value
	}
	return c.committed
}

// Cost returns the cost of the cell's value in the open transaction, nil when the
// transaction did not rate it.
func (c *Cell) Cost() any { return c.cost }

// read returns the value a document being applied at generation doc sees.
func (c *Cell) read(doc uint64) any {
	if c.docGen == doc {
		return c.docValue
	}
	return c.Value()
}

func appendGroupKey(b []byte, k *CellKey) []byte {
	b = append(b, byte(k.Scope))
	for _, s := range [...]string{k.Org, k.Space, k.Consumer, k.Instance, k.Resource, k.Plan} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// group returns the group of k (its Metric, Level and From ignored); create adds a missing
// one, else nil is returned for it.
func (s *Cells) group(k *CellKey, create bool) *group {
	s.key = appendGroupKey(s.key[:0], k)
	if g, ok := s.groups[string(s.key)]; ok || !create {
		return g
	}
	g := &group{id: string(s.key), key: *k}
	g.key.Metric, g.key.Level, g.key.From = "", 0, 0
	s.groups[g.id] = g
	return g
}

// series returns the series of metric at level l in g; create adds a missing one, else nil
// is returned for it.
func (g *group) seriesOf(metric string, l Level, create bool) *series {
	for _, sr := range g.series {
		if sr.level == l && sr.metric == metric {
			return sr
		}
	}
	if !create {
		return nil
	}
	sr := &series{g: g, metric: metric, level: l}
	g.series = append(g.series, sr)
	return sr
}

// find returns where the cell of period start from is or would be in sr.cells. The newest
// and the oldest cells are tried first: usage that arrives in time order lands in or after
// the newest, usage in reverse order in or before the oldest.
func (sr *series) find(from int64) (int, bool) {
	n := len(sr.cells)
	switch {
	case n == 0 || sr.cells[n-1].from < from:
		return n, false
	case sr.cells[n-1].from == from:
		return n - 1, true
	case sr.cells[0].from > from:
		return 0, false
	case sr.cells[0].from == from:
		return 0, true
	}
	return slices.BinarySearchFunc(sr.cells, from, func(c *Cell, from int64) int { return cmp.Compare(c.from, from) })
}

// cell returns the cell of sr for the level's period starting at from, creating it when
// missing.
func (s *Cells) cell(sr *series, from int64) *Cell {
	i, ok := sr.find(from)
	if ok {
		return sr.cells[i]
	}
	_, to := sr.level.Period(from)
	c := &Cell{s: sr, from: from, to: to}
	sr.cells = slices.Insert(sr.cells, i, c)
	sr.g.cells++
	s.expiry.Add(s.expires(sr.level, to), c)
	return c
}

// lookup returns the cell of k, nil when there is none.
func (s *Cells) lookup(k CellKey) *Cell {
	g := s.group(&k, false)
	if g == nil {
		return nil
	}
	sr := g.seriesOf(k.Metric, k.Level, false)
	if sr == nil {
		return nil
	}
	if i, ok := sr.find(k.From); ok {
		return sr.cells[i]
	}
	return nil
}

// Load sets the committed value of cell k, as read from the changelog; nil removes the cell.
func (s *Cells) Load(k CellKey, v any) {
	if v == nil {
		if c := s.lookup(k); c != nil {
			s.remove(c)
		}
		return
	}
	c := s.cell(s.group(&k, true).seriesOf(k.Metric, k.Level, true), k.From)
	if c.committed == nil {
		s.n++
	}
	c.committed = v
}

// remove removes c from its series.
func (s *Cells) remove(c *Cell) {
	if c.removed {
		return
	}
	c.removed = true
	if c.committed != nil {
		s.n--
	}
	if i, ok := c.s.find(c.from); ok {
		c.s.cells = slices.Delete(c.s.cells, i, i+1)
		s.dropped(c.s, 1)
	}
}

// expire removes c, one of the oldest cells of its series: cells removed in order from the
// start of a series are counted in trim and cut off at once by trimSeries, at no cost per
// cell.
func (s *Cells) expire(c *Cell) {
	sr := c.s
	if c.removed || sr.trim >= len(sr.cells) || sr.cells[sr.trim] != c {
		s.remove(c)
		return
	}
	c.removed = true
	if c.committed != nil {
		s.n--
	}
	if sr.trim++; sr.trim == 1 {
		s.trimmed = append(s.trimmed, sr)
	}
}

// trimSeries cuts the removed cells off the start of their series.
func (s *Cells) trimSeries() {
	for _, sr := range s.trimmed {
		clear(sr.cells[:sr.trim])
		sr.cells = sr.cells[sr.trim:]
		s.dropped(sr, sr.trim)
		sr.trim = 0
	}
	clear(s.trimmed)
	s.trimmed = s.trimmed[:0]
}

// dropped accounts for n cells removed from sr, and drops the series and its group once
// empty.
func (s *Cells) dropped(sr *series, n int) {
	g := sr.g
	g.cells -= n
	if len(sr.cells) == 0 {
		g.series = slices.DeleteFunc(g.series, func(x *series) bool { return x == sr })
	}
	if g.cells == 0 && s.groups[g.id] == g {
		delete(s.groups, g.id)
	}
}

// Len returns the number of cells with a committed value.
func (s *Cells) Len() int { return s.n }

// Changed returns the cells changed in the open transaction, in the order of their first
// change. The slice is valid until Commit or Abort.
func (s *Cells) Changed() []*Cell { return s.txn }

// Commit makes the open transaction's values the committed ones.
func (s *Cells) Commit() {
	for _, c := range s.txn {
		if c.committed == nil && c.value != nil {
			s.n++
		} else if c.committed != nil && c.value == nil {
			s.n--
		}
		c.committed = c.value
		c.inTxn, c.value, c.cost, c.docValue, c.docCost = false, nil, nil, nil, nil
	}
	s.txn = s.txn[:0]
	s.carryCommitted, s.txnCarried = s.carry, 0
}

// Abort drops the open transaction's values.
func (s *Cells) Abort() {
	s.carry, s.txnCarried = s.carryCommitted, 0
	for _, c := range s.txn {
		c.inTxn, c.value, c.cost, c.docValue, c.docCost = false, nil, nil, nil, nil
	}
	s.txn = s.txn[:0]
}

// Expiring calls fn, in no particular order, for every cell with a value that expires at or
// before horizon t: its period ended at or before t, or, for a level kept less than the slack
// (SetRetention), at or before t plus the slack less its retention. Usage that could change
// it is too late once the processing time is t plus the slack, or the level no longer
// retained for it. Expire(t) then removes them.
func (s *Cells) Expiring(t int64, fn func(*Cell)) {
	s.expiry.Due(t, func(c *Cell) {
		if !c.removed && c.Value() != nil {
			fn(c)
		}
	})
}

// Expire removes the cells that expire at or before t, and raises the floor to t. The open
// transaction must have been committed or aborted.
func (s *Cells) Expire(t int64) {
	s.floor = max(s.floor, t)
	s.expiry.Pop(t, s.expire)
	s.trimSeries()
}

// beginDoc starts applying a document.
func (s *Cells) beginDoc() {
	s.doc++
	clear(s.docCells)
	s.docCells = s.docCells[:0]
}

// set gives c value v in the document being applied.
func (s *Cells) set(c *Cell, v any) {
	if c.docGen != s.doc {
		c.docGen, c.docCost = s.doc, nil
		s.docCells = append(s.docCells, c)
	}
	c.docValue = v
}

// applyDoc moves the document's changes into the open transaction.
func (s *Cells) applyDoc() {
	for _, c := range s.docCells {
		if !c.inTxn {
			c.inTxn = true
			s.txn = append(s.txn, c)
		}
		c.value = c.docValue
		if c.docCost != nil {
			c.cost = c.docCost
		}
	}
}
