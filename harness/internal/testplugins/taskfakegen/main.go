// Command taskfakegen is the fake memorization task served as a real
// plugin subprocess (install it as memscope-task-fakegen).
package main

import (
	"github.com/memscope/memscope/harness/internal/testplugins/fake"
	"github.com/memscope/memscope/plugins"
)

func main() {
	fake.LogStart("task fakegen")
	plugins.ServeTask(fake.Gen{})
}
