package poller

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// RunRounds calls round every interval (a minute when 0) until ctx ends, starting at once: the
// loops that run beside a poller and write what they read without a document (metadata,
// billed usage). A failed round is logged as a warning with its kind (KindOf) and tried again next round; what a
// round wrote is logged at debug level as n rows.
func RunRounds(ctx context.Context, interval time.Duration, log *zap.Logger, what string, round func(context.Context) (int, error)) error {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if n, err := round(ctx); err != nil && ctx.Err() == nil {
			log.Warn(what+" round failed; trying again next round", zap.Error(err), zap.String("kind", KindOf(err)))
		} else if err == nil {
			log.Debug(what+" stored", zap.Int("rows", n))
		}
		t.Reset(interval)
	}
}
