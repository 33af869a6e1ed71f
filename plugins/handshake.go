package plugins

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/memscope/memscope/plugins/proto/memscope/plugin/v1"
)

// ProtocolVersion is the plugin protocol this build speaks (go-plugin's
// VersionedPlugins key). Bump it, keeping the old version served where
// possible, whenever plugin.proto changes in a way an older peer would
// misread.
const ProtocolVersion = 1

// Plugin kinds, also the middle word of plugin binary names.
const (
	KindBackend = "backend"
	KindTask    = "task"
)

// The magic cookie tells a plugin it was started by memscope. It is a UX
// guard against running a plugin by hand, not a security measure.
const cookieKey = "MEMSCOPE_PLUGIN"

// cookieValue is a var only so tests can build a plugin with a wrong cookie
// (-ldflags -X); never set it otherwise.
var cookieValue = "4f1c9a7e2b6d4e83a05f7d19c2e8b361"

// protocolOverride, when set with -ldflags -X by tests, makes a plugin
// serve another protocol version; never set it otherwise.
var protocolOverride string

// envLogLevel carries the host logger's level to the plugin's
// PluginLogger, so plugins do not format lines the host would drop.
const envLogLevel = "MEMSCOPE_PLUGIN_LOG_LEVEL"

// Message size limits on both sides. gRPC's default receive limit is 4 MB,
// far too small for one rolling request over a long text; go-plugin sets no
// server limit. 256 MiB as in terraform: a clear size error beats an OOM
// kill, and long lists are streamed in chunks anyway.
const maxMessageBytes = 256 << 20

// chunkBytes is the target encoded size of one streamed chunk.
const chunkBytes = 1 << 20

// identifyTimeout bounds the Identify call made right after the handshake.
const identifyTimeout = 20 * time.Second

func handshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{MagicCookieKey: cookieKey, MagicCookieValue: cookieValue}
}

func servedProtocol() int {
	if protocolOverride != "" {
		if v, err := strconv.Atoi(protocolOverride); err == nil {
			return v
		}
	}
	return ProtocolVersion
}

// grpcPlugin is the go-plugin glue for both kinds and both sides: on the
// plugin side it registers the services for impl; on the host side it
// checks the plugin's identity and returns a client for the Go interface.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	kind    string
	backend Backend  // plugin side, KindBackend
	task    Task     // plugin side, KindTask
	proc    *Process // host side
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)

func (g *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	exe, _ := os.Executable()
	pb.RegisterPluginServer(s, &identityServer{id: &pb.Identity{Kind: g.kind, Protocol: int64(servedProtocol()), Executable: exe}})
	switch g.kind {
	case KindBackend:
		pb.RegisterBackendServer(s, &backendServer{impl: g.backend})
	case KindTask:
		pb.RegisterTaskServer(s, &taskServer{impl: g.task})
	default:
		return fmt.Errorf("unknown plugin kind %q", g.kind)
	}
	return nil
}

// GRPCClient is called by Dispense with the context that ends when the
// plugin process exits.
func (g *grpcPlugin) GRPCClient(doneCtx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	ctx, cancel := context.WithTimeout(doneCtx, identifyTimeout)
	defer cancel()
	id, err := pb.NewPluginClient(conn).Identify(ctx, &pb.Empty{})
	if err != nil {
		return nil, fmt.Errorf("it answered the handshake but not memscope's Identify call (%v): it is not a memscope plugin of this version", err)
	}
	if id.GetKind() != g.kind {
		return nil, fmt.Errorf("it is a %s plugin, not a %s plugin (plugin binaries are named %s and %s)",
			id.GetKind(), g.kind, BackendBinary("NAME"), TaskBinary("NAME"))
	}
	g.proc.doneCtx = doneCtx
	switch g.kind {
	case KindBackend:
		return &backendClient{proc: g.proc, rpc: pb.NewBackendClient(conn)}, nil
	case KindTask:
		return &taskClient{proc: g.proc, rpc: pb.NewTaskClient(conn)}, nil
	}
	return nil, fmt.Errorf("unknown plugin kind %q", g.kind)
}

type identityServer struct {
	pb.UnimplementedPluginServer
	id *pb.Identity
}

func (s *identityServer) Identify(context.Context, *pb.Empty) (*pb.Identity, error) { return s.id, nil }
