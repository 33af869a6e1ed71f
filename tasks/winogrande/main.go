// Command memscope-task-winogrande is memscope's winogrande task plugin (lm-evaluation-harness v0.4 rules).
package main

import "github.com/memscope/memscope/plugins"

func main() {
	plugins.ServeTask(newTask())
}
