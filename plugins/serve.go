package plugins

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// pluginStderr is the process's real stderr, kept before go-plugin's Serve
// swaps os.Stderr for a pipe: the host reads log lines from the real one.
var pluginStderr = os.Stderr

// ServeBackend serves impl as a memscope backend plugin. Call it from the
// plugin's main; it never returns. A plugin must not write to stdout (it
// carries the handshake) and logs only through PluginLogger.
func ServeBackend(impl Backend) {
	if impl == nil {
		fail("ServeBackend: nil Backend")
	}
	serve(KindBackend, &grpcPlugin{kind: KindBackend, backend: impl})
}

// ServeTask serves impl as a memscope task plugin; it never returns.
func ServeTask(impl Task) {
	if impl == nil {
		fail("ServeTask: nil Task")
	}
	serve(KindTask, &grpcPlugin{kind: KindTask, task: impl})
}

// PluginLogger returns the logger a plugin must log through: JSON lines on
// the process's stderr, which the host parses and shows through its own
// logger (StartOptions.Logger) under the plugin's binary name, e.g.
// "host.memscope-backend-cpu". name, if not empty, is added to each line as
// component=name. The level follows the host logger's.
func PluginLogger(name string) hclog.Logger {
	level := hclog.LevelFromString(os.Getenv(envLogLevel))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	// No hclog Name: it would travel as "@module" and replace the host's
	// module (the binary name) when the host re-logs the line.
	l := hclog.New(&hclog.LoggerOptions{
		Level:      level,
		Output:     pluginStderr,
		JSONFormat: true,
	})
	if name != "" {
		l = l.With("component", name)
	}
	return l
}

func serve(kind string, p *grpcPlugin) {
	exe := filepath.Base(os.Args[0])
	// go-plugin's own message for a missing cookie ("This binary is a
	// plugin...") cannot be changed, so check first and say more.
	switch v, ok := os.LookupEnv(cookieKey); {
	case !ok:
		fmt.Fprintf(pluginStderr, "%s is a memscope %s plugin: it is not meant to be run by hand.\n"+
			"memscope starts it itself when it needs it: run memscope instead (e.g. `memscope run`, see `memscope --help`).\n", exe, kind)
		os.Exit(1)
	case v != cookieValue:
		fmt.Fprintf(pluginStderr, "%s is a memscope %s plugin, but the program that started it sent another handshake cookie "+
			"(%s): it was built from another memscope version, or started by another program. Rebuild memscope and its plugins "+
			"from the same source (`go tool task build`).\n", exe, kind, cookieKey)
		os.Exit(1)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  handshakeConfig(),
		VersionedPlugins: map[int]plugin.PluginSet{servedProtocol(): {kind: p}},
		GRPCServer:       newGRPCServer,
		Logger:           PluginLogger("go-plugin"),
	})
	// Serve returns when the host closes the connection (Kill).
	os.Exit(0)
}

// newGRPCServer is go-plugin's DefaultGRPCServer with message limits: the
// default 4 MB receive limit breaks on real requests.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes))
	return grpc.NewServer(opts...)
}

func fail(msg string) {
	fmt.Fprintln(pluginStderr, msg)
	os.Exit(1)
}
