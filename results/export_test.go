package results

// SetFailAt makes Writer.Close fail at the named step (tests only).
func SetFailAt(f func(step string) error) { failAt = f }
