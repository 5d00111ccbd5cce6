package metering

import "slices"

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
