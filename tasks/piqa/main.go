// Command memscope-task-piqa is memscope's piqa task plugin (lm-evaluation-harness v0.4 rules).
package main

import "github.com/memscope/memscope/plugins"

func main() {
	plugins.ServeTask(newTask())
}
