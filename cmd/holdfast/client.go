package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"holdfast/internal/api"
	"holdfast/internal/config"
)

// globals are the flags every admin command shares.
type globals struct {
	admin     string
	token     string
	tokenFile string
	dataDir   string
}

func (g *globals) register(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.admin, "admin", envOr("HOLDFAST_ADMIN", "http://"+config.DefaultAdminListen), "admin API URL (env HOLDFAST_ADMIN)")
	pf.StringVar(&g.token, "token", "", "admin token (default: env HOLDFAST_TOKEN, else the token file)")
	pf.StringVar(&g.tokenFile, "token-file", "", "admin token file (default: DATA_DIR/admin.token)")
	pf.StringVar(&g.dataDir, "data-dir", envOr("HOLDFAST_DATA_DIR", config.DefaultDataDir), "data directory, where the token file is (env HOLDFAST_DATA_DIR)")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// client builds an admin API client from the flags, the environment and
// the token file, in that order.
func (g *globals) client() (*api.Client, error) {
	tok := g.token
	if tok == "" {
		tok = os.Getenv("HOLDFAST_TOKEN")
	}
	if tok == "" {
		path := g.tokenFile
		if path == "" {
			path = filepath.Join(g.dataDir, "admin.token")
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no admin token: pass --token, set HOLDFAST_TOKEN, or point --data-dir/--token-file at the daemon's token file (%s does not exist)", path)
		}
		if err != nil {
			return nil, fmt.Errorf("read admin token: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	admin := g.admin
	if !strings.Contains(admin, "://") {
		admin = "http://" + admin
	}
	return &api.Client{BaseURL: admin, Token: tok, Actor: whoami()}, nil
}

func whoami() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		return name
	}
	return name + "@" + host
}
