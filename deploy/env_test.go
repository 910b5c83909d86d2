package deploy

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	envReadsOnce sync.Once
	envReadsAll  map[string][]EnvRead
	envReadsErr  error
)

// serviceEnvReads returns, by image, the environment variables that each
// Go service's code reads, derived from the code by EnvReads.
func serviceEnvReads(t testing.TB) map[string][]EnvRead {
	t.Helper()

	services := goServices(t)
	envReadsOnce.Do(func() {
		var patterns []string
		for _, s := range services {
			patterns = append(patterns, s.Build.Package)
		}
		envReadsAll, envReadsErr = EnvReads(repoRoot, patterns...)
	})
	if envReadsErr != nil {
		t.Fatal(envReadsErr)
	}

	out := map[string][]EnvRead{}
	for _, s := range services {
		pkg := ModulePrefix + path.Clean(s.Build.Package)
		reads, ok := envReadsAll[pkg]
		if !ok {
			t.Fatalf("no result for package %s", pkg)
		}
		out[s.Image] = reads
	}

	return out
}

func findRead(reads []EnvRead, name string) (EnvRead, bool) {
	i := slices.IndexFunc(reads, func(r EnvRead) bool { return r.Name == name })
	if i < 0 {
		return EnvRead{}, false
	}

	return reads[i], true
}

func TestEnvReads_findsEveryKindOfRead(t *testing.T) {
	t.Parallel()

	all, err := EnvReads(repoRoot, "./deploy/testdata/envreader")
	if err != nil {
		t.Fatal(err)
	}
	reads := all[ModulePrefix+"deploy/testdata/envreader"]

	want := map[string]EnvRead{
		"FIXTURE_WAIT":  {Method: "Reader.Duration", HasDefault: true, Default: "3s"},
		"FIXTURE_PORT":  {Method: "Reader.Int", HasDefault: true, Default: "8080"},
		"FIXTURE_MODE":  {Method: "os.Getenv"},
		"FIXTURE_DEBUG": {Method: "os.LookupEnv"},
	}
	for name, w := range want {
		got, ok := findRead(reads, name)
		if !ok {
			t.Errorf("%s not found", name)
			continue
		}
		if got.Method != w.Method || got.HasDefault != w.HasDefault ||
			got.Default != w.Default {
			t.Errorf("%s = %+v, want method %s, default %v %q", name, got,
				w.Method, w.HasDefault, w.Default)
		}
	}
	if _, ok := findRead(reads, "FIXTURE_NOT_READ"); ok {
		t.Error("Reader.Fail counted as a read")
	}
	if _, ok := findRead(reads, "HTTP_ADDR"); ok {
		t.Error("a variable of ReadCommon counted, but the fixture never calls it")
	}
}

func TestGoServices_envMatchesCode(t *testing.T) {
	t.Parallel()

	set := defaultWithJobs(t)
	readsByImage := serviceEnvReads(t)
	for image, list := range goWorkloads(t, set) {
		reads := readsByImage[image]
		for _, name := range []string{"DATABASE_URL", "KAFKA_BROKERS"} {
			if _, ok := findRead(reads, name); !ok {
				t.Fatalf("%s: %s not found in the code; the extraction is broken",
					image, name)
			}
		}

		for _, gc := range list {
			t.Run(gc.Workload.Kind+"/"+gc.Workload.Name, func(t *testing.T) {
				env, err := ContainerEnv(set, gc.Container, podFields)
				if err != nil {
					t.Fatal(err)
				}
				checkEnvAgainstReads(t, image, env, reads)
			})
		}
	}
}

// checkEnvAgainstReads checks both directions: every variable the
// manifest sets is read by the code, and every variable the code reads is
// set or has a default.
func checkEnvAgainstReads(t *testing.T, image string, env []EnvSource,
	reads []EnvRead) {
	t.Helper()

	set := EnvMap(env)
	for _, e := range env {
		if _, ok := findRead(reads, e.Name); !ok {
			t.Errorf("sets %s (from %s), which %s never reads", e.Name,
				e.From, image)
		}
	}

	var table []string
	for _, r := range reads {
		value, ok := set[r.Name]
		switch {
		case ok:
			if strings.Contains(strings.ToLower(r.Name), "url") {
				value = "(secret)"
			}
			table = append(table, r.Name+"="+value)
		case r.HasDefault:
			table = append(table, fmt.Sprintf("%s default %q", r.Name, r.Default))
		default:
			t.Errorf("%s reads %s (%s at %s) without a default, and the "+
				"manifest does not set it", image, r.Name, r.Method, r.Position)
		}
	}
	t.Logf("%s: %s", image, strings.Join(table, ", "))
}

// shutdownTimeout returns SHUTDOWN_TIMEOUT as env sets it, or the default
// in the service's code.
func shutdownTimeout(t testing.TB, env map[string]string, reads []EnvRead) time.Duration {
	t.Helper()

	v, ok := env["SHUTDOWN_TIMEOUT"]
	if !ok {
		r, found := findRead(reads, "SHUTDOWN_TIMEOUT")
		if !found || r.Default == "" {
			t.Fatal("SHUTDOWN_TIMEOUT is neither set nor read with a constant default")
		}
		v = r.Default
	}

	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("SHUTDOWN_TIMEOUT %q: %v", v, err)
	}

	return d
}
