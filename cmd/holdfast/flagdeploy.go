package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"holdfast/internal/api"
	"holdfast/internal/flagstore"
)

// newFlagDeployCmds are the versioned-flag subcommands of holdfast flags.
func newFlagDeployCmds(g *globals) []*cobra.Command {
	return []*cobra.Command{newCreateVersionCmd(g), newDeployCmd(g), newFlagStatusCmd(g), newStopCmd(g),
		newRevertCmd(g), newFlagHistoryCmd(g), newEvaluateCmd(g), newRunbookCmd(g)}
}

// clientFor returns the admin client and --env, or the gateway's environment.
func clientFor(ctx context.Context, g *globals, env string) (*api.Client, string, error) {
	c, err := g.client()
	if err != nil || env != "" {
		return c, env, err
	}
	env, err = c.GatewayFlagEnvironment(ctx)
	return c, env, err
}

func newCreateVersionCmd(g *globals) *cobra.Command {
	var file, description string
	cmd := &cobra.Command{
		Use:   "create-version --file DOC --description TEXT",
		Short: "Store a new immutable version of the flag document (validated first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" || strings.TrimSpace(description) == "" {
				return &exitError{2, fmt.Errorf("flags create-version: --file and --description are required")}
			}
			var content []byte
			var err error
			if file == "-" {
				content, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), flagstore.MaxDocumentSize+1))
			} else {
				content, err = os.ReadFile(file)
			}
			if err != nil {
				return &exitError{2, fmt.Errorf("flags create-version: %w", err)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			v, err := c.CreateFlagVersion(cmd.Context(), content, description)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "version %d created: %s\n", v.Number, v.Description)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "the flag document (JSON; - for stdin)")
	cmd.Flags().StringVar(&description, "description", "", "what changes and why (recorded in the change ledger)")
	return cmd
}

func newDeployCmd(g *globals) *cobra.Command {
	var env, strategy, description, growthType, duration, bake string
	var version int
	var growth float64
	cmd := &cobra.Command{
		Use:   "deploy --strategy S [--version N] [--env E]",
		Short: "Deploy a version to an environment by a strategy; monitored alarms roll it back",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.DeployRequest{Version: version, Strategy: strategy, Description: description}
			if growthType != "" || growth != 0 || duration != "" || bake != "" {
				req.Custom = &api.CustomStrategy{GrowthType: growthType, GrowthFactor: growth, DeploymentDuration: duration, FinalBakeTime: bake}
			}
			if req.Strategy == "" && req.Custom == nil {
				return &exitError{2, fmt.Errorf("flags deploy: --strategy is required (AllAtOnce, Linear50PercentEvery30Seconds, Linear20PercentEvery6Minutes, Canary10Percent20Minutes), or a custom one with --growth-type, --growth-factor, --duration, --bake")}
			}
			c, env, err := clientFor(cmd.Context(), g, env)
			if err != nil {
				return err
			}
			d, err := c.DeployFlags(cmd.Context(), env, req)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deployment #%d: %s version %d -> %d by %s; %s at %g%%\n",
				d.Number, env, d.FromVersion, d.ToVersion, d.Strategy, d.State, d.Percent)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "environment [the gateway's]")
	f.IntVar(&version, "version", 0, "version to deploy [the latest]")
	f.StringVar(&strategy, "strategy", "", "a predefined strategy")
	f.StringVar(&description, "description", "", "why (recorded in the change ledger)")
	f.StringVar(&growthType, "growth-type", "", "custom strategy: LINEAR or EXPONENTIAL")
	f.Float64Var(&growth, "growth-factor", 0, "custom strategy: percent per step, above 0 and at most 100")
	f.StringVar(&duration, "duration", "", "custom strategy: deployment duration, e.g. 10m")
	f.StringVar(&bake, "bake", "", "custom strategy: final bake time, e.g. 5m")
	return cmd
}

func newFlagStatusCmd(g *globals) *cobra.Command {
	var env string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--env E]",
		Short: "Environments, the version each serves, and the latest deployment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.FlagEnvironments(cmd.Context())
			if err != nil {
				return err
			}
			if env != "" {
				var one []api.FlagEnvironmentStatus
				for _, e := range list {
					if e.Environment.Name == env {
						one = append(one, e)
					}
				}
				if len(one) == 0 {
					return fmt.Errorf("no flag environment %q", env)
				}
				list = one
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			w := cmd.OutOrStdout()
			for _, e := range list {
				gw := ""
				if e.Gateway {
					gw = " (the gateway's)"
				}
				fmt.Fprintf(w, "%s%s: version %d\n", e.Environment.Name, gw, e.Version)
				mon := strings.Join(e.Environment.Monitors, ", ")
				if mon == "" {
					mon = "none"
				}
				fmt.Fprintf(w, "  monitors: %s; rollback window %s; INSUFFICIENT_DATA: %s\n", mon,
					windowText(e.Environment), policyText(e.Environment))
				if d := e.Latest; d != nil {
					fmt.Fprintf(w, "  deployment #%d: version %d -> %d, %s, %s at %g%%", d.Number, d.FromVersion, d.ToVersion, d.Strategy.Name, d.State, d.Percent)
					if d.IgnoreMonitors {
						fmt.Fprint(w, " (monitors ignored)")
					}
					fmt.Fprintln(w)
					if d.Reason != "" {
						fmt.Fprintf(w, "  reason: %s\n", d.Reason)
					}
				}
				if !e.RevertUntil.IsZero() {
					fmt.Fprintf(w, "  an ALARM reverts it until %s\n", e.RevertUntil.Format(time.RFC3339))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func windowText(e flagstore.Environment) string {
	if w := e.Window(); w > 0 {
		return w.String()
	}
	return "off"
}

func policyText(e flagstore.Environment) string {
	if e.OnInsufficientData == "" {
		return string(flagstore.IgnoreInsufficientData)
	}
	return string(e.OnInsufficientData)
}

func newStopCmd(g *globals) *cobra.Command {
	return endDeploymentCmd(g, "stop", "Stop the deployment in progress: every entity back to the previous version (ROLLED_BACK)",
		(*api.Client).StopFlagDeployment)
}

func newRevertCmd(g *globals) *cobra.Command {
	return endDeploymentCmd(g, "revert", "Revert a completed deployment to the previous version (REVERTED)",
		(*api.Client).RevertFlagDeployment)
}

func endDeploymentCmd(g *globals, name, short string,
	fn func(*api.Client, context.Context, string, string) (flagstore.Deployment, error)) *cobra.Command {
	var env, reason string
	cmd := &cobra.Command{
		Use:   name + " --reason TEXT [--env E]",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return &exitError{2, fmt.Errorf("flags %s: --reason is required; it goes into the change ledger", name)}
			}
			c, env, err := clientFor(cmd.Context(), g, env)
			if err != nil {
				return err
			}
			d, err := fn(c, cmd.Context(), env, reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deployment #%d %s: %s back on version %d\n", d.Number, d.State, env, d.FromVersion)
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment [the gateway's]")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; recorded in the change ledger)")
	return cmd
}

func newFlagHistoryCmd(g *globals) *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "history [--env E]",
		Short: "An environment's deployments, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, env, err := clientFor(cmd.Context(), g, env)
			if err != nil {
				return err
			}
			ds, err := c.FlagDeployments(cmd.Context(), env)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tVERSIONS\tSTRATEGY\tSTATE\tPERCENT\tSTARTED\tBY\tREASON")
			for i := len(ds) - 1; i >= 0; i-- {
				d := ds[i]
				why := d.Reason
				if why == "" {
					why = d.Description
				}
				fmt.Fprintf(tw, "%d\t%d -> %d\t%s\t%s\t%g%%\t%s\t%s\t%s\n", d.Number, d.FromVersion, d.ToVersion, d.Strategy.Name,
					d.State, d.Percent, d.StartedAt.Format("2006-01-02 15:04:05Z07:00"), d.Actor, why)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment [the gateway's]")
	return cmd
}

func newEvaluateCmd(g *globals) *cobra.Command {
	var env, entity string
	var kv []string
	cmd := &cobra.Command{
		Use:   "evaluate NAME [--entity X] [--context k=v]…",
		Short: "Evaluate a flag for an entity and context, as the gateway and OFREP would",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctxVals := map[string]any{}
			for _, p := range kv {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" {
					return &exitError{2, fmt.Errorf("flags evaluate: --context %q: want key=value", p)}
				}
				ctxVals[k] = contextValue(v)
			}
			c, env, err := clientFor(cmd.Context(), g, env)
			if err != nil {
				return err
			}
			res, err := c.EvaluateFlag(cmd.Context(), env, args[0], api.EvaluateRequest{Entity: entity, Context: ctxVals})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (version %d, %s", args[0], onOff(res.Enabled), res.Version, res.Reason)
			if res.Variant != "" {
				fmt.Fprintf(cmd.OutOrStdout(), ", variant %s", res.Variant)
			}
			fmt.Fprintln(cmd.OutOrStdout(), ")")
			for _, k := range sortedAttrKeys(res.Attributes) {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s: %v\n", k, res.Attributes[k])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment [the gateway's]")
	cmd.Flags().StringVar(&entity, "entity", "", "the entity (a client key, user id…)")
	cmd.Flags().StringArrayVar(&kv, "context", nil, "a context value key=value (numbers and true/false are typed)")
	return cmd
}

// contextValue types a --context value: a number, a boolean, or a string.
func contextValue(v string) any {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f
	}
	if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
		return b
	}
	return v
}

func newRunbookCmd(g *globals) *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "runbook NAME [--env E]",
		Short: "What a flag does, who flips it, how, and what happens automatically",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, env, err := clientFor(cmd.Context(), g, env)
			if err != nil {
				return err
			}
			text, err := c.FlagRunbook(cmd.Context(), env, args[0])
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), text)
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment [the gateway's]")
	return cmd
}

func sortedAttrKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
