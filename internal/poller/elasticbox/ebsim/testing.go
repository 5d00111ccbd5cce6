// Test support: what tests of the simulator's clients read from it. `make lint`'s dead-code
// check passes over this file, since only tests reach it.

package ebsim

// Requests returns how many answers had status.
func (s *Sim) Requests(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[status]
}
