package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
)

// EnvBinDir names the environment variable that points at the directory
// holding initdb and postgres. It wins over every other place we look.
const EnvBinDir = "HOLDFAST_PG_BIN"

// debianBinGlob is where the Debian/Ubuntu postgresql packages put the
// server binaries, one directory per major version.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// ErrNoBinaries is returned (wrapped) when initdb and postgres cannot be
// found. Its message is the fix.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found; " +
	"install them with `apt-get install -y postgresql` (Debian/Ubuntu), " +
	"or set " + EnvBinDir + " to the directory that holds initdb and postgres " +
	"(for example " + EnvBinDir + "=/usr/lib/postgresql/15/bin)")

// Binaries are the server programs a cluster is built from.
type Binaries struct {
	Initdb   string // absolute path of initdb
	Postgres string // absolute path of postgres
}

// FindBinaries locates initdb and postgres: in $HOLDFAST_PG_BIN if it is set,
// else in the newest /usr/lib/postgresql/<major>/bin that has both, else on
// PATH. The error wraps ErrNoBinaries.
func FindBinaries() (Binaries, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		b, err := binariesIn(dir)
		if err != nil {
			return Binaries{}, fmt.Errorf("%s=%s: %w", EnvBinDir, dir, err)
		}
		return b, nil
	}
	for _, dir := range debianBinDirs() {
		if b, err := binariesIn(dir); err == nil {
			return b, nil
		}
	}
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err1 != nil || err2 != nil {
		return Binaries{}, fmt.Errorf("looked in %s and on PATH: %w", debianBinGlob, ErrNoBinaries)
	}
	return Binaries{Initdb: absPath(initdb), Postgres: absPath(postgres)}, nil
}

// binariesIn returns the binaries in dir, or an error wrapping ErrNoBinaries
// that names the missing program.
func binariesIn(dir string) (Binaries, error) {
	b := Binaries{Initdb: filepath.Join(dir, "initdb"), Postgres: filepath.Join(dir, "postgres")}
	for _, p := range []string{b.Initdb, b.Postgres} {
		if !isExecutable(p) {
			return Binaries{}, fmt.Errorf("no executable %s: %w", p, ErrNoBinaries)
		}
	}
	b.Initdb, b.Postgres = absPath(b.Initdb), absPath(b.Postgres)
	return b, nil
}

// debianBinDirs lists /usr/lib/postgresql/<major>/bin, newest major first.
func debianBinDirs() []string {
	dirs, _ := filepath.Glob(debianBinGlob)
	major := func(dir string) float64 {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		if err != nil {
			return -1
		}
		return v
	}
	sort.SliceStable(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	return dirs
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
