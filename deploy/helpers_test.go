package deploy

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

// repoRoot is the repository root, the parent of this module.
var repoRoot = func() string {
	dir, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return dir
}()

// The manifest sets that skaffold applies; skaffold_test.go checks that
// skaffold's own render produces exactly these.
var (
	defaultGlobs = []string{"k8s/*.yaml", "k8s/client/*.yaml"}
	devGlobs     = []string{"k8s/*.yaml", "k8s/dev/*.yaml"}
	// jobGlobs are applied by hand, next to the default set.
	jobGlobs = []string{"k8s/jobs/*.yaml"}
)

// binDir holds the service binaries that the tests build once.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func loadSet(t testing.TB, globs ...string) Set {
	t.Helper()

	set, err := LoadFiles(repoRoot, globs...)
	if err != nil {
		t.Fatalf("load %v: %v", globs, err)
	}

	return set
}

// deploySets returns the default and dev sets by name.
func deploySets(t testing.TB) map[string]Set {
	t.Helper()

	return map[string]Set{
		"default": loadSet(t, defaultGlobs...),
		"dev":     loadSet(t, devGlobs...),
	}
}

// defaultWithJobs is the default set plus the Jobs run by hand next to it.
func defaultWithJobs(t testing.TB) Set {
	t.Helper()

	return loadSet(t, defaultGlobs...).Merge(loadSet(t, jobGlobs...))
}

// skaffoldConfig holds the parts of skaffold.yaml the tests compare with
// the manifests. skaffold itself validates the whole file.
type skaffoldConfig struct {
	Build struct {
		Artifacts []skaffoldArtifact `json:"artifacts"`
		Local     struct {
			Push *bool `json:"push"`
		} `json:"local"`
	} `json:"build"`
	PortForward []struct {
		ResourceType string `json:"resourceType"`
		ResourceName string `json:"resourceName"`
		Port         int32  `json:"port"`
	} `json:"portForward"`
}

type skaffoldArtifact struct {
	Image   string `json:"image"`
	Context string `json:"context"`
	Docker  struct {
		Dockerfile string `json:"dockerfile"`
		Target     string `json:"target"`
	} `json:"docker"`
	Sync *struct {
		Manual []struct {
			Src  string `json:"src"`
			Dest string `json:"dest"`
		} `json:"manual"`
	} `json:"sync"`
}

func parseSkaffoldConfig(t testing.TB, data []byte) skaffoldConfig {
	t.Helper()

	var cfg skaffoldConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("parse skaffold configuration: %v", err)
	}

	return cfg
}

func readSkaffoldConfig(t testing.TB) skaffoldConfig {
	t.Helper()

	data, err := os.ReadFile(filepath.Join(repoRoot, "skaffold.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	return parseSkaffoldConfig(t, data)
}

// goService is an image whose Dockerfile compiles a Go command.
type goService struct {
	Image      string
	Dockerfile string
	Stages     []Stage
	Build      goBuild
}

// goBuild is the go build command of a Dockerfile.
type goBuild struct {
	Line    int
	Env     map[string]string
	Flags   []string
	Output  string
	Package string
}

// goServices returns the skaffold artifacts built from the repository root
// with their parsed Dockerfile and go build line.
func goServices(t testing.TB) []goService {
	t.Helper()

	var out []goService
	for _, a := range readSkaffoldConfig(t).Build.Artifacts {
		if a.Context != "." {
			continue
		}

		path := filepath.Join(repoRoot, a.Docker.Dockerfile)
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("artifact %s: %v", a.Image, err)
		}
		stages, err := ParseDockerfile(string(src))
		if err != nil {
			t.Fatalf("%s: %v", a.Docker.Dockerfile, err)
		}

		build, err := findGoBuild(stages)
		if err != nil {
			t.Fatalf("%s: %v", a.Docker.Dockerfile, err)
		}
		out = append(out, goService{Image: a.Image,
			Dockerfile: a.Docker.Dockerfile, Stages: stages, Build: build})
	}
	if len(out) == 0 {
		t.Fatal("skaffold.yaml has no artifact built from the repository root")
	}

	return out
}

// findGoBuild returns the only go build command of the Dockerfile's RUN
// instructions.
func findGoBuild(stages []Stage) (goBuild, error) {
	var builds []goBuild
	for _, stage := range stages {
		for _, ins := range stage.Find("RUN") {
			cmds, err := ShellCommands(ins.Args)
			if err != nil {
				return goBuild{}, fmt.Errorf("line %d: %w", ins.Line, err)
			}
			for _, c := range cmds {
				if len(c.Args) < 2 || c.Args[0] != "go" || c.Args[1] != "build" {
					continue
				}
				b, err := parseGoBuild(c)
				if err != nil {
					return goBuild{}, fmt.Errorf("line %d: %w", ins.Line, err)
				}
				b.Line = ins.Line
				builds = append(builds, b)
			}
		}
	}
	if len(builds) != 1 {
		return goBuild{}, fmt.Errorf("%d go build commands, want 1", len(builds))
	}

	return builds[0], nil
}

func parseGoBuild(c Command) (goBuild, error) {
	b := goBuild{Env: c.Env}
	args := c.Args[2:]
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "-o" && i+1 < len(args):
			b.Output = args[i+1]
			i++
		case strings.HasPrefix(arg, "-o="):
			b.Output = strings.TrimPrefix(arg, "-o=")
		case strings.HasPrefix(arg, "-"):
			b.Flags = append(b.Flags, arg)
		default:
			if b.Package != "" {
				return goBuild{}, fmt.Errorf("go build with more than one package")
			}
			b.Package = arg
		}
	}
	if b.Output == "" || b.Package == "" {
		return goBuild{}, fmt.Errorf("go build needs -o and one package: %q",
			strings.Join(c.Args, " "))
	}

	return b, nil
}

var (
	buildOnce   sync.Once
	builtPaths  map[string]string
	buildErrors error
)

// serviceBinaries builds every Go service once with its Dockerfile's go
// build command and flags, run in the repository root, and returns the
// binary path by image name.
func serviceBinaries(t testing.TB) map[string]string {
	t.Helper()

	services := goServices(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deploy-bin-")
		if err != nil {
			buildErrors = err
			return
		}
		binDir = dir
		builtPaths = map[string]string{}

		for _, s := range services {
			out := filepath.Join(dir, s.Image)
			if err := buildInContext(s, out); err != nil {
				buildErrors = fmt.Errorf("%s: %w", s.Dockerfile, err)
				return
			}
			builtPaths[s.Image] = out
		}
	})
	if buildErrors != nil {
		t.Fatal(buildErrors)
	}

	return builtPaths
}

// buildInContext builds s the way its Dockerfile's first stage does: in
// a fresh folder that holds only what the stage copies before its go
// build, after the stage's `go work init`, so a module or file the image
// lacks fails here too. `go mod download` is left out: the local module
// cache serves the build. The binary goes to out.
func buildInContext(s goService, out string) error {
	dir, err := os.MkdirTemp("", "deploy-context-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	for _, ins := range s.Stages[0].Instructions {
		switch {
		case ins.Line >= s.Build.Line:
			return goBuildLike(s.Build, dir, out)
		case ins.Command == "COPY" && ins.Flags["from"] == "":
			srcs, dest := copySources(ins)
			for _, src := range srcs {
				if err := copyInto(filepath.Join(repoRoot, src), filepath.Join(dir, dest)); err != nil {
					return fmt.Errorf("line %d: COPY %s: %w", ins.Line, src, err)
				}
			}
		case ins.Command == "RUN" && strings.HasPrefix(ins.Args, "go work "):
			cmd := exec.Command("go", strings.Fields(ins.Args)[1:]...)
			cmd.Dir = dir
			if output, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("line %d: %s: %w\n%s", ins.Line, ins.Args, err, output)
			}
		}
	}

	return fmt.Errorf("%s: no go build line", s.Dockerfile)
}

// copyInto copies src, a file or a folder, into the folder dest as COPY
// does: a file keeps its name, a folder's contents are merged.
func copyInto(src, dest string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}

	if !info.IsDir() {
		return copyFile(src, filepath.Join(dest, filepath.Base(src)))
	}

	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}

		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dest, rel), 0o755)
		}

		return copyFile(path, filepath.Join(dest, rel))
	})
}

func copyFile(src, dest string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}

	return os.WriteFile(dest, data, 0o644)
}

// goBuildLike runs b in dir with its environment and flags, writing the
// binary to out. GOWORK and GOFLAGS from the caller's environment are
// dropped, so the folder's own go.work decides.
func goBuildLike(b goBuild, dir, out string) error {
	args := slices.Concat([]string{"build"}, b.Flags, []string{"-o", out, b.Package})
	cmd := exec.CommandContext(context.Background(), "go", args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOWORK=") && !strings.HasPrefix(kv, "GOFLAGS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range b.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}

	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, output)
	}

	return nil
}

// ciMode reports whether CI is set, in which case a missing tool fails a
// test instead of skipping it.
func ciMode() bool {
	return os.Getenv("CI") != ""
}

// skipOrFail skips the test with reason, or fails it under CI.
func skipOrFail(t testing.TB, reason string) {
	t.Helper()

	if ciMode() {
		t.Fatal(reason)
	}
	t.Skip(reason)
}
