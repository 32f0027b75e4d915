package pgcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// confFile is written next to postgresql.conf and included from its end, so
// its settings win over initdb's defaults.
const confFile = "holdfast.conf"

// settingName is what a postgresql.conf parameter name may look like
// (including custom "extension.name" parameters).
var settingName = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)

// settings returns the server configuration for a throwaway cluster: local
// TCP only, scram passwords, pg_stat_statements, and durability traded for
// speed. extra is applied last.
func settings(port, maxConns int, extra map[string]string) []setting {
	s := []setting{
		{"listen_addresses", "127.0.0.1"},
		{"port", fmt.Sprint(port)},
		{"unix_socket_directories", ""},
		{"max_connections", fmt.Sprint(maxConns)},
		{"password_encryption", "scram-sha-256"},
		{"shared_preload_libraries", "pg_stat_statements"},
		// A throwaway cluster: losing it in a crash costs nothing.
		{"fsync", "off"},
		{"synchronous_commit", "off"},
		{"full_page_writes", "off"},
		// stderr is the log file the parent opened for the server.
		{"log_destination", "stderr"},
		{"logging_collector", "off"},
		{"log_line_prefix", "%m [%p] %q%u@%d "},
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s = append(s, setting{k, extra[k]})
	}
	return s
}

type setting struct{ name, value string }

func validateSettings(extra map[string]string) error {
	for k := range extra {
		if !settingName.MatchString(k) {
			return fmt.Errorf("Settings[%q]: not a postgresql.conf parameter name", k)
		}
	}
	return nil
}

// writeConf writes the settings to data/holdfast.conf (every value quoted,
// which PostgreSQL accepts for any type) and, the first time, includes that
// file from the end of data/postgresql.conf.
func writeConf(dataDir string, s []setting, acct *account) error {
	var b strings.Builder
	b.WriteString("# Written by holdfast pgcluster for a throwaway cluster; durability is off.\n")
	for _, kv := range s {
		fmt.Fprintf(&b, "%s = '%s'\n", kv.name, strings.ReplaceAll(kv.value, "'", "''"))
	}
	path := filepath.Join(dataDir, confFile)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := chown(path, acct); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}

	main := filepath.Join(dataDir, "postgresql.conf")
	cur, err := os.ReadFile(main)
	if err != nil {
		return fmt.Errorf("read %s: %w", main, err)
	}
	include := "include '" + confFile + "'\n"
	if strings.Contains(string(cur), include) {
		return nil
	}
	f, err := os.OpenFile(main, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", main, err)
	}
	if _, err := f.WriteString("\n" + include); err != nil {
		f.Close()
		return fmt.Errorf("append to %s: %w", main, err)
	}
	return f.Close()
}
