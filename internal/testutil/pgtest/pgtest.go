//go:build linux

// Package pgtest starts a throwaway PostgreSQL server for tests: the
// store's suite and the hub's end-to-end tests run on it.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Server hands out one fresh schema per test on a PostgreSQL server.
type Server struct {
	Base       string  // DSN of the server's "postgres" database
	Admin      *sql.DB // connection to base, for CREATE/DROP SCHEMA
	prefix     string  // schema name prefix
	n          atomic.Int64
	Linguistic bool // the database's default collation is ICU en-US

	// the server this package started (nil with SPLIT_TEST_POSTGRES_DSN)
	mu      sync.Mutex
	launch  func() (*exec.Cmd, chan error, error) // starts the server process
	cmd     *exec.Cmd
	exited  chan error
	logTail func() string
}

// FreshDSN creates an empty schema and returns a DSN whose search_path
// selects it; the schema is dropped when t ends.
func (s *Server) FreshDSN(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("%s_%d", s.prefix, s.n.Add(1))
	if _, err := s.Admin.ExecContext(t.Context(), `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := s.Admin.ExecContext(context.Background(), `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	dsn, err := withQueryParam(s.Base, "search_path", name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

func withQueryParam(dsn, key, value string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", errors.New("bad postgres DSN") // do not echo it: it may hold a password
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func openAdmin(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open admin connection: %v", err)
	}
	t.Cleanup(func() {
		if err := admin.Close(); err != nil {
			t.Errorf("close admin connection: %v", err)
		}
	})
	return admin
}

func Start(t testing.TB) *Server {
	t.Helper()
	if dsn := os.Getenv("SPLIT_TEST_POSTGRES_DSN"); dsn != "" {
		s := &Server{Base: dsn, Admin: openAdmin(t, dsn), prefix: fmt.Sprintf("split_test_%d", os.Getpid())}
		if err := s.Admin.PingContext(t.Context()); err != nil {
			t.Fatalf("SPLIT_TEST_POSTGRES_DSN does not answer: %v", err)
		}
		return s
	}

	bin, err := BinDir(DebianBinDirs)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := pgCredential()
	if err != nil {
		t.Fatal(err)
	}

	// A short path: the socket path must fit in 107 bytes.
	tmp := os.TempDir()
	if len(tmp) > 60 {
		tmp = "/tmp"
	}
	dir, err := os.MkdirTemp(tmp, "split-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	env := []string{"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C.UTF-8", "TZ=UTC"}

	initdb := func(extra ...string) ([]byte, error) {
		args := append([]string{"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"}, extra...)
		cmd := exec.CommandContext(t.Context(), filepath.Join(bin, "initdb"), args...)
		cmd.Env, cmd.Dir = env, dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd.CombinedOutput()
	}
	// An ICU en-US default collation sorts like most production databases
	// (linguistically), which is what the key-ordering test must survive.
	s := &Server{prefix: "t", Linguistic: true}
	if out, err := initdb("--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US"); err != nil {
		t.Logf("initdb with ICU failed (%v), retrying with the C.UTF-8 locale:\n%s", err, out)
		s.Linguistic = false
		if err := os.RemoveAll(data); err != nil {
			t.Fatal(err)
		}
		if out, err := initdb("--locale=C.UTF-8"); err != nil {
			t.Fatalf("initdb: %v\n%s", err, out)
		}
	}

	logPath := filepath.Join(dir, "postgres.log")
	const port = 5432 // only names the socket file inside dir; no TCP listener
	s.launch = func() (*exec.Cmd, chan error, error) {
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-p", strconv.Itoa(port),
			"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
			"-c", "full_page_writes=off", "-c", "max_connections=200")
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, err
		}
		defer logf.Close() // the child has its own copy of the descriptor
		cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, dir, logf, logf
		// Pdeathsig: if the test binary dies, the server goes with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
		if err := cmd.Start(); err != nil {
			return nil, nil, fmt.Errorf("start postgres: %w", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return cmd, exited, nil
	}
	var err2 error
	if s.cmd, s.exited, err2 = s.launch(); err2 != nil {
		t.Fatal(err2)
	}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.cmd != nil {
			s.stop(t)
		}
	})
	logTail := func() string {
		b, _ := os.ReadFile(logPath)
		return string(b)
	}
	s.logTail = logTail
	s.Base = fmt.Sprintf("postgres://postgres@/postgres?host=%s&port=%d&sslmode=disable", url.QueryEscape(dir), port)
	s.Admin = openAdmin(t, s.Base)
	s.waitReady(t)
	return s
}

// waitReady waits until the server accepts connections, as pg_ctl -w does.
func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := s.Admin.PingContext(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres not ready after 60 s: %v\n%s", err, s.logTail())
		}
		select {
		case werr := <-s.exited:
			s.exited <- werr // for the cleanup
			t.Fatalf("postgres exited: %v\n%s", werr, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop shuts the server down (SIGINT: PostgreSQL's "fast" shutdown, which
// ends every connection) and waits for it; s.mu held.
func (s *Server) stop(t testing.TB) {
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Logf("signal postgres: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		t.Errorf("postgres did not stop in 20 s; killing it")
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Stop shuts the server down, as an operator restarting PostgreSQL does:
// every client's connection ends and new ones are refused until Resume.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.launch == nil || s.cmd == nil {
		t.Fatal("pgtest: Stop needs a server this package started and is running")
	}
	s.stop(t)
}

// Resume starts the stopped server again on the same data and waits until
// it accepts connections.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	if s.launch == nil || s.cmd != nil {
		s.mu.Unlock()
		t.Fatal("pgtest: Resume needs a server this package started and stopped")
	}
	var err error
	if s.cmd, s.exited, err = s.launch(); err != nil {
		s.mu.Unlock()
		t.Fatal(err)
	}
	s.mu.Unlock()
	s.waitReady(t)
}

// DebianBinDirs is where Debian's postgresql-<major> packages put the server.
const DebianBinDirs = "/usr/lib/postgresql/*/bin"

// pgBinDir finds the directory holding initdb and postgres: $SPLIT_PG_BINDIR,
// else the newest directory matching pattern, else initdb's on $PATH.
func BinDir(pattern string) (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("SPLIT_PG_BINDIR"); d != "" {
		if !has(d) {
			return "", fmt.Errorf("SPLIT_PG_BINDIR=%s has no initdb and postgres", d)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob(pattern) // Debian: /usr/lib/postgresql/<major>/bin
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found in $SPLIT_PG_BINDIR, " +
		"/usr/lib/postgresql/*/bin or $PATH: install the Debian package `postgresql` " +
		"(apt-get install -y postgresql), or run go test -short to skip the PostgreSQL suite")
}

// pgCredential returns the user to run PostgreSQL as: nil (ourselves) unless
// we are root, which PostgreSQL refuses; then the "postgres" system user.
func pgCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("running as root, and there is no postgres or nobody user to run PostgreSQL as " +
		"(the Debian package `postgresql` creates the postgres user)")
}
