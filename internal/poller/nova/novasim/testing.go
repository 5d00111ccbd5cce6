// Test support: what tests of the simulator's clients read from it. `make lint`'s dead-code
// check passes over this file, since only tests reach it.

package novasim

// Requests is how many usage requests were answered or refused so far.
func (s *Sim) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// IssueToken returns a new valid token (for a client given a static token).
func (s *Sim) IssueToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issue()
}
