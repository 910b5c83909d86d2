package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Skaffold runs a skaffold binary on the repository without a cluster.
type Skaffold struct {
	Binary string
	Root   string
	// home replaces HOME, so the runs read a global configuration that
	// turns off the update check, metrics and surveys, and never touch the
	// user's own.
	home string
}

// globalConfig is skaffold's global configuration for these runs: no
// update check, no metrics and no survey prompt, so skaffold never tries
// to reach the network.
const globalConfig = `global:
  update-check: false
  collect-metrics: false
  survey:
    disable-prompt: true
`

// BuildSkaffold runs scripts/skaffold.sh, which builds the pinned skaffold
// version from its module source unless the binary is cached, and returns
// the binary's path from the script's last output line.
func BuildSkaffold(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "skaffold.sh"))
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/skaffold.sh: %w\n%s", err, tail(stderr.String(), 30))
	}

	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	binary := lines[len(lines)-1]
	if _, err := os.Stat(binary); err != nil {
		return "", fmt.Errorf("scripts/skaffold.sh printed %q: %w", binary, err)
	}

	return binary, nil
}

// NewSkaffold returns a runner whose global configuration lives in home.
func NewSkaffold(binary, root, home string) (*Skaffold, error) {
	dir := filepath.Join(home, ".skaffold")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(globalConfig),
		0o644); err != nil {
		return nil, err
	}

	return &Skaffold{Binary: binary, Root: root, home: home}, nil
}

// Run runs skaffold with args in the repository root and returns its
// standard output. KUBECONFIG names a file that does not exist, so no
// command can reach a cluster.
func (s *Skaffold) Run(ctx context.Context, args ...string) ([]byte, error) {
	args = append(args, "--update-check=false")
	cmd := exec.CommandContext(ctx, s.Binary, args...)
	cmd.Dir = s.Root
	cmd.Env = []string{
		"HOME=" + s.home,
		"PATH=" + os.Getenv("PATH"),
		"KUBECONFIG=" + filepath.Join(s.home, "no-kubeconfig"),
		"SKAFFOLD_INTERACTIVE=false",
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("skaffold %s: %w\n%s", strings.Join(args, " "),
			err, tail(stderr.String(), 30))
	}

	return out, nil
}

// tail returns the last n lines of text.
func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}

	return strings.Join(lines, "\n")
}
