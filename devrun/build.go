package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// buildServices builds every service's binary into binDir with one
// `go build` run in root, the folder with go.work. The compiler's output
// goes to the terminal, so a failed build shows its errors there.
func buildServices(
	ctx context.Context,
	root, binDir string,
	svcs []service,
	out *syncOutput,
) error {
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	for _, s := range svcs {
		dir := filepath.Join(root, s.Name)
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
			return fmt.Errorf("build %s: no Go module in %s: %w", s.Name,
				dir, err)
		}

		args = append(args, "./"+s.Name)
	}

	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", binDir, err)
	}

	if err := runPrefixed(ctx, root, "go build", out, "go", args...); err != nil {
		return fmt.Errorf("build services: %w (compiler output above)", err)
	}

	// With -o naming a folder, go build names each binary after the last
	// element of its package path, which is the service's folder name.
	for _, s := range svcs {
		bin := filepath.Join(binDir, s.Name)
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("build %s: binary missing after go build: %w",
				s.Name, err)
		}
	}

	return nil
}

// buildClient builds the client into client/dist with npm when the build
// is missing or older than a source file. It installs the packages with
// `npm ci` first when client/node_modules is missing. It does nothing
// when there is no client/package.json or no npm on the PATH.
func buildClient(
	ctx context.Context,
	root string,
	out *syncOutput,
	log *slog.Logger,
) error {
	clientDir := filepath.Join(root, "client")
	if _, err := os.Stat(filepath.Join(clientDir, "package.json")); err != nil {
		return nil
	}

	if _, err := exec.LookPath("npm"); err != nil {
		log.Warn("npm not found on the PATH; serving the client as built " +
			"before, if at all")
		return nil
	}

	stale, err := clientBuildStale(clientDir)
	if err != nil {
		return err
	}

	if !stale {
		log.Info("client build is up to date", "dir",
			filepath.Join(clientDir, "dist"))
		return nil
	}

	_, err = os.Stat(filepath.Join(clientDir, "node_modules"))
	if errors.Is(err, fs.ErrNotExist) {
		log.Info("installing client packages with npm ci")
		err := runPrefixed(ctx, root, "client", out,
			"npm", "--prefix", "client", "ci")
		if err != nil {
			return fmt.Errorf("npm ci in %s: %w", clientDir, err)
		}
	}

	log.Info("building the client with npm run build")
	err = runPrefixed(ctx, root, "client", out,
		"npm", "--prefix", "client", "run", "build")
	if err != nil {
		return fmt.Errorf("npm run build in %s: %w", clientDir, err)
	}

	return nil
}

// clientBuildStale reports whether client/dist/index.html is missing or
// older than the newest file among the client's sources and settings.
func clientBuildStale(clientDir string) (bool, error) {
	built, err := os.Stat(filepath.Join(clientDir, "dist", "index.html"))
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}

	if err != nil {
		return false, fmt.Errorf("check client build: %w", err)
	}

	sources := []string{"src", "public", "index.html", "package.json",
		"package-lock.json", "vite.config.ts", "tsconfig.json",
		"tsconfig.app.json"}
	var newest time.Time
	for _, name := range sources {
		t, err := newestModTime(filepath.Join(clientDir, name))
		if err != nil {
			return false, err
		}

		if t.After(newest) {
			newest = t
		}
	}

	return newest.After(built.ModTime()), nil
}

// newestModTime returns the latest modification time of the file at p or
// of any file under it. A missing p counts as the zero time.
func newestModTime(p string) (time.Time, error) {
	var newest time.Time
	err := filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}

		if err != nil {
			return err
		}

		info, err := d.Info()
		if err != nil {
			return err
		}

		if info.ModTime().After(newest) {
			newest = info.ModTime()
		}

		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("check client sources in %s: %w", p, err)
	}

	return newest, nil
}

// runPrefixed runs a program in dir and writes its output to out, each
// line prefixed with name. It blocks until the program exits.
func runPrefixed(
	ctx context.Context,
	dir, name string,
	out *syncOutput,
	program string,
	args ...string,
) error {
	stdout := newLineWriter(out, name, prefixWidth)
	stderr := newLineWriter(out, name, prefixWidth)
	defer stdout.Close()
	defer stderr.Close()

	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Dir = dir
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second

	return cmd.Run()
}
