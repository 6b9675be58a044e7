package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Alert is a check that went from passing (or no result yet) to failing.
type Alert struct {
	Check       string      `json:"check"`
	Title       string      `json:"title"`
	Controls    []string    `json:"controls"`
	Previous    string      `json:"previous_status"`
	Status      string      `json:"status"`
	Exceptions  int         `json:"exceptions"`
	Population  int         `json:"population"`
	EvaluatedAt time.Time   `json:"evaluated_at"`
	Examples    []Exception `json:"examples"`
}

// Transitions returns an alert for each result that fails where the
// check's previous result (prev: check ID -> status) did not: a check
// failing run after run alerts once, when it starts failing.
func Transitions(prev map[string]string, results []*Result) []Alert {
	var out []Alert
	for _, r := range results {
		if r.Status != StatusFail || prev[r.Check.ID] == StatusFail {
			continue
		}
		p := prev[r.Check.ID]
		if p == "" {
			p = "none"
		}
		ex := r.Exceptions
		if len(ex) > 5 {
			ex = ex[:5]
		}
		out = append(out, Alert{Check: r.Check.ID, Title: r.Check.Title, Controls: r.Check.Controls, Previous: p, Status: r.Status,
			Exceptions: r.ExceptionCount, Population: r.Population, EvaluatedAt: r.EvaluatedAt, Examples: ex})
	}
	return out
}

// Alerter delivers alerts: a log line each, and a POST to the webhook if
// one is configured. A failed POST is logged, not retried: alerts are at
// most once per transition, and the failing result stays in the evidence.
type Alerter struct {
	Logger *slog.Logger
	URL    string // "" = no webhook
	Format string // json (default), slack, teams
	Client *http.Client
}

// Send logs and posts each alert.
func (al *Alerter) Send(ctx context.Context, alerts []Alert) {
	log := al.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, a := range alerts {
		log.Warn("check failing", "check", a.Check, "previous", a.Previous, "exceptions", a.Exceptions, "population", a.Population, "control", strings.Join(a.Controls, ","))
		if al.URL == "" {
			continue
		}
		body, err := Payload(a, al.Format)
		if err != nil {
			log.Error("check alert webhook", "check", a.Check, "err", err)
			continue
		}
		if err := al.post(ctx, body); err != nil {
			log.Error("check alert webhook failed; the alert is not retried", "check", a.Check, "err", err)
		}
	}
}

func (al *Alerter) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, al.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the request: %w", redact(err, al.URL))
	}
	req.Header.Set("Content-Type", "application/json")
	c := al.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return redact(err, al.URL)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}

// redact keeps a webhook URL (which carries its credential) out of errors.
func redact(err error, url string) error {
	if url == "" {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), url, "<webhook url>"))
}

// Payload is an alert's webhook body: the alert as JSON ("json"), a Slack
// incoming-webhook message ("slack": {"text": ...}) or a Microsoft Teams
// incoming-webhook MessageCard ("teams").
func Payload(a Alert, format string) ([]byte, error) {
	text := fmt.Sprintf("tickmark: check %s (%s) is failing: %d exception%s in %d item%s (controls %s; was %s)",
		a.Check, a.Title, a.Exceptions, plural(a.Exceptions), a.Population, plural(a.Population), strings.Join(a.Controls, ", "), a.Previous)
	var lines []string
	for _, e := range a.Examples {
		lines = append(lines, "• "+e.Key+": "+e.Message)
	}
	switch format {
	case "", "json":
		return json.Marshal(a)
	case "slack":
		return json.Marshal(map[string]any{"text": strings.Join(append([]string{text}, lines...), "\n")})
	case "teams":
		return json.Marshal(map[string]any{"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": "tickmark: " + a.Check + " failing",
			"themeColor": "D70000", "title": "Check " + a.Check + " is failing", "text": text + "\n\n" + strings.Join(lines, "\n\n")})
	}
	return nil, fmt.Errorf("unknown webhook format %q", format)
}
