package systest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// serviceNames lists the services TestMain builds, by folder and binary
// name.
var serviceNames = []string{
	"posts-svc", "comments-svc", "moderation-svc", "query-svc",
}

// repoRoot is the folder with go.work, and binDir the folder with the
// service binaries. binDir is empty when the test environment is missing,
// in which case every test skips, or fails under CI, through testenv.
var repoRoot, binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := findRepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "systest:", err)
		return 1
	}
	repoRoot = root

	if os.Getenv("TEST_KAFKA_BROKERS") == "" ||
		os.Getenv("TEST_DATABASE_URL") == "" {
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "systest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "systest: create binary folder:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	if err := buildServices(root, dir); err != nil {
		fmt.Fprintln(os.Stderr, "systest:", err)
		return 1
	}
	binDir = dir

	return m.Run()
}

// findRepoRoot returns the nearest folder above the working directory
// that contains go.work.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}

	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}

		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory")
		}
		dir = parent
	}
}

// buildServices compiles every service into dir with one `go build`, so
// each test binary runs the services from the current source.
func buildServices(root, dir string) error {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, name := range serviceNames {
		args = append(args, "./"+name)
	}

	start := time.Now()
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build services in %s: %w (compiler output above)",
			root, err)
	}

	fmt.Fprintf(os.Stderr, "systest: built %d services in %s\n",
		len(serviceNames), time.Since(start).Round(time.Millisecond))
	return nil
}
