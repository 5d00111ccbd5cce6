package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"
)

// scriptedSim is a provider's sim of a JSON script: the file at path (the setting named
// setting), or demo around the clock's present when path is empty; serve makes the handler
// of the script, as if at base, and a log line's fields.
func scriptedSim[S any](setting string, path func(e *env) string, demo func(now time.Time) S,
	serve func(e *env, sc S, base string) (http.Handler, []zap.Field)) func(e *env, base string) (http.Handler, []zap.Field, error) {
	return func(e *env, base string) (http.Handler, []zap.Field, error) {
		sc, err := simScript(path(e), setting, func() S { return demo(e.clock.Now()) })
		if err != nil {
			return nil, nil, err
		}
		h, fields := serve(e, sc, base)
		return h, fields, nil
	}
}

// simScript returns the script of a simulator: the JSON file at path, named by setting in
// its errors, or demo() when path is empty.
func simScript[S any](path, setting string, demo func() S) (S, error) {
	var sc S
	if path == "" {
		return demo(), nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return sc, fmt.Errorf("%s: %w", setting, err)
	}
	if err := json.Unmarshal(raw, &sc); err != nil {
		var zero S
		return zero, fmt.Errorf("%s %s: %w", setting, path, err)
	}
	return sc, nil
}
