package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"holdfast/internal/alarm"
	"holdfast/internal/metrics"
)

// PutMetricData stores a PutMetricData request (CloudWatch's JSON shape) and
// returns how many data the daemon stored. The daemon stores all of it or,
// when any datum is invalid, none of it.
func (c *Client) PutMetricData(ctx context.Context, in metrics.PutMetricDataInput) (int, error) {
	var out struct {
		Stored int `json:"stored"`
	}
	err := c.do(ctx, http.MethodPut, "/api/v1/metrics", in, &out)
	return out.Stored, err
}

// GetMetricData runs a GetMetricData request (CloudWatch's JSON shape).
func (c *Client) GetMetricData(ctx context.Context, in metrics.GetMetricDataInput) (metrics.GetMetricDataOutput, error) {
	var out metrics.GetMetricDataOutput
	err := c.do(ctx, http.MethodPost, "/api/v1/metrics/data", in, &out)
	return out, err
}

// ListMetrics lists the stored metrics, optionally only those in namespace
// and those whose name contains name.
func (c *Client) ListMetrics(ctx context.Context, namespace, name string) ([]metrics.MetricJSON, error) {
	q := url.Values{}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	if name != "" {
		q.Set("name", name)
	}
	path := "/api/v1/metrics"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Metrics []metrics.MetricJSON `json:"metrics"`
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Metrics, err
}

// Alarms lists the status of every alarm.
func (c *Client) Alarms(ctx context.Context) ([]alarm.Status, error) {
	var out struct {
		Alarms []alarm.Status `json:"alarms"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/alarms", nil, &out)
	return out.Alarms, err
}

// Alarm returns one alarm's status and its definition as the daemon holds it.
func (c *Client) Alarm(ctx context.Context, name string) (alarm.Status, json.RawMessage, error) {
	var out struct {
		Status     alarm.Status    `json:"status"`
		Definition json.RawMessage `json:"definition"`
	}
	err := c.do(ctx, http.MethodGet, clientAlarmPath(name), nil, &out)
	return out.Status, out.Definition, err
}

// AlarmHistory returns one alarm's history, newest first.
func (c *Client) AlarmHistory(ctx context.Context, name string) ([]alarm.HistoryItem, error) {
	var out struct {
		History []alarm.HistoryItem `json:"history"`
	}
	err := c.do(ctx, http.MethodGet, clientAlarmPath(name)+"/history", nil, &out)
	return out.History, err
}

// SetAlarmState sets an alarm's state until its next evaluation, as
// CloudWatch's SetAlarmState does; use it to test the alarm's actions.
func (c *Client) SetAlarmState(ctx context.Context, name, state, reason string) (alarm.Status, error) {
	body := struct {
		State  string `json:"state"`
		Reason string `json:"reason"`
	}{State: state, Reason: reason}
	var out struct {
		Status alarm.Status `json:"status"`
	}
	err := c.do(ctx, http.MethodPut, clientAlarmPath(name)+"/state", body, &out)
	return out.Status, err
}

func clientAlarmPath(name string) string {
	return "/api/v1/alarms/" + url.PathEscape(name)
}
