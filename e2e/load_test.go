package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sendPatience is how long a client keeps trying one document (503s and failed connections)
// before it gives up: longer than any outage the tests cause, with the restart after it.
const sendPatience = 3 * time.Minute

// poster posts documents with concurrent clients, as real clients do: a 503 is tried again
// after its Retry-After, and so is a request whose connection failed (the collector is down or
// restarting, or it died during the request), so a document may reach Kafka more than once
// under one id, and still counts once. Errors are reported with t.Errorf.
type poster struct {
	t      *testing.T
	colls  []string // the collectors' addresses: documents go to the first, duplicates also to the second
	docs   []crashDoc
	client *http.Client
	// pause is how long a client waits between two documents (none: it posts as fast as it
	// is answered).
	pause time.Duration
	// collectorRestarts says a collector may restart between a document and its duplicate:
	// the new process remembers no document, so it answers the duplicate 201 (with the same
	// id) until the sink has stored the original.
	collectorRestarts     bool
	next, posted          atomic.Int64
	conflicts, reaccepted atomic.Int64
	seen                  tally // the collectors' answers
	halted                atomic.Bool
	wg                    sync.WaitGroup
}

func newPoster(t *testing.T, colls []*proc, docs []crashDoc) *poster {
	p := &poster{t: t, docs: docs, seen: tally{ok: http.StatusCreated},
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * crashPosters}}}
	for _, c := range colls {
		p.colls = append(p.colls, c.addr)
	}
	return p
}

// run starts workers clients, which post the documents not posted yet until they run out or
// halt is called.
func (p *poster) run(workers int) {
	p.halted.Store(false)
	p.wg.Add(workers)
	for range workers {
		go func() {
			defer p.wg.Done()
			for !p.halted.Load() && !p.t.Failed() {
				i := p.next.Add(1) - 1
				if i >= int64(len(p.docs)) {
					return
				}
				if err := p.post(&p.docs[i]); err != nil {
					p.t.Errorf("document %d: %v", i, err)
					return
				}
				p.posted.Add(1)
				time.Sleep(p.pause)
			}
		}()
	}
}

// wait waits until the clients have ended.
func (p *poster) wait() { p.wg.Wait() }

// halt stops the clients once they have their documents answered, and returns the documents
// posted so far: every one of them answered 201 or 409.
func (p *poster) halt() []crashDoc {
	p.halted.Store(true)
	p.wg.Wait()
	return p.docs[:min(p.next.Load(), int64(len(p.docs)))]
}

func (p *poster) post(d *crashDoc) error {
	status, id, err := p.send(p.colls[0], d.body)
	if err != nil {
		return err
	}
	if status != http.StatusCreated && status != http.StatusConflict { // 409: an earlier try that answered 503 got through
		return fmt.Errorf("POST answered %d, want 201", status)
	}
	d.id = id
	if d.dupSame {
		status, id, err := p.send(p.colls[0], d.body)
		if err != nil {
			return fmt.Errorf("duplicate: %w", err)
		}
		switch {
		case id != d.id:
			return fmt.Errorf("the same document again answered %d for %s, want %s", status, id, d.id)
		case status == http.StatusConflict:
			p.conflicts.Add(1)
		case status == http.StatusCreated && p.collectorRestarts:
			p.reaccepted.Add(1)
		default:
			return fmt.Errorf("the same document again answered %d, want 409", status)
		}
	}
	if d.dupOther {
		status, id, err := p.send(p.colls[1], d.body)
		if err != nil {
			return fmt.Errorf("duplicate on the other collector: %w", err)
		}
		if (status != http.StatusConflict && status != http.StatusCreated) || id != d.id {
			return fmt.Errorf("the same document on the other collector answered %d for %s, want 201 or 409 for %s", status, id, d.id)
		}
		if status == http.StatusCreated {
			p.reaccepted.Add(1)
		} else {
			p.conflicts.Add(1)
		}
	}
	return nil
}

// send posts body to the collector at addr, trying again on 503 (after its Retry-After) and
// on a failed connection for up to sendPatience, and returns the status and the document id
// of the Location header.
func (p *poster) send(addr string, body []byte) (int, string, error) {
	began := time.Now()
	for {
		status, header, b, err := p.try(addr, body)
		again := time.Now().Before(began.Add(sendPatience))
		if err != nil {
			p.seen.add(0)
			if again {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			return 0, "", err
		}
		p.seen.add(status)
		if status == http.StatusServiceUnavailable && again {
			time.Sleep(retryAfter(header))
			continue
		}
		p.seen.waited(time.Since(began))
		loc := header.Get("Location")
		if loc == "" {
			return status, "", fmt.Errorf("POST answered %d without a Location: %s", status, b)
		}
		return status, loc[strings.LastIndex(loc, "/")+1:], nil
	}
}

// try posts body once; an error is a connection that failed before the whole answer came.
func (p *poster) try(addr string, body []byte) (int, http.Header, []byte, error) {
	resp, err := p.client.Post("http://"+addr+"/v1/metering/collected/usage", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, b, nil
}

// retryAfter is the wait a 503's Retry-After asks for (in seconds; 1s when it names none),
// at most 10s.
func retryAfter(h http.Header) time.Duration {
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n < 1 {
		n = 1
	}
	return min(time.Duration(n)*time.Second, 10*time.Second)
}

// tally counts the answers clients got, by status (0 for a connection that failed), the
// longest a client waited for a final answer, and when the first answer with status ok came
// after a mark.
type tally struct {
	ok        int
	mu        sync.Mutex
	by        map[int]int
	longest   time.Duration
	mark      time.Time
	firstOK   time.Time
	markedYet bool
}

func (t *tally) add(status int) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.by == nil {
		t.by = map[int]int{}
	}
	t.by[status]++
	if status == t.ok && t.markedYet && t.firstOK.IsZero() && !now.Before(t.mark) {
		t.firstOK = now
	}
}

func (t *tally) waited(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.longest = max(t.longest, d)
}

// markAt starts looking for the first ok answer at or after at.
func (t *tally) markAt(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mark, t.firstOK, t.markedYet = at, time.Time{}, true
}

// firstOKAfterMark waits up to limit for an ok answer at or after the mark and returns when it
// came (zero if none came).
func (t *tally) firstOKAfterMark(limit time.Duration) time.Time {
	deadline := time.Now().Add(limit)
	for {
		t.mu.Lock()
		at := t.firstOK
		t.mu.Unlock()
		if !at.IsZero() || time.Now().After(deadline) {
			return at
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seen is a tally's counts at one moment.
type seen struct {
	by      map[int]int
	longest time.Duration
}

// take returns the counts and the longest wait since the last take, and starts counting anew.
func (t *tally) take() seen {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := seen{by: t.by, longest: t.longest}
	t.by, t.longest = map[int]int{}, 0
	return s
}
