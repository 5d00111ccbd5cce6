package metering

// Helpers the tests use and the pipeline does not.

// String returns k encoded as AppendTo encodes it.
func (k CellKey) String() string { return string(k.AppendTo(nil)) }

// Get returns the value of cell k in the open transaction, nil when it has none.
func (s *Cells) Get(k CellKey) any {
	if c := s.lookup(k); c != nil {
		return c.Value()
	}
	return nil
}

// Len returns the number of items indexed.
func (e *Expiry[T]) Len() int {
	n := 0
	for _, list := range e.buckets {
		n += len(list)
	}
	return n
}

// Each calls fn with every cell's committed value.
func (s *Cells) Each(fn func(k CellKey, v any)) {
	for _, g := range s.groups {
		for _, sr := range g.series {
			for _, c := range sr.cells {
				if c.committed != nil {
					fn(c.Key(), c.committed)
				}
			}
		}
	}
}
