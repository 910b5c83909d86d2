package deploy

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// postgresBinDir returns the newest /usr/lib/postgresql/*/bin, which
// scripts/pg.sh uses too.
func postgresBinDir(t *testing.T) string {
	t.Helper()

	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		skipOrFail(t, "no PostgreSQL server binaries in /usr/lib/postgresql; "+
			"run scripts/install-deps.sh")
	}
	slices.Sort(matches)

	return filepath.Dir(matches[len(matches)-1])
}

// startPrivatePostgres starts a throwaway cluster with scripts/pg.sh, for
// a test that creates roles, which are global to a cluster and would leak
// into the shared test server. It returns the port.
func startPrivatePostgres(t *testing.T) int {
	t.Helper()

	postgresBinDir(t)
	// scripts/pg.sh runs the server as the user postgres, which cannot
	// enter t.TempDir() when the tests run as root.
	dir, err := os.MkdirTemp("", "deploy-pg-")
	if err != nil {
		t.Fatal(err)
	}

	script := filepath.Join(repoRoot, "scripts", "pg.sh")
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		out, err := exec.Command("bash", script, "start", dir,
			strconv.Itoa(port)).CombinedOutput()
		if err == nil {
			t.Cleanup(func() {
				exec.Command("bash", script, "stop", dir).Run()
				os.RemoveAll(dir)
			})
			return port
		}
		// Another process may take the free port before the server binds it.
		lastErr = errors.New(tail(string(out), 10))
	}
	os.RemoveAll(dir)
	t.Fatalf("scripts/pg.sh start: %v", lastErr)

	return 0
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	return ln.Addr().(*net.TCPAddr).Port
}

func TestPostgresInit_givesEachRoleOnlyItsDatabase(t *testing.T) {
	t.Parallel()

	set := loadSet(t, defaultGlobs...)
	port := startPrivatePostgres(t)
	// A second run, as after a password change or a first start cut
	// short, must succeed and leave the same result.
	runInitScripts(t, set, port)
	runInitScripts(t, set, port)
	checkRoleAttributes(t, set, port)

	urls := serviceDatabaseURLs(t, set)
	var databases []string
	for _, u := range urls {
		databases = append(databases, strings.TrimPrefix(u.Path, "/"))
	}
	databases = append(databases, "postgres", "template1")

	for image, u := range urls {
		t.Run(image, func(t *testing.T) {
			own := strings.TrimPrefix(u.Path, "/")
			if u.User.Username() != own {
				t.Errorf("DATABASE_URL logs in as %s to database %s; each "+
					"service has a role named like its database",
					u.User.Username(), own)
			}

			for _, db := range databases {
				connectErr, createErr := connectAndCreate(t, u, port, db)
				switch {
				case db == own && (connectErr != nil || createErr != nil):
					t.Errorf("role %s in its own database: %v",
						u.User.Username(), errors.Join(connectErr, createErr))
				case db != own && !isPermissionDenied(connectErr):
					t.Errorf("role %s connecting to database %s: got %v, "+
						"want permission denied", u.User.Username(), db, connectErr)
				}
			}
		})
	}
}

// checkRoleAttributes checks that each service role can log in and has
// no attribute beyond that: no superuser, CREATEDB, CREATEROLE,
// REPLICATION or BYPASSRLS, any of which reaches past its own database.
func checkRoleAttributes(t *testing.T, set Set, port int) {
	t.Helper()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	admin := "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) +
		"/postgres?sslmode=disable"
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect as admin: %v", err)
	}
	defer conn.Close(ctx)

	for image, u := range serviceDatabaseURLs(t, set) {
		role := u.User.Username()
		var login, super, createDB, createRole, replication, bypassRLS bool
		err := conn.QueryRow(ctx, `SELECT rolcanlogin, rolsuper,
			rolcreatedb, rolcreaterole, rolreplication, rolbypassrls
			FROM pg_roles WHERE rolname = $1`, role).Scan(&login, &super,
			&createDB, &createRole, &replication, &bypassRLS)
		if err != nil {
			t.Errorf("%s: read attributes of role %s: %v", image, role, err)
			continue
		}

		if !login || super || createDB || createRole || replication || bypassRLS {
			t.Errorf("%s: role %s has login=%t superuser=%t createdb=%t "+
				"createrole=%t replication=%t bypassrls=%t; want login only",
				image, role, login, super, createDB, createRole,
				replication, bypassRLS)
		}
	}
}

// runInitScripts runs every script of the postgres-init ConfigMap with the
// environment of the postgres container, against the server on port,
// the way the postgres image runs /docker-entrypoint-initdb.d.
func runInitScripts(t *testing.T, set Set, port int) {
	t.Helper()

	pg, ok := set.Workload("postgres")
	if !ok {
		t.Fatal("no postgres workload")
	}
	env, err := ContainerEnv(set, &pg.Template.Spec.Containers[0], podFields)
	if err != nil {
		t.Fatal(err)
	}
	cm, ok := set.ConfigMap("postgres-init")
	if !ok {
		t.Fatal("no ConfigMap postgres-init")
	}

	dir := t.TempDir()
	for _, name := range sortedKeys(cm.Data) {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(cm.Data[name]), 0o755); err != nil {
			t.Fatal(err)
		}

		cmd := exec.Command("bash", file)
		cmd.Env = []string{
			"PATH=" + postgresBinDir(t) + ":" + os.Getenv("PATH"),
			"PGHOST=127.0.0.1",
			"PGPORT=" + strconv.Itoa(port),
		}
		for _, e := range env {
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("init script %s: %v\n%s", name, err, out)
		}
	}
}

// serviceDatabaseURLs returns DATABASE_URL of every Go service Deployment,
// parsed.
func serviceDatabaseURLs(t *testing.T, set Set) map[string]*url.URL {
	t.Helper()

	out := map[string]*url.URL{}
	for image, list := range goWorkloads(t, set) {
		env, err := ContainerEnv(set, list[0].Container, podFields)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(EnvMap(env)["DATABASE_URL"])
		if err != nil {
			t.Fatalf("%s: DATABASE_URL: %v", image, err)
		}
		out[image] = u
	}
	if len(out) == 0 {
		t.Fatal("no Go service sets DATABASE_URL")
	}

	return out
}

// connectAndCreate connects as u's role to db on the local server and
// creates a table, as the service's migrations do. It returns the error of
// each step.
func connectAndCreate(t *testing.T, u *url.URL, port int, db string) (error, error) {
	t.Helper()

	local := *u
	local.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	local.Path = "/" + db

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, local.String())
	if err != nil {
		return err, nil
	}
	defer conn.Close(ctx)

	_, err = conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS deploy_test (id int)")

	return nil, err
}

func isPermissionDenied(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}

// createCall matches a call of the init script's create_service_database
// with the role name and the variable that holds its password.
var createCall = regexp.MustCompile(`(?m)^\s*create_service_database\s+(\S+)\s+"\$([A-Z_]+)"`)

func TestSecrets_databaseURLsMatchRolePasswords(t *testing.T) {
	t.Parallel()

	set := loadSet(t, defaultGlobs...)
	pg, _ := set.Workload("postgres")
	pgEnv, err := ContainerEnv(set, &pg.Template.Spec.Containers[0], podFields)
	if err != nil {
		t.Fatal(err)
	}
	cm, _ := set.ConfigMap("postgres-init")
	roles := map[string]string{}
	for _, script := range cm.Data {
		for _, m := range createCall.FindAllStringSubmatch(script, -1) {
			roles[m[1]] = EnvMap(pgEnv)[m[2]]
		}
	}

	pgService := findService(t, set, "postgres")
	for image, u := range serviceDatabaseURLs(t, set) {
		role := u.User.Username()
		password, ok := roles[role]
		if !ok {
			t.Errorf("%s logs in as %s, which the init script does not create",
				image, role)
			continue
		}
		if got, _ := u.User.Password(); got != password {
			t.Errorf("%s: the DATABASE_URL password differs from the "+
				"password the init script gives role %s", image, role)
		}
		if u.Hostname() != pgService.Name ||
			u.Port() != strconv.Itoa(int(pgService.Spec.Ports[0].Port)) {
			t.Errorf("%s: DATABASE_URL host %s, want Service %s:%d", image,
				u.Host, pgService.Name, pgService.Spec.Ports[0].Port)
		}
	}
}
