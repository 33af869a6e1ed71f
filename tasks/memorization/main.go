// Command memscope-task-memorization is memscope's memorization-extraction task plugin.
package main

import "github.com/memscope/memscope/plugins"

func main() {
	plugins.ServeTask(task{})
}
