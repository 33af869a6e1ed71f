// Command backendfake is the fake backend served as a real plugin
// subprocess (install it as memscope-backend-fake); see package fake.
package main

import (
	"github.com/memscope/memscope/harness/internal/testplugins/fake"
	"github.com/memscope/memscope/plugins"
)

func main() {
	fake.LogStart("backend fake")
	fake.AsProcess()
	plugins.ServeBackend(fake.BackendFromEnv())
}
