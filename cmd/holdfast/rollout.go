package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"holdfast/internal/api"
	"holdfast/internal/rollout"
)

func newRolloutCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Canary and linear rollouts of a new version that roll themselves back",
	}
	cmd.SetFlagErrorFunc(flagError)
	cmd.AddCommand(newRolloutStartCmd(g), newRolloutStatusCmd(g), newRolloutWatchCmd(g), newRolloutHistoryCmd(g))
	for _, a := range []struct{ action, short string }{
		{api.RolloutAbort, "Stop the rollout and put all traffic back on stable at once"},
		{api.RolloutPause, "Hold the current step (alarms and analysis still roll back)"},
		{api.RolloutResume, "Continue a paused rollout"},
		{api.RolloutPromote, "Skip the remaining steps: 100% to the candidate, then it becomes stable"},
	} {
		cmd.AddCommand(newRolloutActionCmd(g, a.action, a.short))
	}
	return cmd
}

func newRolloutStartCmd(g *globals) *cobra.Command {
	var req api.RolloutStartRequest
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "start ROUTE --candidate URL|UPSTREAM [--strategy S]",
		Short: "Start shifting a route's traffic to a candidate",
		Long: `Start shifting a route's traffic from its stable target to a candidate: an
upstream of the config, or a URL. Strategies: ` + strings.Join(rollout.PredefinedNames(), ", ") + `,
canary:PCT%:INTERVAL, linear:PCT%:INTERVAL or steps:PCT%:DURATION,... (default:
the route's rollout.strategy). Everything is checked before any traffic moves.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(req.Candidate) == "" {
				return usageError("rollout start %s: --candidate is required (an upstream name or a URL)", args[0])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.StartRollout(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s started: %s -> %s with %s (%d steps); watch it with: holdfast rollout watch %s\n",
				st.ID, st.Stable, st.Candidate, st.Strategy, len(st.Steps), st.Route)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Candidate, "candidate", "", "the new version: an upstream name or an http(s) URL (required)")
	cmd.Flags().StringVar(&req.Strategy, "strategy", "", "strategy name or spec (default: the route's rollout.strategy)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (recorded in the change ledger)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rollout's status as JSON")
	return cmd
}

func newRolloutStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [ROUTE]",
		Short: "Show a route's latest rollout, or every route's",
		Args:  usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				st, err := c.Rollout(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(out, st)
				}
				_, err = io.WriteString(out, rollout.Render(st, termWidth()))
				return err
			}
			list, err := c.Rollouts(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(out, list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROUTE\tSTATE\tCANDIDATE%\tSTABLE\tCANDIDATE\tSTRATEGY\tID")
			for _, st := range list {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%s\n", st.Route, st.State, st.CandidatePercent, st.Stable, st.Candidate, st.Strategy, st.ID)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newRolloutWatchCmd(g *globals) *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "watch ROUTE",
		Short: "Follow a rollout until it ends: a live progress view on a terminal, one line per change otherwise",
		Long: `Follow a route's rollout until it ends. On a terminal it redraws a progress bar
of the candidate's share, the steps with their timers and analysis verdicts,
and the latest events; otherwise it prints one line whenever something changes.
Exit status: 0 when the candidate was promoted, 1 when it was rolled back or aborted.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if every <= 0 {
				return usageError("rollout watch: --interval must be positive")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			tty := isTerminal(out)
			last := ""
			for {
				st, err := c.Rollout(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if tty {
					fmt.Fprint(out, "\x1b[H\x1b[2J"+rollout.Render(st, termWidth()))
				} else if line := rollout.Line(st); stripTime(line) != last {
					fmt.Fprintln(out, line)
					last = stripTime(line)
				}
				if st.State.Terminal() {
					if st.State == rollout.StatePromoted {
						return nil
					}
					return fmt.Errorf("rollout %s %s: %s", st.ID, st.State, st.Reason)
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(every):
				}
			}
		},
	}
	cmd.Flags().DurationVar(&every, "interval", 500*time.Millisecond, "how often to ask the daemon")
	return cmd
}

// stripTime drops Line's leading clock so that only changes are printed.
func stripTime(line string) string {
	_, rest, _ := strings.Cut(line, " ")
	return rest
}

func newRolloutActionCmd(g *globals, action, short string) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   action + " ROUTE [--reason TEXT]",
		Short: short,
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.RolloutAction(cmd.Context(), args[0], action, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: %s, %v%% on %s\n", st.ID, st.State, st.CandidatePercent, st.Candidate)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the change ledger)")
	return cmd
}

func newRolloutHistoryCmd(g *globals) *cobra.Command {
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history ROUTE",
		Short: "Every rollout step of a route from the change ledger, newest first",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.RolloutHistory(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tACTION\tACTOR\tREASON")
			for _, ch := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", ch.ID, ch.Time.Format("2006-01-02 15:04:05.000Z07:00"), ch.Action, ch.Actor, ch.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many entries")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// termWidth is $COLUMNS, else 100.
func termWidth() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 100
}
