// Command memscope-task-hellaswag is memscope's hellaswag task plugin (lm-evaluation-harness v0.4 rules).
package main

import "github.com/memscope/memscope/plugins"

func main() {
	plugins.ServeTask(newTask())
}
