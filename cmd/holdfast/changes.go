package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"holdfast/internal/api"
)

func newChangesCmd(g *globals) *cobra.Command {
	var kind, subject string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "changes",
		Short: "List the change ledger: what changed, who, when and why (newest first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.Changes(cmd.Context(), kind, subject, limit)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tKIND\tSUBJECT\tACTION\tACTOR\tREASON\tDETAIL")
			for _, ch := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ch.ID, ch.Time.Format("2006-01-02 15:04:05.000Z07:00"),
					ch.Kind, ch.Subject, ch.Action, ch.Actor, ch.Reason, api.CompactJSON(ch.Detail))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "only this kind (flag, config)")
	cmd.Flags().StringVar(&subject, "subject", "", "only this subject (a flag name, a config file)")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many entries")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
