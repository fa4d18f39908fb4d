// Command pulumi-language-nodejs is a small Node.js language host for the Pulumi engine.
//
// Why it exists: the official host (sdk/nodejs/cmd/pulumi-language-nodejs) is a Go module with
// no tags of its own, and the Go module proxy reachable from this project's machines does not
// serve it, while it does serve the engine (pkg/v3, sdk/v3). This host speaks the same
// LanguageRuntime gRPC protocol and starts programs exactly the way the Node SDK expects:
// `node <@pulumi/pulumi/cmd/run> --monitor … --engine … <entry point>`, configuration in
// PULUMI_CONFIG. It deliberately leaves out what this project does not use (synchronous invokes,
// debugger attach, code generation, packing); those calls answer Unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/shlex"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.0.0-dev"

// exitBail is the exit code the Node SDK uses after it has already shown the user an actionable
// message: the engine should stop without adding a second error.
const exitBail = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	tracing       string
}

func main() {
	tracing := flag.String("tracing", "", "Zipkin-compatible tracing endpoint (passed on to the program)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	// The engine's logging flags (--logtostderr, -v) are registered by glog, which the SDK imports.
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}

	h := &host{tracing: *tracing}
	if flag.NArg() > 0 {
		h.engineAddress = flag.Arg(0)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cancel := make(chan bool)
	go func() { <-ctx.Done(); close(cancel) }()

	// Exit on our own if the engine goes away, as every Pulumi plugin does.
	if h.engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, h.engineAddress, 5*time.Minute, stop); err != nil {
			fatal(fmt.Errorf("could not start the engine health check: %w", err))
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fatal(fmt.Errorf("could not start the language host: %w", err))
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "pulumi-language-nodejs:", err)
	os.Exit(1)
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// GetRequiredPlugins is the older form of GetRequiredPackages; both report the same list.
func (h *host) GetRequiredPlugins(_ context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	pkgs, err := resourcePackages(req.GetInfo().GetProgramDirectory())
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: pkgs}, err
}

func (h *host) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	pkgs, err := resourcePackages(req.GetInfo().GetProgramDirectory())
	if err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.PackageDependency, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.PackageDependency{Kind: p.Kind, Name: p.Name, Version: p.Version, Server: p.Server})
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

func (h *host) About(context.Context, *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node is not on $PATH")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("node --version: %w", err)
	}
	return &pulumirpc.AboutResponse{Executable: node, Version: strings.TrimSpace(string(out))}, nil
}

// InstallDependencies runs `npm install` in the program directory, streaming its output.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	stream pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetDirectory()
	}
	cmd := exec.CommandContext(stream.Context(), "npm", "install", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Stdout = streamWriter(func(b []byte) error {
		return stream.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b})
	})
	cmd.Stderr = streamWriter(func(b []byte) error {
		return stream.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b})
	})
	return cmd.Run()
}

type streamWriter func([]byte) error

func (w streamWriter) Write(b []byte) (int, error) {
	// gRPC may hold on to the slice after Send returns; give it its own copy.
	if err := w(append([]byte(nil), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Run starts the program under the Node SDK's runner and waits for it.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	opts, err := parseOptions(info.GetOptions().AsMap())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return &pulumirpc.RunResponse{Error: "could not find node on $PATH: " + err.Error()}, nil
	}
	runner, err := resolveModule(node, info.GetProgramDirectory(), "@pulumi/pulumi/cmd/run")
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	configJSON, err := json.Marshal(legacyConfigKeys(req.GetConfig()))
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}

	args := append(opts.nodeArgs, runnerArgs(req, runner, h.engineAddress, h.tracing)...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = info.GetProgramDirectory()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"PULUMI_CONFIG="+string(configJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON),
		"PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(opts.typescript))
	if opts.tsconfig != "" {
		cmd.Env = append(cmd.Env, "PULUMI_NODEJS_TSCONFIG_PATH="+opts.tsconfig)
	}
	// On cancellation, let the program finish its in-flight registrations before it is killed.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second

	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == exitBail:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exitErr):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: "could not run the Node.js program: " + err.Error()}, nil
	}
}

// runnerArgs builds the command line that @pulumi/pulumi/cmd/run understands.
func runnerArgs(req *pulumirpc.RunRequest, runner, engine, tracing string) []string {
	args := []string{runner}
	add := func(flag, value string) {
		if value != "" {
			args = append(args, "--"+flag, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", engine)
	add("organization", req.GetOrganization())
	add("project", req.GetProject())
	add("root-directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetInfo().GetProgramDirectory())
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", tracing)
	args = append(args, req.GetInfo().GetEntryPoint())
	return append(args, req.GetArgs()...)
}

// legacyConfigKeys rewrites `ns:key` to `ns:config:key`, the form every @pulumi/pulumi version reads.
func legacyConfigKeys(config map[string]string) map[string]string {
	out := make(map[string]string, len(config))
	for k, v := range config {
		if ns, name, ok := strings.Cut(k, ":"); ok && !strings.HasPrefix(name, "config:") {
			k = ns + ":config:" + name
		}
		out[k] = v
	}
	return out
}

type nodeOptions struct {
	typescript bool
	tsconfig   string
	nodeArgs   []string
}

// parseOptions reads the `runtime.options` of Pulumi.yaml that matter for running a program.
func parseOptions(raw map[string]any) (nodeOptions, error) {
	opts := nodeOptions{typescript: true}
	if v, ok := raw["typescript"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return opts, errors.New("runtime option typescript must be a boolean")
		}
		opts.typescript = b
	}
	if v, ok := raw["tsconfig"]; ok {
		s, isString := v.(string)
		if !isString {
			return opts, errors.New("runtime option tsconfig must be a string")
		}
		opts.tsconfig = s
	}
	if v, ok := raw["nodeargs"]; ok {
		s, isString := v.(string)
		if !isString {
			return opts, errors.New("runtime option nodeargs must be a string")
		}
		parts, err := shlex.Split(s)
		if err != nil {
			return opts, fmt.Errorf("runtime option nodeargs: %w", err)
		}
		opts.nodeArgs = parts
	}
	return opts, nil
}

// resolveModule asks Node itself where a module lives, so hoisting and workspaces resolve as they do at run time.
func resolveModule(node, dir, module string) (string, error) {
	cmd := exec.Command(node, "-e", "process.stdout.write(require.resolve(process.argv[1]))", module)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("cannot find %s from %s: run npm install there first", module, dir)
	}
	return string(out), nil
}

// resourcePackages lists the Pulumi resource plugins the program's direct dependencies declare
// (`"pulumi": {"resource": true}` in their package.json), as the official host does.
func resourcePackages(dir string) ([]*pulumirpc.PluginDependency, error) {
	manifest, err := readPackageJSON(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, err
	}
	var plugins []*pulumirpc.PluginDependency
	for name := range manifest.Dependencies {
		dep, err := readPackageJSON(filepath.Join(dir, "node_modules", name, "package.json"))
		if err != nil || !dep.Pulumi.Resource {
			continue // not installed yet, or not a provider SDK
		}
		plugin := &pulumirpc.PluginDependency{
			Kind:    "resource",
			Name:    dep.Pulumi.Name,
			Version: dep.Pulumi.Version,
			Server:  dep.Pulumi.Server,
		}
		if plugin.Name == "" {
			plugin.Name = strings.TrimPrefix(dep.Name, "@pulumi/")
		}
		if plugin.Version == "" {
			plugin.Version = dep.Version
		}
		plugins = append(plugins, plugin)
	}
	return plugins, nil
}

type packageJSON struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Dependencies map[string]string `json:"dependencies"`
	Pulumi       struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
}

func readPackageJSON(path string) (packageJSON, error) {
	var p packageJSON
	data, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(data, &p)
}
