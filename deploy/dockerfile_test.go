package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// distrolessNonroot is the final image of every Go service: no shell, no
// package manager, running as uid 65532.
const distrolessNonroot = "gcr.io/distroless/static-debian12:nonroot"

// workspaceModules returns the folders that go.work uses, such as "shared".
func workspaceModules(t testing.TB) []string {
	t.Helper()

	cmd := exec.Command("go", "work", "edit", "-json")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go work edit -json: %v", err)
	}

	var work struct {
		Use []struct{ DiskPath string }
	}
	if err := json.Unmarshal(out, &work); err != nil {
		t.Fatal(err)
	}

	var dirs []string
	for _, u := range work.Use {
		dirs = append(dirs, path.Clean(u.DiskPath))
	}

	return dirs
}

// importedModules returns the folders of the project modules whose
// packages the command pkg compiles, pkg's own module included.
func importedModules(t testing.TB, pkg string) []string {
	t.Helper()

	cmd := exec.Command("go", "list", "-deps", "-f",
		"{{if .Module}}{{.Module.Path}}{{end}}", pkg)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}

	var dirs []string
	for _, mod := range strings.Fields(string(out)) {
		if dir, ok := strings.CutPrefix(mod, ModulePrefix); ok &&
			!slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	slices.Sort(dirs)

	return dirs
}

// copySources returns the source paths of a COPY instruction without
// --from, cleaned, and its destination.
func copySources(ins Instruction) ([]string, string) {
	fields := strings.Fields(ins.Args)
	if len(fields) < 2 {
		return nil, ""
	}

	var srcs []string
	for _, f := range fields[:len(fields)-1] {
		srcs = append(srcs, path.Clean(f))
	}

	return srcs, fields[len(fields)-1]
}

// indexOf returns the position of the first instruction of stage for which
// match is true, or -1.
func indexOf(stage Stage, match func(Instruction) bool) int {
	return slices.IndexFunc(stage.Instructions, match)
}

func copies(src string) func(Instruction) bool {
	return func(ins Instruction) bool {
		if ins.Command != "COPY" || ins.Flags["from"] != "" {
			return false
		}
		srcs, _ := copySources(ins)
		return slices.Contains(srcs, src)
	}
}

func runs(words string) func(Instruction) bool {
	return func(ins Instruction) bool {
		return ins.Command == "RUN" && strings.Contains(ins.Args, words)
	}
}

func TestGoDockerfiles_buildStage(t *testing.T) {
	t.Parallel()

	for _, s := range goServices(t) {
		t.Run(s.Image, func(t *testing.T) {
			dir := path.Dir(s.Dockerfile)
			build := s.Stages[0]
			if !strings.HasPrefix(build.Base, "golang:") {
				t.Errorf("first stage FROM %s, want a golang image", build.Base)
			}

			download := indexOf(build, runs("go mod download"))
			if download < 0 {
				t.Fatal("no RUN go mod download")
			}

			// The image builds in a workspace of exactly the modules the
			// service compiles, so the others' dependencies stay out.
			modules := importedModules(t, "./"+dir)
			if i := indexOf(build, copies("go.work")); i >= 0 {
				t.Errorf("go.work is copied at instruction %d; the image "+
					"makes its own workspace of %v", i, modules)
			}
			initAt := indexOf(build, runs("go work init"))
			if initAt < 0 || initAt > download {
				t.Fatalf("no RUN go work init before go mod download")
			}
			var used []string
			for _, f := range strings.Fields(build.Instructions[initAt].Args)[3:] {
				used = append(used, path.Clean(f))
			}
			slices.Sort(used)
			if !slices.Equal(used, modules) {
				t.Errorf("go work init uses %v, want the modules %s compiles: %v",
					used, dir, modules)
			}

			// Module files come first, so their layer survives source edits.
			for _, m := range modules {
				files := []string{m + "/go.mod"}
				if _, err := os.Stat(filepath.Join(repoRoot, m, "go.sum")); err == nil {
					files = append(files, m+"/go.sum")
				}
				for _, f := range files {
					i := indexOf(build, copies(f))
					if i < 0 {
						t.Errorf("%s is not copied, but the workspace needs it", f)
						continue
					}
					if i > initAt {
						t.Errorf("%s is copied after go work init", f)
					}
				}
			}

			compile := indexOf(build, runs("go build"))
			for _, m := range importedModules(t, "./"+dir) {
				i := indexOf(build, copies(m))
				if i < 0 {
					t.Errorf("source folder %s/ is not copied, but %s "+
						"compiles packages of it", m, dir)
					continue
				}
				if i < download || i > compile {
					t.Errorf("%s/ is copied at instruction %d, want between "+
						"go mod download (%d) and go build (%d)",
						m, i, download, compile)
				}
			}
		})
	}
}

func TestGoDockerfiles_goBuildLine(t *testing.T) {
	t.Parallel()

	for _, s := range goServices(t) {
		t.Run(s.Image, func(t *testing.T) {
			b := s.Build
			if b.Env["CGO_ENABLED"] != "0" {
				t.Errorf("line %d: CGO_ENABLED=%q, want 0 for a static binary",
					b.Line, b.Env["CGO_ENABLED"])
			}
			if !slices.Contains(b.Flags, "-trimpath") {
				t.Errorf("line %d: flags %v lack -trimpath", b.Line, b.Flags)
			}
			if !slices.Contains(b.Flags, "-ldflags=-s -w") {
				t.Errorf(`line %d: flags %v lack -ldflags="-s -w"`, b.Line, b.Flags)
			}
			if want := "./" + path.Dir(s.Dockerfile); b.Package != want {
				t.Errorf("line %d: builds %s, want the Dockerfile's own "+
					"module %s", b.Line, b.Package, want)
			}
		})
	}
}

func TestGoDockerfiles_finalStage(t *testing.T) {
	t.Parallel()

	set := loadSet(t, defaultGlobs...)
	for _, s := range goServices(t) {
		t.Run(s.Image, func(t *testing.T) {
			final := s.Stages[len(s.Stages)-1]
			if final.Base != distrolessNonroot {
				t.Errorf("final stage FROM %s, want %s", final.Base,
					distrolessNonroot)
			}

			binary := ""
			for _, ins := range final.Find("COPY") {
				srcs, dest := copySources(ins)
				if ins.Flags["from"] == s.Stages[0].Name &&
					slices.Equal(srcs, []string{s.Build.Output}) {
					binary = dest
				}
			}
			if binary == "" {
				t.Fatalf("final stage does not copy %s from stage %s",
					s.Build.Output, s.Stages[0].Name)
			}

			entry := final.Find("ENTRYPOINT")
			if len(entry) != 1 {
				t.Fatalf("final stage has %d ENTRYPOINT, want 1", len(entry))
			}
			args, err := entry[0].ExecForm()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(args, []string{binary}) {
				t.Errorf("ENTRYPOINT %q, want [%q]", args, binary)
			}

			users := final.Find("USER")
			if len(users) == 0 || !strings.HasPrefix(users[len(users)-1].Args, "nonroot") {
				t.Errorf("final stage USER %v, want nonroot", users)
			}

			checkExposedPort(t, set, s.Image, final)
		})
	}
}

// checkExposedPort compares the stage's EXPOSE with the port of the
// container that runs image in set.
func checkExposedPort(t *testing.T, set Set, image string, stage Stage) {
	t.Helper()

	var exposed []string
	for _, ins := range stage.Find("EXPOSE") {
		exposed = append(exposed, strings.Fields(ins.Args)...)
	}

	found := false
	for _, w := range set.Workloads() {
		for _, c := range w.Template.Spec.Containers {
			if ImageName(c.Image) != image {
				continue
			}
			found = true
			for _, p := range c.Ports {
				if !slices.Contains(exposed, strconv.Itoa(int(p.ContainerPort))) {
					t.Errorf("%s container %s listens on %d, but the image "+
						"exposes %v", w.Name, c.Name, p.ContainerPort, exposed)
				}
			}
		}
	}
	if !found {
		t.Errorf("no container in the manifests runs image %s", image)
	}
}

func TestGoDockerfiles_buildStaticBinary(t *testing.T) {
	t.Parallel()

	binaries := serviceBinaries(t)
	for _, s := range goServices(t) {
		t.Run(s.Image, func(t *testing.T) {
			t.Parallel()

			checkStaticBinary(t, binaries[s.Image])
		})
	}
}

// checkStaticBinary checks what CGO_ENABLED=0, -ldflags="-s -w" and
// -trimpath produce: no dynamic loader and no shared libraries (distroless
// static has no libc), no symbol table, and no path of the build machine.
func checkStaticBinary(t *testing.T, file string) {
	t.Helper()

	f, err := elf.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		t.Errorf("binary needs shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("binary has a symbol table: built without -s")
	}

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(repoRoot+"/")) {
		t.Errorf("binary contains the path %s: built without -trimpath", repoRoot)
	}
}

func TestDockerignore_keepsWhatDockerfilesCopy(t *testing.T) {
	t.Parallel()

	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ignore, err := parseDockerignore(string(data))
	if err != nil {
		t.Fatal(err)
	}

	for _, s := range goServices(t) {
		for _, stage := range s.Stages {
			for _, ins := range stage.Find("COPY") {
				if ins.Flags["from"] != "" {
					continue
				}
				srcs, _ := copySources(ins)
				for _, src := range srcs {
					if ignore(src) {
						t.Errorf("%s line %d copies %s, which .dockerignore "+
							"leaves out of the build context", s.Dockerfile,
							ins.Line, src)
					}
				}
			}
		}
	}

	for _, ignored := range []string{".git", "client/node_modules", ".testenv"} {
		if !ignore(ignored) {
			t.Errorf(".dockerignore lets %s into the build context", ignored)
		}
	}
}

// parseDockerignore returns a matcher for .dockerignore patterns: * and ?
// within one path element, ** across elements, ! to re-include, the last
// matching pattern deciding, and a pattern that matches a folder covering
// everything under it.
func parseDockerignore(src string) (func(string) bool, error) {
	type rule struct {
		re      *regexp.Regexp
		include bool
	}

	var rules []rule
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}

		include := strings.HasPrefix(line, "!")
		pattern := path.Clean(strings.TrimPrefix(strings.TrimPrefix(line, "!"), "/"))
		var b strings.Builder
		b.WriteString("^")
		for i := 0; i < len(pattern); i++ {
			switch {
			case strings.HasPrefix(pattern[i:], "**/"):
				b.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(pattern[i:], "**"):
				b.WriteString(".*")
				i++
			case pattern[i] == '*':
				b.WriteString("[^/]*")
			case pattern[i] == '?':
				b.WriteString("[^/]")
			default:
				b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
			}
		}
		b.WriteString("(/.*)?$")

		re, err := regexp.Compile(b.String())
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", line, err)
		}
		rules = append(rules, rule{re: re, include: include})
	}

	return func(p string) bool {
		ignored := false
		for _, r := range rules {
			if r.re.MatchString(p) {
				ignored = !r.include
			}
		}
		return ignored
	}, nil
}

func TestClientDockerfile_stagesMatchManifests(t *testing.T) {
	t.Parallel()

	var client skaffoldArtifact
	for _, a := range readSkaffoldConfig(t).Build.Artifacts {
		if a.Image == "client" {
			client = a
		}
	}
	if client.Image == "" {
		t.Fatal("skaffold.yaml has no client artifact")
	}

	file := filepath.Join(repoRoot, client.Context, client.Docker.Dockerfile)
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	stages, err := ParseDockerfile(string(src))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}

	runtime := stages[len(stages)-1]
	checkExposedPort(t, loadSet(t, defaultGlobs...), "client", runtime)
	checkClientEntrypoint(t, runtime)

	dev := slices.IndexFunc(stages, func(s Stage) bool { return s.Name == "dev" })
	if dev < 0 {
		t.Fatal(`client/Dockerfile has no stage "dev", which skaffold dev builds`)
	}
	checkExposedPort(t, loadSet(t, devGlobs...), "client", stages[dev])
	checkClientEntrypoint(t, stages[dev])
	checkDevServerHosts(t, stages[dev])

	for _, ins := range runtime.Find("USER") {
		uid, _, _ := strings.Cut(ins.Args, ":")
		if uid == "0" || uid == "root" {
			t.Errorf("runtime stage runs as %s", ins.Args)
		}
	}
}

func checkClientEntrypoint(t *testing.T, stage Stage) {
	t.Helper()

	entry := stage.Find("ENTRYPOINT")
	if len(entry) != 1 {
		t.Errorf("stage %s has %d ENTRYPOINT, want 1", stage.Name, len(entry))
		return
	}
	if _, err := entry[0].ExecForm(); err != nil {
		t.Errorf("stage %s: %v", stage.Name, err)
	}
}

// checkDevServerHosts checks that the Vite dev server accepts the Host of
// every Ingress rule, since it rejects requests for unknown hosts.
func checkDevServerHosts(t *testing.T, dev Stage) {
	t.Helper()

	var allowed []string
	for _, ins := range dev.Find("ENV") {
		name, value, _ := strings.Cut(ins.Args, "=")
		if strings.TrimSpace(name) == "__VITE_ADDITIONAL_SERVER_ALLOWED_HOSTS" {
			allowed = strings.Split(strings.Trim(value, `"`), ",")
		}
	}

	for _, ing := range loadSet(t, devGlobs...).Ingresses() {
		for _, rule := range ing.Spec.Rules {
			if !slices.Contains(allowed, rule.Host) {
				t.Errorf("the dev server allows hosts %v, but Ingress %s "+
					"routes host %s to it", allowed, ing.Name, rule.Host)
			}
		}
	}
}

func TestClientNginx_servesProbePath(t *testing.T) {
	t.Parallel()

	conf, err := os.ReadFile(filepath.Join(repoRoot, "client", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}

	client, ok := loadSet(t, defaultGlobs...).Workload("client")
	if !ok {
		t.Fatal("no client workload")
	}
	c := client.Template.Spec.Containers[0]

	listen := regexp.MustCompile(`(?m)^\s*listen\s+(\d+);`).FindStringSubmatch(string(conf))
	switch {
	case listen == nil:
		t.Error("nginx.conf has no listen directive")
	case listen[1] != strconv.Itoa(int(c.Ports[0].ContainerPort)):
		t.Errorf("nginx.conf listens on %s, want the container port %d",
			listen[1], c.Ports[0].ContainerPort)
	}

	for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Fatal("client container lacks an HTTP readiness or liveness probe")
		}
		location := fmt.Sprintf(`(?s)location\s+=\s+%s\s*\{[^}]*return\s+200`,
			regexp.QuoteMeta(probe.HTTPGet.Path))
		if !regexp.MustCompile(location).Match(conf) {
			t.Errorf("nginx.conf has no exact location %s that returns 200",
				probe.HTTPGet.Path)
		}
	}
}
