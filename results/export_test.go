package results

// SetFailAt makes Writer.Close fail at the named step (tests only).
func SetFailAt(f func(step string) error) { failAt = f }

// NiceTicks exposes the figures' tick marker (tests only).
var NiceTicks = niceTicks{}.Ticks
