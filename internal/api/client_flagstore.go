package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"holdfast/internal/flagstore"
)

// SetFlagWithStrategy flips a flag as a monitored deployment.
func (c *Client) SetFlagWithStrategy(ctx context.Context, name string, enabled bool, reason, strategy string) (SetFlagResponse, error) {
	var out SetFlagResponse
	err := c.do(ctx, http.MethodPut, "/api/v1/flags/"+url.PathEscape(name),
		SetFlagRequest{Enabled: &enabled, Reason: reason, Strategy: strategy}, &out)
	return out, err
}

// CreateFlagVersion stores a new version of the flag document.
func (c *Client) CreateFlagVersion(ctx context.Context, content []byte, description string) (flagstore.Version, error) {
	var out flagstore.Version
	err := c.do(ctx, http.MethodPost, "/api/v1/flag-versions",
		FlagVersionRequest{Content: json.RawMessage(content), Description: description}, &out)
	return out, err
}

// FlagVersions lists the versions (without their content).
func (c *Client) FlagVersions(ctx context.Context) ([]flagstore.Version, error) {
	var out struct {
		Versions []flagstore.Version `json:"versions"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/flag-versions", nil, &out)
	return out.Versions, err
}

// FlagEnvironments lists the environments and their state.
func (c *Client) FlagEnvironments(ctx context.Context) ([]FlagEnvironmentStatus, error) {
	var out struct {
		Environments []FlagEnvironmentStatus `json:"environments"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/flag-environments", nil, &out)
	return out.Environments, err
}

// FlagEnvironment returns one environment's state.
func (c *Client) FlagEnvironment(ctx context.Context, env string) (FlagEnvironmentStatus, error) {
	var out FlagEnvironmentStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/flag-environments/"+url.PathEscape(env), nil, &out)
	return out, err
}

// GatewayFlagEnvironment is the environment the gateway reads.
func (c *Client) GatewayFlagEnvironment(ctx context.Context) (string, error) {
	list, err := c.FlagEnvironments(ctx)
	if err != nil {
		return "", err
	}
	for _, e := range list {
		if e.Gateway {
			return e.Environment.Name, nil
		}
	}
	return "", &Error{Status: http.StatusNotFound, Message: "no flag environment is the gateway's"}
}

// FlagDeployments lists an environment's deployments, oldest first.
func (c *Client) FlagDeployments(ctx context.Context, env string) ([]flagstore.Deployment, error) {
	var out struct {
		Deployments []flagstore.Deployment `json:"deployments"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/flag-environments/"+url.PathEscape(env)+"/deployments", nil, &out)
	return out.Deployments, err
}

// DeployFlags starts a deployment.
func (c *Client) DeployFlags(ctx context.Context, env string, req DeployRequest) (flagstore.Deployment, error) {
	var out flagstore.Deployment
	err := c.do(ctx, http.MethodPost, "/api/v1/flag-environments/"+url.PathEscape(env)+"/deployments", req, &out)
	return out, err
}

// StopFlagDeployment stops the deployment in progress (ROLLED_BACK).
func (c *Client) StopFlagDeployment(ctx context.Context, env, reason string) (flagstore.Deployment, error) {
	var out flagstore.Deployment
	err := c.do(ctx, http.MethodPost, "/api/v1/flag-environments/"+url.PathEscape(env)+"/stop", ReasonRequest{Reason: reason}, &out)
	return out, err
}

// RevertFlagDeployment reverts a COMPLETE deployment (REVERTED).
func (c *Client) RevertFlagDeployment(ctx context.Context, env, reason string) (flagstore.Deployment, error) {
	var out flagstore.Deployment
	err := c.do(ctx, http.MethodPost, "/api/v1/flag-environments/"+url.PathEscape(env)+"/revert", ReasonRequest{Reason: reason}, &out)
	return out, err
}

// EvaluateFlag evaluates a flag for an entity and context.
func (c *Client) EvaluateFlag(ctx context.Context, env, flag string, req EvaluateRequest) (flagstore.Result, error) {
	var out flagstore.Result
	err := c.do(ctx, http.MethodPost, "/api/v1/flag-environments/"+url.PathEscape(env)+"/evaluate/"+url.PathEscape(flag), req, &out)
	return out, err
}

// FlagRunbook returns a flag's runbook text.
func (c *Client) FlagRunbook(ctx context.Context, env, flag string) (string, error) {
	var out struct {
		Runbook string `json:"runbook"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/flag-environments/"+url.PathEscape(env)+"/runbook/"+url.PathEscape(flag), nil, &out)
	return out.Runbook, err
}
