// Command rawplugin is a task plugin that does the plugin handshake by
// hand, as docs/plugin-protocol.md tells a plugin written in another
// language to, with plain gRPC and no go-plugin: it checks the cookie and
// the offered protocol versions, serves on a Unix socket in
// PLUGIN_UNIX_SOCKET_DIR, prints the handshake line, and serves Identify,
// the health service (unless RAWPLUGIN_HEALTH=0) and GRPCController.Shutdown.
// It serves no Task calls: the tests only start and stop it.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"

	pb "github.com/memscope/memscope/plugins/proto/memscope/plugin/v1"
)

type identity struct{ pb.UnimplementedPluginServer }

func (identity) Identify(context.Context, *pb.Empty) (*pb.Identity, error) {
	return &pb.Identity{Kind: "task", Protocol: 1, Executable: os.Args[0]}, nil
}

// controller is go-plugin's plugin.GRPCController, declared by hand.
func controller(stop chan struct{}) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "plugin.GRPCController",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Shutdown", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(&emptypb.Empty{}); err != nil {
				return nil, err
			}
			close(stop)
			return &emptypb.Empty{}, nil
		}}},
	}
}

func main() {
	if os.Getenv("MEMSCOPE_PLUGIN") != "4f1c9a7e2b6d4e83a05f7d19c2e8b361" {
		fmt.Fprintln(os.Stderr, "rawplugin is started by memscope")
		os.Exit(1)
	}
	if !slices.Contains(strings.Split(os.Getenv("PLUGIN_PROTOCOL_VERSIONS"), ","), "1") {
		fmt.Fprintln(os.Stderr, "rawplugin speaks protocol 1 only")
		os.Exit(1)
	}
	sock := filepath.Join(os.Getenv("PLUGIN_UNIX_SOCKET_DIR"), fmt.Sprintf("raw-%d.sock", os.Getpid()))
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stop := make(chan struct{})
	s := grpc.NewServer()
	pb.RegisterPluginServer(s, identity{})
	if os.Getenv("RAWPLUGIN_HEALTH") != "0" {
		h := health.NewServer()
		h.SetServingStatus("plugin", healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(s, h)
	}
	s.RegisterService(controller(stop), nil)
	go func() { _ = s.Serve(ln) }()
	fmt.Printf("1|1|unix|%s|grpc\n", sock)
	<-stop
	go s.GracefulStop()
	os.Exit(0)
}
