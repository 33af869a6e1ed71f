// Command memscope-task-arc_easy is memscope's arc_easy task plugin (lm-evaluation-harness v0.4 rules).
package main

import "github.com/memscope/memscope/plugins"

func main() {
	plugins.ServeTask(newTask())
}
