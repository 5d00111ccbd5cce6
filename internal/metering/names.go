package metering

// ParseScope returns the scope named s ("instance", "consumer", "space", "organization").
func ParseScope(s string) (Scope, bool) {
	for i, n := range scopeNames {
		if n == s {
			return Scope(i), true
		}
	}
	return 0, false
}

// ParseLevel returns the level named s ("second", "minute", "hour", "day", "month").
func ParseLevel(s string) (Level, bool) {
	for i, n := range levelNames {
		if n == s {
			return Level(i), true
		}
	}
	return 0, false
}
