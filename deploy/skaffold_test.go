package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
)

var (
	skaffoldOnce   sync.Once
	skaffoldBinary string
	skaffoldErr    error
)

// skaffoldRunner returns a runner for the skaffold version that
// scripts/skaffold.sh builds. When the binary cannot be built the test
// skips with the reason, or fails under CI.
func skaffoldRunner(t *testing.T) *Skaffold {
	t.Helper()

	skaffoldOnce.Do(func() {
		// The first build compiles skaffold from source: minutes.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()

		start := time.Now()
		skaffoldBinary, skaffoldErr = BuildSkaffold(ctx, repoRoot)
		t.Logf("scripts/skaffold.sh took %s", time.Since(start).Round(time.Millisecond))
	})
	if skaffoldErr != nil {
		skipOrFail(t, "skaffold binary unavailable: "+skaffoldErr.Error())
	}

	s, err := NewSkaffold(skaffoldBinary, repoRoot, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	return s
}

func TestSkaffold_diagnoseAcceptsEveryProfile(t *testing.T) {
	t.Parallel()

	sk := skaffoldRunner(t)
	for _, profile := range []string{"", "dev", "push"} {
		t.Run("profile="+profile, func(t *testing.T) {
			args := []string{"diagnose", "--yaml-only"}
			if profile != "" {
				args = append(args, "-p", profile)
			}
			out, err := sk.Run(t.Context(), args...)
			if err != nil {
				t.Fatal(err)
			}

			cfg := parseSkaffoldConfig(t, out)
			checkArtifacts(t, profile, cfg)
			if push := cfg.Build.Local.Push; push == nil || *push != (profile == "push") {
				t.Errorf("build.local.push = %v, want %v", push, profile == "push")
			}
		})
	}
}

// checkArtifacts checks what each profile builds: the Go services are
// rebuilt on change and never synced, and only the dev profile builds the
// client's dev stage and syncs its sources.
func checkArtifacts(t *testing.T, profile string, cfg skaffoldConfig) {
	t.Helper()

	for _, a := range cfg.Build.Artifacts {
		dev := profile == "dev" && a.Image == "client"
		if dev != (a.Docker.Target == "dev") {
			t.Errorf("%s: docker target %q", a.Image, a.Docker.Target)
		}
		if !dev {
			if a.Sync != nil {
				t.Errorf("%s: file sync in profile %q", a.Image, profile)
			}
			continue
		}

		if a.Sync == nil || len(a.Sync.Manual) != 1 ||
			a.Sync.Manual[0].Src != "src/**" || a.Sync.Manual[0].Dest != "/app" {
			t.Errorf("client: sync %+v, want src/** into /app", a.Sync)
		}
	}
}

func TestSkaffold_diagnoseRejectsUnknownField(t *testing.T) {
	t.Parallel()

	sk := skaffoldRunner(t)
	data, err := os.ReadFile(filepath.Join(repoRoot, "skaffold.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	bad := strings.Replace(string(data), "useBuildkit:", "useBuildKit:", 1)
	file := filepath.Join(t.TempDir(), "skaffold.yaml")
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}

	if _, err := sk.Run(t.Context(), "diagnose", "--yaml-only", "-f", file); err == nil {
		t.Error("skaffold diagnose accepted the misspelled field useBuildKit")
	}
}

func TestSkaffold_rendersTheManifestSets(t *testing.T) {
	t.Parallel()

	sk := skaffoldRunner(t)
	sets := map[string][]string{"": defaultGlobs, "dev": devGlobs}
	for profile, globs := range sets {
		t.Run("profile="+profile, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "rendered.yaml")
			args := []string{"render", "--offline", "--digest-source=none", "-o", out}
			if profile != "" {
				args = append(args, "-p", profile)
			}
			if _, err := sk.Run(t.Context(), args...); err != nil {
				t.Fatal(err)
			}

			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			rendered, err := DecodeStream("rendered", data)
			if err != nil {
				t.Fatal(err)
			}
			compareSets(t, Set{Objects: rendered}, loadSet(t, globs...))
		})
	}
}

// compareSets checks that got holds the same objects as want, in any
// order, with equal content.
func compareSets(t *testing.T, got, want Set) {
	t.Helper()

	for _, w := range want.Objects {
		g, ok := got.Find(w.Kind, w.Name)
		if !ok {
			t.Errorf("%s %s (%s) is not rendered", w.Kind, w.Name, w.Source)
			continue
		}
		if !equality.Semantic.DeepEqual(g.Value, w.Value) {
			t.Errorf("rendered %s %s differs from %s", w.Kind, w.Name, w.Source)
		}
	}
	for _, g := range got.Objects {
		if _, ok := want.Find(g.Kind, g.Name); !ok {
			t.Errorf("%s %s is rendered but not in the expected files", g.Kind, g.Name)
		}
	}
	if len(got.Objects) != len(want.Objects) {
		t.Errorf("rendered %d objects, want %d", len(got.Objects), len(want.Objects))
	}
}
