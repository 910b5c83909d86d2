package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxSocketPath is the longest Unix socket path Linux accepts, in bytes
// (sun_path holds 108 bytes including the terminating zero).
const maxSocketPath = 107

// pgCluster is a throwaway PostgreSQL cluster in a folder of the
// repository, made with the machine's initdb and run with pg_ctl. It
// listens on 127.0.0.1 only and trusts every local connection.
type pgCluster struct {
	binDir    string
	dir       string
	dataDir   string
	socketDir string
	logFile   string
	port      int
	// runAs is the user that owns and runs the cluster when devrun runs
	// as root, because initdb and postgres reject running as root. It is
	// nil otherwise.
	runAs *user.User
	log   *slog.Logger
	// pid is the postmaster's process id once Start has succeeded, so
	// Stop still finds the server when its data folder was removed.
	pid int
}

// newPGCluster prepares a cluster in dir. It finds the binaries but
// starts nothing.
func newPGCluster(
	dir, binDir string,
	port int,
	log *slog.Logger,
) (*pgCluster, error) {
	binDir, err := findPGBinDir(binDir)
	if err != nil {
		return nil, err
	}

	c := &pgCluster{
		binDir:    binDir,
		dir:       dir,
		dataDir:   filepath.Join(dir, "data"),
		socketDir: filepath.Join(dir, "run"),
		logFile:   filepath.Join(dir, "postgres.log"),
		port:      port,
		log:       log,
	}

	if os.Geteuid() == 0 {
		c.runAs, err = user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("look up user postgres to run "+
				"PostgreSQL as (initdb rejects root): %w", err)
		}
	}

	return c, nil
}

// findPGBinDir returns override when set. Otherwise it returns the newest
// /usr/lib/postgresql/VERSION/bin (the Debian layout), and then the
// folder of initdb on the PATH.
func findPGBinDir(override string) (string, error) {
	if override != "" {
		if _, err := os.Stat(filepath.Join(override, "initdb")); err != nil {
			return "", fmt.Errorf("DEV_PG_BIN: no initdb in %s: %w",
				override, err)
		}

		return override, nil
	}

	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) > 0 {
		slices.SortFunc(dirs, func(a, b string) int {
			return compareVersions(pgVersionOfPath(a), pgVersionOfPath(b))
		})

		return filepath.Dir(dirs[len(dirs)-1]), nil
	}

	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return "", errors.New("no PostgreSQL binaries found in " +
			"/usr/lib/postgresql/*/bin or on the PATH: install PostgreSQL, " +
			"set DEV_PG_BIN to its bin folder, or set DATABASE_URL to " +
			"an existing server")
	}

	return filepath.Dir(initdb), nil
}

// pgVersionOfPath returns the VERSION part of
// /usr/lib/postgresql/VERSION/bin/initdb.
func pgVersionOfPath(initdb string) string {
	return filepath.Base(filepath.Dir(filepath.Dir(initdb)))
}

// compareVersions compares dotted version numbers such as "9.6" and "15"
// number by number. A part that is not a number counts as 0.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}

		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}

		if x != y {
			return x - y
		}
	}

	return 0
}

// Start creates the cluster on the first run, stops a server that an
// earlier, killed run left behind, and starts the server. It blocks until
// the server accepts connections, for at most about two minutes. It takes
// no context because a cancelled initdb or pg_ctl leaves a half-made
// cluster or a server that no process stops.
func (c *pgCluster) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := c.makeDirs(); err != nil {
		return err
	}

	if err := c.initIfMissing(ctx); err != nil {
		return err
	}

	if err := c.stopLeftover(); err != nil {
		return err
	}

	if err := checkPortFree(c.port); err != nil {
		return fmt.Errorf("DEV_PG_PORT: %w: another PostgreSQL server may "+
			"be running there; set DEV_PG_PORT to a free port (such as "+
			"DEV_PG_PORT=5433) or set DATABASE_URL to use that server", err)
	}

	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s",
		c.port, shellQuote(c.socketDir))
	if len(c.socketDir)+len("/.s.PGSQL.65535") > maxSocketPath {
		// An empty unix_socket_directories turns Unix sockets off, so a
		// checkout at a deep path still gets a server on TCP.
		c.log.Warn("Unix socket path too long; PostgreSQL listens on TCP "+
			"only", "socket_dir", c.socketDir)
		opts = fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k ''",
			c.port)
	}

	out, err := c.run(ctx, "pg_ctl", "start", "-D", c.dataDir,
		"-l", c.logFile, "-w", "-t", "60", "-o", opts)
	if err != nil {
		return fmt.Errorf("start PostgreSQL: %w\n%s\nserver log %s:\n%s",
			err, out, c.logFile, tailFile(c.logFile, 20))
	}

	c.pid = readPostmasterPID(filepath.Join(c.dataDir, "postmaster.pid"))

	return nil
}

// readPostmasterPID returns the process id on the first line of a
// postmaster.pid file, or 0 when it cannot be read.
func readPostmasterPID(file string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}

	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}

	return pid
}

// stopOrphan ends a postmaster whose postmaster.pid is gone, as after
// `make clean-dev` under a running system: SIGINT requests a fast
// shutdown, and SIGKILL follows after timeout.
func (c *pgCluster) stopOrphan(timeout time.Duration) error {
	if c.pid == 0 || syscall.Kill(c.pid, 0) != nil {
		return nil
	}

	c.log.Warn("PostgreSQL data folder is gone; stopping the server by "+
		"its PID", "pid", c.pid)
	if err := syscall.Kill(c.pid, syscall.SIGINT); err != nil {
		return fmt.Errorf("stop PostgreSQL (PID %d): %w", c.pid, err)
	}

	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(c.pid, 0) != nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}

	if err := syscall.Kill(c.pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill PostgreSQL (PID %d): %w", c.pid, err)
	}

	return nil
}

// Stop stops the server with a fast shutdown: open sessions are ended
// and the server exits once its data is on disk. It blocks until then,
// for at most 60 seconds. Without a postmaster.pid, Stop ends the server
// it started by its PID, if that still runs, and does nothing otherwise.
func (c *pgCluster) Stop() error {
	pidFile := filepath.Join(c.dataDir, "postmaster.pid")
	if _, err := os.Stat(pidFile); errors.Is(err, os.ErrNotExist) {
		return c.stopOrphan(60 * time.Second)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
	defer cancel()

	out, err := c.run(ctx, "pg_ctl", "stop", "-D", c.dataDir,
		"-m", "fast", "-w", "-t", "60")
	if err != nil {
		return fmt.Errorf("stop PostgreSQL: %w\n%s", err, out)
	}

	return nil
}

// URL returns the URL of database db on this cluster.
func (c *pgCluster) URL(db string) *url.URL {
	return &url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     fmt.Sprintf("127.0.0.1:%d", c.port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
}

// makeDirs creates the cluster folders. Under root it hands them to the
// postgres user, which must own the data folder and write the others.
func (c *pgCluster) makeDirs() error {
	for _, dir := range []string{c.dir, c.dataDir, c.socketDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}

		if c.runAs == nil {
			continue
		}

		uid, _ := strconv.Atoi(c.runAs.Uid)
		gid, _ := strconv.Atoi(c.runAs.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fmt.Errorf("give %s to user postgres: %w", dir, err)
		}
	}

	if c.runAs == nil {
		return nil
	}

	// The server runs as postgres, which must enter every folder above
	// the data; a checkout under a private folder (mode 0700) blocks it.
	check := exec.Command("runuser", "-u", c.runAs.Username, "--",
		"test", "-x", c.dataDir)
	if err := check.Run(); err != nil {
		return fmt.Errorf("user %s cannot enter %s, because a folder above "+
			"it is private: open the folders above the checkout to it "+
			"(chmod o+x), move the checkout, or set DATABASE_URL to a "+
			"server of your own", c.runAs.Username, c.dataDir)
	}

	return nil
}

// initIfMissing runs initdb unless the data folder already holds a
// cluster, which it then checks against the binaries' major version.
func (c *pgCluster) initIfMissing(ctx context.Context) error {
	stored, err := os.ReadFile(filepath.Join(c.dataDir, "PG_VERSION"))
	if errors.Is(err, os.ErrNotExist) {
		c.log.Info("creating PostgreSQL cluster", "data_dir", c.dataDir,
			"bin_dir", c.binDir)
		out, err := c.run(ctx, "initdb", "-D", c.dataDir, "-A", "trust",
			"-U", "postgres", "-E", "UTF8")
		if err != nil {
			return fmt.Errorf("initdb %s: %w\n%s", c.dataDir, err, out)
		}

		return nil
	}

	if err != nil {
		return fmt.Errorf("read cluster version: %w", err)
	}

	major, err := c.binMajorVersion(ctx)
	if err != nil {
		return err
	}

	if have := strings.TrimSpace(string(stored)); have != major {
		return fmt.Errorf("the cluster in %s was made by PostgreSQL %s "+
			"but the binaries in %s are version %s: remove %s to start "+
			"an empty cluster, or set DEV_PG_BIN to PostgreSQL %s binaries",
			c.dataDir, have, c.binDir, major, c.dir, have)
	}

	return nil
}

var pgVersionPattern = regexp.MustCompile(`\(PostgreSQL\) (\d+)(\.\d+)?`)

// binMajorVersion returns the major version of the binaries, "15" for
// "pg_ctl (PostgreSQL) 15.14". Before version 10 the major version had
// two parts, which this runner does not support.
func (c *pgCluster) binMajorVersion(ctx context.Context) (string, error) {
	out, err := c.run(ctx, "pg_ctl", "--version")
	if err != nil {
		return "", fmt.Errorf("pg_ctl --version: %w\n%s", err, out)
	}

	m := pgVersionPattern.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("unexpected pg_ctl --version output %q", out)
	}

	return string(m[1]), nil
}

// stopLeftover stops a server still running on the data folder, which
// happens when an earlier run was killed before it could stop it. The
// server runs on devrun's own data folder, so stopping it loses nothing.
func (c *pgCluster) stopLeftover() error {
	pid, ok := c.leftoverPID()
	if !ok {
		return nil
	}

	c.log.Warn("stopping a PostgreSQL server left running by an earlier run",
		"pid", pid, "data_dir", c.dataDir)

	return c.Stop()
}

// leftoverPID returns the PID in the data folder's postmaster.pid when
// that process is a server on this data folder. Checking the command line
// keeps pg_ctl stop from signalling an unrelated process that reuses the
// PID of a server that died. On systems without /proc it reports none,
// and the server's own start-up check reports a live server instead.
func (c *pgCluster) leftoverPID() (int, bool) {
	data, err := os.ReadFile(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}

	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, false
	}

	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, false
	}

	args := strings.Split(string(cmdline), "\x00")
	if !slices.Contains(args, c.dataDir) {
		return 0, false
	}

	return pid, true
}

// run runs a PostgreSQL program from the bin folder in the cluster folder,
// as user postgres when devrun runs as root, and returns its combined
// output.
func (c *pgCluster) run(
	ctx context.Context,
	program string,
	args ...string,
) ([]byte, error) {
	path := filepath.Join(c.binDir, program)
	cmd := exec.CommandContext(ctx, path, args...)
	if c.runAs != nil {
		all := append([]string{"-u", c.runAs.Username, "--", path}, args...)
		cmd = exec.CommandContext(ctx, "runuser", all...)
	}

	// The cluster folder is one that user postgres can enter, unlike the
	// working directory of root, perhaps.
	cmd.Dir = c.dir

	// pg_ctl start hands its output file to the server, which keeps it
	// open, so the output goes to a buffer through a pipe that WaitDelay
	// closes once pg_ctl has exited.
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()

	return out.Bytes(), err
}

// createDatabases connects to adminURL and creates each database in
// names that does not exist yet. Existing databases are left unchanged.
func createDatabases(ctx context.Context, adminURL *url.URL, names []string) error {
	conn, err := pgx.Connect(ctx, adminURL.String())
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s: %w",
			adminURL.Redacted(), err)
	}
	defer conn.Close(context.Background())

	for _, name := range names {
		var exists bool
		err := conn.QueryRow(ctx,
			"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
			name).Scan(&exists)
		if err != nil {
			return fmt.Errorf("look up database %s: %w", name, err)
		}

		if exists {
			continue
		}

		ident := pgx.Identifier{name}.Sanitize()
		_, err = conn.Exec(ctx, "CREATE DATABASE "+ident)

		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" {
			// duplicate_database: another client created it meanwhile.
			continue
		}

		if err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
	}

	return nil
}

// withDatabase returns a copy of u that names database db. The user,
// password, host and query parameters stay as they are.
func withDatabase(u *url.URL, db string) *url.URL {
	c := *u
	c.Path = "/" + db
	c.RawPath = ""

	return &c
}

// shellQuote quotes s for the POSIX shell that pg_ctl starts the server
// with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tailFile returns the last n lines of the file at path, or a note when
// it cannot be read.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}

	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}

	return strings.Join(lines, "\n")
}
