// Command memscope-backend-cuda is memscope's NVIDIA GPU backend: a
// go-plugin subprocess that runs GPT-NeoX (Pythia) and GPT-Neo checkpoints
// on one GPU through the CUDA driver API, NVRTC and cuBLAS, loaded at run
// time (pure Go, no cgo: it builds anywhere and runs wherever an NVIDIA
// driver and the CUDA libraries are). The harness starts it; it is not
// meant to be run by hand. Without a usable GPU it still answers
// Capabilities, saying exactly what is missing.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/memscope/memscope/backends/arch"
	"github.com/memscope/memscope/backends/cuda"
	"github.com/memscope/memscope/backends/cuda/driver"
	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/backends/lm"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// EnvDevice selects the GPU (0-based, as CUDA numbers them after
// CUDA_VISIBLE_DEVICES); memscope run --device sets it.
const EnvDevice = "MEMSCOPE_CUDA_DEVICE"

var probe = sync.OnceValue(func() string {
	names, err := driver.Probe()
	if err != nil {
		return err.Error()
	}
	if d := device(); d >= len(names) {
		return fmt.Sprintf("GPU %d was asked for ($%s) but this machine has %d: %s", d, EnvDevice, len(names), strings.Join(names, ", "))
	}
	return ""
})

func device() int {
	n, err := strconv.Atoi(os.Getenv(EnvDevice))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// kernelCache is where compiled kernels are kept: memscope's cache folder.
func kernelCache() string {
	if d := os.Getenv("MEMSCOPE_CACHE_DIR"); d != "" {
		return filepath.Join(d, "cuda-kernels")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "memscope", "cuda-kernels")
	}
	return ""
}

// compute says which GPU computes (plugins.Capabilities.Compute).
func compute() string {
	names, err := driver.Probe()
	if err != nil || device() >= len(names) {
		return ""
	}
	return fmt.Sprintf("GPU %d: %s (cuBLAS, NVRTC-compiled kernels)", device(), names[device()])
}

func main() {
	log := plugins.PluginLogger("cuda")
	var dev *driver.Device
	plugins.ServeBackend(lm.New(lm.Config{
		Name:              "cuda",
		Version:           cuda.Version(),
		Compute:           compute(),
		Architectures:     arch.Architectures(),
		DTypes:            []string{"float16", "bfloat16", "float32"},
		InterventionKinds: intervention.AttentionKinds,
		Unavailable:       probe,
		LoadEngine: func(_ context.Context, req plugins.LoadRequest) (engine.Engine, error) {
			if dev == nil {
				d, err := driver.Open(device(), driver.Options{CacheDir: kernelCache()})
				if err != nil {
					return nil, err
				}
				dev = d
				info := d.Info()
				log.Info("GPU ready", "device", info.Name, "arch", info.Arch, "memory_gib", info.Memory>>30, "libraries", info.Detail)
			}
			m, err := cuda.Load(dev, req.ModelDir, cuda.Options{DType: req.DType, AllowNonFiniteWeights: req.AllowNonFiniteWeights})
			if err := lm.CheckLoad(log, err, m); err != nil {
				return nil, err
			}
			log.Info("model loaded", "dir", req.ModelDir, "dtype", m.DType(), "parameters", m.Parameters())
			return m, nil
		},
		LoadTokenizer: lm.HFTokenizer(log),
		InspectModel:  lm.HFInspect,
	}))
}
