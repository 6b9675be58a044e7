package runner

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/ledger"
)

// A collector whose API echoes its token in an error body, and which logs
// that body: neither the error the runner returns, nor the run in the
// ledger, nor the log holds the token in any encoding; the error keeps its
// class and its length is bounded.
func TestCollectorErrorsAndLogsAreScrubbed(t *testing.T) {
	const token = "api-TOKEN-0123456789/+="
	t.Setenv("RUNNER_TEST_TOKEN", token)
	sec, err := collectors.NewSecret("env:RUNNER_TEST_TOKEN") // as a config's secret field resolves it
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	r := testRunner(t)
	r.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	body := fmt.Sprintf(`{"error":"invalid token %s","auth":"Basic %s","retry":"/v1?t=%s"}`,
		sec.Value(), base64.StdEncoding.EncodeToString([]byte("svc:"+sec.Value())), url.QueryEscape(sec.Value()))
	res := r.RunOne(context.Background(), instance("leaky", func(ctx context.Context, req collectors.Request, emit collectors.Emitter) error {
		req.Logger.Debug("API answered 503", "body", body)
		return collectors.Retryable(fmt.Errorf("GET /v1/users: 503: %s%s", body, strings.Repeat(" padding", 5000)))
	}))
	if res.Err == nil || !collectors.IsRetryable(res.Err) {
		t.Fatalf("err = %v; want the retryable failure kept", res.Err)
	}
	if len(res.Err.Error()) > maxErrorText {
		t.Errorf("the error is %d bytes; want at most %d", len(res.Err.Error()), maxErrorText)
	}
	var run *ledger.Run
	if err := r.Ledger.Runs("leaky", res.Started, res.Finished.Add(1), func(x *ledger.Run) error { run = x; return nil }); err != nil || run == nil {
		t.Fatalf("run not recorded: %v", err)
	}
	if len(run.Error) > maxRunError || !run.Retryable || !strings.Contains(run.Error, "[REDACTED]") {
		t.Errorf("recorded run: %d bytes, retryable %v: %.200s", len(run.Error), run.Retryable, run.Error)
	}
	forms := []string{token, base64.StdEncoding.EncodeToString([]byte("svc:" + token))[4:24], url.QueryEscape(token)}
	for where, text := range map[string]string{"error": res.Err.Error(), "ledger run": run.Error, "log": logs.String()} {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("the %s holds the token (%q)", where, f)
			}
		}
	}
	if !strings.Contains(logs.String(), "API answered 503") {
		t.Errorf("the collector's log line is missing: %s", logs.String())
	}
}
