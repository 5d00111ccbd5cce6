// Test support of the transactional publisher, for the tests of the packages that publish
// with it (the pollers). `make lint`'s dead-code check passes over this file.

package kafka

// CrashAfterEvents makes every later Publish call f after the events are produced and before
// the state record; an error from f stops Publish there, as a crash would (the transaction
// is neither committed nor aborted).
func (p *TxPublisher) CrashAfterEvents(f func() error) { p.afterEvents = f }
