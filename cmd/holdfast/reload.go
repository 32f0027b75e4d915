package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func newReloadCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Reload the daemon's config file (rejected whole if invalid)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Reload(cmd.Context(), reason); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "config reloaded")
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the change ledger)")
	return cmd
}

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's routes, targets, health and flags (JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			raw, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := json.Indent(&buf, raw, "", "  "); err != nil {
				return err
			}
			buf.WriteByte('\n')
			_, err = cmd.OutOrStdout().Write(buf.Bytes())
			return err
		},
	}
}
