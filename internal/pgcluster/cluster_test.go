package pgcluster_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"holdfast/internal/pgcluster"
)

func TestFindBinaries(t *testing.T) {
	found, err := pgcluster.FindBinaries()
	if err != nil {
		t.Fatalf("FindBinaries: %v", err)
	}
	tests := []struct {
		name    string
		env     string
		want    pgcluster.Binaries
		wantErr bool
	}{
		{name: "env points at the found dir", env: filepath.Dir(found.Initdb), want: found},
		{name: "env points nowhere", env: filepath.Join(t.TempDir(), "nope"), wantErr: true},
		{name: "env points at a dir without postgres", env: t.TempDir(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(pgcluster.EnvBinDir, tt.env)
			got, err := pgcluster.FindBinaries()
			if tt.wantErr {
				if !errors.Is(err, pgcluster.ErrNoBinaries) {
					t.Fatalf("FindBinaries() error = %v, want ErrNoBinaries", err)
				}
				for _, want := range []string{"apt-get install -y postgresql", pgcluster.EnvBinDir, tt.env} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("FindBinaries: %v", err)
			}
			if got != tt.want {
				t.Errorf("FindBinaries() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	pid := c.PID()

	conn, err := pgx.Connect(ctx, c.DSN(pgcluster.DefaultDatabase))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	var who, db, maxConns, fsync string
	err = conn.QueryRow(ctx, "SELECT current_user, current_database(), current_setting('max_connections'), current_setting('fsync')").
		Scan(&who, &db, &maxConns, &fsync)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if got, want := []string{who, db, maxConns, fsync}, []string{"holdfast", "holdfast", "100", "off"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("user, db, max_connections, fsync = %v, want %v", got, want)
	}
	conn.Close(ctx)

	wantUID := os.Geteuid()
	if wantUID == 0 {
		u, err := user.Lookup(pgcluster.DefaultRunAs)
		if err != nil {
			t.Fatalf("running as root, but no %s user: %v", pgcluster.DefaultRunAs, err)
		}
		wantUID, _ = strconv.Atoi(u.Uid)
	}
	if got := processUID(t, pid); got != wantUID {
		t.Errorf("postmaster runs as uid %d, want %d", got, wantUID)
	}
	if _, err := os.Stat(c.LogPath()); err != nil {
		t.Errorf("log file: %v", err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Stop, Stat(%s) = %v, want not exist", c.Dir(), err)
	}
	if procs := groupMembers(t, pid); len(procs) > 0 {
		t.Errorf("after Stop, processes %v of group %d remain", procs, pid)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		User:           "boss",
		Password:       "it's a 'secret' @:/?",
		Database:       "shop",
		MaxConnections: 17,
		Settings:       map[string]string{"work_mem": "8MB", "application_name": "it's me"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })

	conn, err := pgx.Connect(ctx, c.DSN("shop"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var got [4]string
	err = conn.QueryRow(ctx, "SELECT current_user, current_setting('max_connections'), current_setting('work_mem'), current_setting('listen_addresses')").
		Scan(&got[0], &got[1], &got[2], &got[3])
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if want := [4]string{"boss", "17", "8MB", "127.0.0.1"}; got != want {
		t.Errorf("settings = %q, want %q", got, want)
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts pgcluster.Options
		want string
	}{
		{"negative max connections", pgcluster.Options{MaxConnections: -1}, "Options.MaxConnections"},
		{"bad setting name", pgcluster.Options{Settings: map[string]string{"x = 1\nfsync": "on"}}, "Settings["},
		{"half the binaries", pgcluster.Options{Binaries: pgcluster.Binaries{Initdb: "/usr/bin/true"}}, "Options.Binaries"},
		{"missing binaries", pgcluster.Options{Binaries: pgcluster.Binaries{Initdb: "/nope/initdb", Postgres: "/nope/postgres"}}, "initdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pgcluster.Start(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// A cluster that cannot start says why and leaves nothing behind.
func TestStartFailureCleansUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts pgcluster.Options
		want string
	}{
		{"server rejects its config", pgcluster.Options{Settings: map[string]string{"shared_buffers": "lots"}}, `invalid value for parameter "shared_buffers"`},
		{"start deadline", pgcluster.Options{StartTimeout: 50 * time.Millisecond}, "start deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := os.MkdirTemp("", "pgcluster-test-*")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			if err := os.Chmod(base, 0o755); err != nil { // the server's account must enter it
				t.Fatal(err)
			}
			tt.opts.BaseDir = base
			_, err = pgcluster.Start(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start error = %v, want it to mention %q", err, tt.want)
			}
			entries, _ := os.ReadDir(base)
			if len(entries) != 0 {
				t.Errorf("left behind in %s: %v", base, entries)
			}
		})
	}
}

// As root, a base dir the server's account cannot enter is refused with a
// message that says what to do.
func TestStartUntraversableBaseDir(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Log("not root: the server runs as us and can enter any dir we can; checking that Start works in a 0700 dir")
		c, err := pgcluster.Start(context.Background(), pgcluster.Options{BaseDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		c.Stop()
		return
	}
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := pgcluster.Start(context.Background(), pgcluster.Options{BaseDir: private})
	if err == nil || !strings.Contains(err.Error(), "cannot enter") || !strings.Contains(err.Error(), "TMPDIR") {
		t.Fatalf("Start error = %v, want it to say the dir cannot be entered and to set TMPDIR", err)
	}
}

// As root, Options.RunAs picks the server's account.
func TestRunAs(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Log("not root: RunAs is ignored and the server runs as us; TestStartStop covers that")
		return
	}
	c, err := pgcluster.Start(context.Background(), pgcluster.Options{RunAs: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := processUID(t, c.PID()), u.Uid; strconv.Itoa(got) != want {
		t.Errorf("postmaster runs as uid %d, want %s (nobody)", got, want)
	}

	_, err = pgcluster.Start(context.Background(), pgcluster.Options{RunAs: "no-such-user-here"})
	if !errors.Is(err, pgcluster.ErrRunAsRoot) || !strings.Contains(err.Error(), "useradd --system") {
		t.Errorf("Start as a missing user: %v, want ErrRunAsRoot saying how to create one", err)
	}
}

// processUID is the real uid of process pid.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			return uid
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return -1
}

const helperEnv = "PGCLUSTER_TEST_HELPER"

// TestHelperProcess is not a test: TestServerDiesWithParent runs the test
// binary as a parent that starts a cluster and is then killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		return
	}
	c, err := pgcluster.Start(context.Background(), pgcluster.Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("started", c.PID(), c.Dir())
	select {} // wait to be killed
}

func TestServerDiesWithParent(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("read helper output: %v", err)
	}
	var pid int
	var dir string
	if _, err := fmt.Sscanf(line, "started %d %s", &pid, &dir); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q: %v", line, err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // the killed parent could not

	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(groupMembers(t, pid)) > 0 {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("postgres (pid %d) still running 10s after its parent was killed", pid)
		}
		time.Sleep(20 * time.Millisecond) // polling /proc
	}
}

// groupMembers lists the live (not zombie) processes in process group pgid.
func groupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces, so cut at ')'.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 3 || fields[0] == "Z" {
			continue
		}
		if pgrp, _ := strconv.Atoi(fields[2]); pgrp == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}
