package metering

import (
	"encoding/binary"
	"slices"
)

// Cells holds the cells of one partition in memory, and keeps the changes of an open
// transaction apart from the committed values until Commit or Abort.
//
// A cell is found by its group (the scope and ids down to it, the resource and the plan),
// looked up once per document with one string key, then by metric, level and period start
// within the group: the hot path hashes no struct of strings. Cells is not safe for
// concurrent use.
type Cells struct {
	groups map[string]*group
	n      int    // cells with a committed value
	key    []byte // scratch for group keys

	doc      uint64  // generation of the document Process is applying
	docCells []*Cell // cells the document changed, in order of first change
	txn      []*Cell // cells changed in the open transaction, in order of first change
	expiry   Expiry[*Cell]

	// Scratch of Process, reused from document to document.
	measures map[string]any
	metered  []any
	prices   []price
}

type price struct {
	metric string
	value  any
	ok     bool
}

type group struct {
	id    string  // its key in Cells.groups
	key   CellKey // scope, ids and plan; Metric, Level and From unset
	cells map[slot]*Cell
}

type slot struct {
	metric string
	level  Level
	from   int64
}

// Cell is one window cell of a Cells. Its Value and Cost are those of the open transaction.
type Cell struct {
	g         *group
	slot      slot
	to        int64  // end of the period
	str       string // Key().String(), made when first asked
	committed any

	inTxn       bool
	value, cost any // in the open transaction, when inTxn

	docGen            uint64 // Cells.doc when the document in Process changed it
	docValue, docCost any
}

// NewCells returns an empty store.
func NewCells() *Cells {
	return &Cells{groups: map[string]*group{}, measures: map[string]any{}}
}

// Key returns the cell's key.
func (c *Cell) Key() CellKey {
	k := c.g.key
	k.Metric, k.Level, k.From = c.slot.metric, c.slot.level, c.slot.from
	return k
}

// String returns Key().String(), computed once.
func (c *Cell) String() string {
	if c.str == "" {
		c.str = c.Key().String()
	}
	return c.str
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
	g := &group{id: string(s.key), key: *k, cells: map[slot]*Cell{}}
	g.key.Metric, g.key.Level, g.key.From = "", 0, 0
	s.groups[g.id] = g
	return g
}

// cell returns the cell of group g, creating it when missing.
func (s *Cells) cell(g *group, metric string, l Level, from int64) *Cell {
	sl := slot{metric: metric, level: l, from: from}
	if c, ok := g.cells[sl]; ok {
		return c
	}
	_, to := l.Period(from)
	c := &Cell{g: g, slot: sl, to: to}
	g.cells[sl] = c
	s.expiry.Add(to, c)
	return c
}

// lookup returns the cell of k, nil when there is none.
func (s *Cells) lookup(k CellKey) *Cell {
	g := s.group(&k, false)
	if g == nil {
		return nil
	}
	return g.cells[slot{metric: k.Metric, level: k.Level, from: k.From}]
}

// Get returns the value of cell k in the open transaction, nil when it has none.
func (s *Cells) Get(k CellKey) any {
	if c := s.lookup(k); c != nil {
		return c.Value()
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
	c := s.cell(s.group(&k, true), k.Metric, k.Level, k.From)
	if c.committed == nil {
		s.n++
	}
	c.committed = v
}

func (s *Cells) remove(c *Cell) {
	if c.g.cells[c.slot] != c {
		return // removed before
	}
	if c.committed != nil {
		s.n--
	}
	delete(c.g.cells, c.slot)
	if len(c.g.cells) == 0 {
		delete(s.groups, c.g.id)
	}
}

// Len returns the number of cells with a committed value.
func (s *Cells) Len() int { return s.n }

// Each calls fn with every cell's committed value.
func (s *Cells) Each(fn func(k CellKey, v any)) {
	for _, g := range s.groups {
		for _, c := range g.cells {
			if c.committed != nil {
				fn(c.Key(), c.committed)
			}
		}
	}
}

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
}

// Abort drops the open transaction's values.
func (s *Cells) Abort() {
	for _, c := range s.txn {
		c.inTxn, c.value, c.cost, c.docValue, c.docCost = false, nil, nil, nil, nil
	}
	s.txn = s.txn[:0]
}

// Expiring calls fn, in no particular order, for every cell with a value whose period ended
// at or before t: usage that could change it is too late once the processing time is t plus
// the slack. Expire(t) then removes them.
func (s *Cells) Expiring(t int64, fn func(*Cell)) {
	s.expiry.Due(t, func(c *Cell) {
		if c.g.cells[c.slot] == c && c.Value() != nil {
			fn(c)
		}
	})
}

// Expire removes the cells whose period ended at or before t. The open transaction must have
// been committed or aborted.
func (s *Cells) Expire(t int64) {
	s.expiry.Pop(t, s.remove)
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

// Expiry indexes items by the time they expire, in buckets of a minute, so that the expired
// ones are found without looking at the others. The zero value is empty.
type Expiry[T any] struct {
	buckets map[int64][]T
	keys    []int64 // of buckets, ascending
}

const expiryBucket = 60_000

func bucketOf(t int64) int64 {
	return (t - mod(t, expiryBucket)) / expiryBucket
}

// Add indexes v as expiring at t.
func (e *Expiry[T]) Add(t int64, v T) {
	b := bucketOf(t)
	if e.buckets == nil {
		e.buckets = map[int64][]T{}
	}
	list, ok := e.buckets[b]
	if !ok {
		i, _ := slices.BinarySearch(e.keys, b)
		e.keys = slices.Insert(e.keys, i, b)
	}
	e.buckets[b] = append(list, v)
}

// due returns how many buckets (from the first) hold only items expiring at or before t.
func (e *Expiry[T]) due(t int64) int {
	// Bucket b holds times up to (b+1)*expiryBucket-1.
	n, _ := slices.BinarySearch(e.keys, bucketOf(t+1))
	return n
}

// Due calls fn for every item expiring at or before t, oldest bucket first. Items of the
// bucket that holds t itself wait until the bucket is over.
func (e *Expiry[T]) Due(t int64, fn func(T)) {
	for _, b := range e.keys[:e.due(t)] {
		for _, v := range e.buckets[b] {
			fn(v)
		}
	}
}

// Pop is Due that also removes the items.
func (e *Expiry[T]) Pop(t int64, fn func(T)) {
	n := e.due(t)
	for _, b := range e.keys[:n] {
		for _, v := range e.buckets[b] {
			fn(v)
		}
		delete(e.buckets, b)
	}
	e.keys = slices.Delete(e.keys, 0, n)
}

// Len returns the number of items indexed.
func (e *Expiry[T]) Len() int {
	n := 0
	for _, list := range e.buckets {
		n += len(list)
	}
	return n
}
