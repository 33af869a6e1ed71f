// Command memscope-task-heldout_perplexity is memscope's held-out perplexity task plugin.
package main

import "github.com/memscope/memscope/plugins"

func main() {
	plugins.ServeTask(task{})
}
