// Command holdfast is the post-cutover safety net: `holdfast serve` runs the
// daemon; the other commands talk to its admin API.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := newRoot()
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "holdfast:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "holdfast",
		Short: "The post-cutover safety net for a service that just moved to PostgreSQL",
		Long: `holdfast puts a gateway with a kill switch in front of your service, and keeps
the change ledger of every flip and reload. Run "holdfast demo" to see it work.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.register(root)
	root.AddCommand(
		newServeCmd(),
		newVersionCmd(),
		newFlagsCmd(g),
		newChangesCmd(g),
		newReloadCmd(g),
		newStatusCmd(g),
		newDemoCmd(),
		newMetricsCmd(g),
		newAlarmsCmd(g),
		newRolloutCmd(g),
	)
	return root
}
