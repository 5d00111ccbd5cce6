package cfsim

import "net/http"

// Stats counts what the simulator answered and which faults it played, so that a test can
// tell each fault was met and act right after it (GET /sim/stats).
type Stats struct {
	Tokens       int `json:"tokens"`        // UAA tokens issued
	Requests     int `json:"requests"`      // guarded Cloud Controller and Usage Service requests
	Unauthorized int `json:"unauthorized"`  // 401s: a token expired or unknown
	RateLimited  int `json:"rate_limited"`  // 429s with Retry-After
	ServerErrors int `json:"server_errors"` // 503s
	// UnknownCursor counts the event lists answered 422 (v3) or 400 code 10005 (v2) for an
	// after_guid the stream no longer holds: the poller has met a pruned or purged stream.
	UnknownCursor int `json:"unknown_cursor"`
	// EventReads counts the event lists answered (past the token and the faults of the
	// guard); FaultReads those answered since the last prune or purge was played, which
	// show the changed stream (the read that played it included).
	EventReads int `json:"event_reads"`
	FaultReads int `json:"fault_reads"`
	// Pruned, Purged and Restaged count the script's prune, purge (and reseed) and restage
	// actions played so far.
	Pruned   int `json:"pruned"`
	Purged   int `json:"purged"`
	Restaged int `json:"restaged"`
}

// Stats returns the counts so far (the actions due by the clock are not played by it).
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests, st.Tokens = s.requests, s.tokenSeq
	return st
}

// statsRoute serves GET /sim/stats without a token: the simulator's own route, for tests.
func (s *Sim) statsRoute(mux *http.ServeMux) {
	mux.HandleFunc("GET /sim/stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.clk.Now(), http.StatusOK, s.Stats()) })
}
