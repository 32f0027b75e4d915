package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newFlagsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flags",
		Short: "List, read and flip flags (kill switches); versions, deployments, OFREP evaluation",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List every flag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			fl, err := c.Flags(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVALUE\tVERSION\tUPDATED\tBY")
			for _, f := range fl {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.Name, onOff(f.Enabled), f.Version, f.UpdatedAt.Format("2006-01-02 15:04:05Z07:00"), f.UpdatedBy)
			}
			return tw.Flush()
		},
	}
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one flag",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			f, err := c.Flag(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (version %d, by %s at %s)\n", f.Name, onOff(f.Enabled), f.Version, f.UpdatedBy, f.UpdatedAt.Format("2006-01-02 15:04:05Z07:00"))
			return nil
		},
	}
	var reason, strategy string
	set := &cobra.Command{
		Use:   "set NAME on|off --reason TEXT",
		Short: "Flip a flag; the gateway applies it within a second",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch strings.ToLower(args[1]) {
			case "on", "true", "1":
				on = true
			case "off", "false", "0":
			default:
				return &exitError{2, fmt.Errorf("flags set %s: want on or off, got %q", args[0], args[1])}
			}
			if strings.TrimSpace(reason) == "" {
				return &exitError{2, fmt.Errorf("flags set %s: --reason is required; it goes into the change ledger", args[0])}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.SetFlagWithStrategy(cmd.Context(), args[0], on, reason, strategy)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is %s (version %d); change #%d recorded\n", res.Flag.Name, onOff(res.Flag.Enabled), res.Flag.Version, res.Change.ID)
			return nil
		},
	}
	set.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the change ledger)")
	set.Flags().StringVar(&strategy, "strategy", "", "deploy the flip by this strategy, watched by the environment's alarms [instant, not rolled back by alarms]")
	cmd.AddCommand(list, get, set)
	cmd.AddCommand(newFlagDeployCmds(g)...)
	return cmd
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
