package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"holdfast/internal/rollout"
	"holdfast/internal/state"
)

// StartRollout starts a rollout on a route.
func (c *Client) StartRollout(ctx context.Context, route string, req RolloutStartRequest) (rollout.Status, error) {
	var out rollout.Status
	err := c.do(ctx, http.MethodPost, "/api/v1/rollouts/"+url.PathEscape(route), req, &out)
	return out, err
}

// Rollout returns the latest rollout of a route.
func (c *Client) Rollout(ctx context.Context, route string) (rollout.Status, error) {
	var out rollout.Status
	err := c.do(ctx, http.MethodGet, "/api/v1/rollouts/"+url.PathEscape(route), nil, &out)
	return out, err
}

// Rollouts returns the latest rollout of every route.
func (c *Client) Rollouts(ctx context.Context) ([]rollout.Status, error) {
	var out struct {
		Rollouts []rollout.Status `json:"rollouts"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/rollouts", nil, &out)
	return out.Rollouts, err
}

// RolloutAction aborts, pauses, resumes or promotes a route's rollout.
func (c *Client) RolloutAction(ctx context.Context, route, action, reason string) (rollout.Status, error) {
	var out rollout.Status
	err := c.do(ctx, http.MethodPost, "/api/v1/rollouts/"+url.PathEscape(route)+"/"+url.PathEscape(action), RolloutActionRequest{Reason: reason}, &out)
	return out, err
}

// RolloutHistory returns a route's rollout ledger entries, newest first.
func (c *Client) RolloutHistory(ctx context.Context, route string, limit int) ([]state.Change, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Changes []state.Change `json:"changes"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/rollouts/"+url.PathEscape(route)+"/history?"+q.Encode(), nil, &out)
	return out.Changes, err
}
