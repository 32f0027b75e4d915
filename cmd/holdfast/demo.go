package main

import (
	"github.com/spf13/cobra"

	"holdfast/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var opts demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run everything on this machine: PostgreSQL, the orders service (mock and real), the daemon, traffic, kill-switch flips",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Out = cmd.OutOrStdout()
			return demo.Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Phase, "phase", 0, "how long each phase (real, kill switch off, real again) runs (default 3s)")
	cmd.Flags().BoolVar(&opts.Keep, "keep", false, "keep running after the scripted flips until Ctrl-C")
	return cmd
}
