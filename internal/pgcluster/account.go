package pgcluster

import (
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
)

// DefaultRunAs is the account PostgreSQL runs as when we are root: the
// Debian/Ubuntu package creates it.
const DefaultRunAs = "postgres"

// FallbackRunAs is the system account created with useradd when we are root
// and DefaultRunAs does not exist.
const FallbackRunAs = "holdfast-pg"

// ErrRunAsRoot is returned (wrapped) when we run as root, PostgreSQL refuses
// to, and no unprivileged account could be found or created.
var ErrRunAsRoot = errors.New("PostgreSQL refuses to run as root and no unprivileged account is available; " +
	"create one with `useradd --system " + FallbackRunAs + "` (or install the postgresql package, which creates `" +
	DefaultRunAs + "`), or run as a non-root user")

// account is the unprivileged user initdb and postgres run as when the
// current process is root.
type account struct {
	name     string
	uid, gid uint32
}

func (a *account) credential() *syscall.Credential {
	if a == nil {
		return nil
	}
	// Groups is empty on purpose: the server gets no supplementary groups.
	return &syscall.Credential{Uid: a.uid, Gid: a.gid}
}

// serverAccount returns the account to run the server as, or nil when the
// current user is not root and runs it directly. name overrides the lookup
// of DefaultRunAs then FallbackRunAs.
func serverAccount(ctx context.Context, name string) (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if name != "" {
		a, err := lookupAccount(name)
		if err != nil {
			return nil, fmt.Errorf("run as %q: %w: %w", name, err, ErrRunAsRoot)
		}
		return a, nil
	}
	for _, n := range []string{DefaultRunAs, FallbackRunAs} {
		if a, err := lookupAccount(n); err == nil {
			return a, nil
		}
	}
	out, err := exec.CommandContext(ctx, "useradd", "--system", "--no-create-home",
		"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", FallbackRunAs).CombinedOutput()
	// Another process may have created the account at the same moment, so
	// look again before giving up.
	if a, lerr := lookupAccount(FallbackRunAs); lerr == nil {
		return a, nil
	}
	return nil, fmt.Errorf("no %q or %q user, and useradd failed (%v: %s): %w",
		DefaultRunAs, FallbackRunAs, err, strings.TrimSpace(string(out)), ErrRunAsRoot)
}

func lookupAccount(name string) (*account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("user %s has uid 0; PostgreSQL will not run as root", name)
	}
	return &account{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

// makeBaseDir creates the cluster's temp dir under the first candidate
// parent that acct can traverse, and hands it to acct.
func makeBaseDir(parent string, acct *account) (string, error) {
	candidates := []string{parent}
	if parent == "" {
		candidates = []string{os.TempDir(), "/tmp"}
	}
	var reasons []string
	for _, p := range candidates {
		if err := traversable(p, acct); err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		dir, err := os.MkdirTemp(p, "holdfast-pg-*")
		if err != nil {
			return "", fmt.Errorf("create cluster dir: %w", err)
		}
		if acct != nil {
			if err := os.Chown(dir, int(acct.uid), int(acct.gid)); err != nil {
				os.RemoveAll(dir)
				return "", fmt.Errorf("hand cluster dir %s to user %s: %w", dir, acct.name, err)
			}
		}
		return dir, nil
	}
	return "", fmt.Errorf("no place for the cluster dir: %s; set TMPDIR (or Options.BaseDir) to a directory every user can enter, such as /tmp",
		strings.Join(reasons, "; "))
}

// traversable reports whether acct can enter dir: every directory from / to
// dir must grant it search (x) permission. A nil acct is the current user,
// who created or chose dir, so it always can.
func traversable(dir string, acct *account) error {
	if acct == nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil // cannot tell; let initdb report it
		}
		perm := fi.Mode().Perm()
		canEnter := perm&0o001 != 0 ||
			(st.Gid == acct.gid && perm&0o010 != 0) ||
			(st.Uid == acct.uid && perm&0o100 != 0)
		if !canEnter {
			return fmt.Errorf("user %s cannot enter %s (mode %v) on the way to %s", acct.name, p, perm, abs)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// chown hands path to acct (no-op when acct is nil).
func chown(path string, acct *account) error {
	if acct == nil {
		return nil
	}
	return os.Chown(path, int(acct.uid), int(acct.gid))
}
