package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"holdfast/internal/alarm"
	"holdfast/internal/api"
)

// maxReasonWidth is how much of a reason a table shows; describe shows all.
const maxReasonWidth = 60

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(timeLayout)
}

func newAlarmsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alarms",
		Short: "List and inspect alarms, read their history, set their state to test actions",
	}
	cmd.SetFlagErrorFunc(flagError)
	cmd.AddCommand(newAlarmsListCmd(g), newAlarmsDescribeCmd(g), newAlarmsHistoryCmd(g), newAlarmsSetStateCmd(g))
	return cmd
}

func newAlarmsListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every alarm with its state",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.Alarms(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tUPDATED\tREASON")
			for _, a := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, a.State, formatTime(a.StateUpdated), truncate(a.Reason, maxReasonWidth))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newAlarmsDescribeCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show an alarm's state, reason and definition",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			st, def, err := c.Alarm(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), struct {
					Status     alarm.Status    `json:"status"`
					Definition json.RawMessage `json:"definition"`
				}{st, def})
			}
			return printAlarm(cmd.OutOrStdout(), st, def)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"status\": …, \"definition\": …}")
	return cmd
}

func printAlarm(w io.Writer, st alarm.Status, def json.RawMessage) error {
	kind := "metric alarm"
	if st.Composite {
		kind = "composite alarm"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("Name", st.Name)
	row("Kind", kind)
	row("State", string(st.State))
	row("Since", formatTime(st.StateUpdated))
	row("Reason", st.Reason)
	if len(st.ReasonData) > 0 {
		row("Reason data", api.CompactJSON(st.ReasonData))
	}
	if !st.LastEvaluated.IsZero() {
		row("Last evaluated", formatTime(st.LastEvaluated))
	}
	if !st.NextEvaluation.IsZero() {
		row("Next evaluation", formatTime(st.NextEvaluation))
	}
	row("Last error", st.LastError)
	row("Last skipped", st.LastEvalSkipped)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(def) == 0 || string(def) == "null" {
		return nil
	}
	var buf bytes.Buffer
	buf.WriteString("Definition:\n  ")
	if err := json.Indent(&buf, def, "  ", "  "); err != nil {
		buf.Write(def)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func newAlarmsHistoryCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "Show an alarm's history: state changes and evaluation errors (newest first)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			items, err := c.AlarmHistory(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), items)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tKIND\tCHANGE\tSUMMARY")
			for _, it := range items {
				change := "-"
				if tr := it.Transition; tr != nil {
					change = fmt.Sprintf("%s -> %s", tr.From, tr.To)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", formatTime(it.Time), it.Kind, change, it.Summary)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newAlarmsSetStateCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "set-state NAME ALARM|OK|INSUFFICIENT_DATA --reason TEXT",
		Short: "Set an alarm's state until its next evaluation, to test its actions",
		Long: `Set an alarm's state, as CloudWatch's SetAlarmState does: the alarm's actions
run for the change, and the next evaluation sets the state it computes. Use it
to test actions (webhooks, kill switches), not to silence an alarm.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			state, err := alarm.ParseState(strings.ToUpper(args[1]))
			if err != nil {
				return usageError("alarms set-state %s: %w", args[0], err)
			}
			if strings.TrimSpace(reason) == "" {
				return usageError("alarms set-state %s: --reason is required; it goes into the alarm's history", args[0])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.SetAlarmState(cmd.Context(), args[0], string(state), reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is %s until its next evaluation (since %s)\n", st.Name, st.State, formatTime(st.StateUpdated))
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the alarm's history)")
	return cmd
}
