// Command taskfakemc is the fake multiple-choice task served as a real
// plugin subprocess (install it as memscope-task-fakemc).
package main

import (
	"github.com/memscope/memscope/harness/internal/testplugins/fake"
	"github.com/memscope/memscope/plugins"
)

func main() {
	fake.LogStart("task fakemc")
	plugins.ServeTask(fake.MC{})
}
