package okta

import (
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/tickmark-dev/tickmark/collectors"
)

// cursor is what a run checkpoints: where the System Log stream stands, and
// where the departures window ended with the departures already reported
// in the part that the next run reads again.
type cursor struct {
	V      int          `json:"v"`
	Org    string       `json:"org"`
	Log    *logStream   `json:"log,omitempty"`
	Deprov *deprovState `json:"deprov,omitempty"`
}

// logStream is one System Log stream: a polling query with a fixed filter
// and page size. A different filter or page size starts a new stream.
type logStream struct {
	Filter   string `json:"filter"`
	PageSize int    `json:"page_size"`
	Started  string `json:"started"`            // RFC 3339: the stream's since
	Next     string `json:"next,omitempty"`     // Okta's next link, relative to the org
	Complete string `json:"complete,omitempty"` // RFC 3339: every event published before is in the stream
}

// deprovState is the committed end of the departures window and the
// departures reported with a time at or after the next run's re-read start.
type deprovState struct {
	Until string            `json:"until"`          // RFC 3339
	Seen  map[string]string `json:"seen,omitempty"` // user|event -> departure time (RFC 3339)
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// cursorV1 is the cursor of okta/1: a bare next link and window end.
type cursorV1 struct {
	V            int    `json:"v"`
	Org          string `json:"org"`
	LogNext      string `json:"log_next"`
	DeprovsUntil string `json:"deprov_until"`
}

// readCursor reads the request's cursor, migrating okta/1's: its next link
// keeps the stream only if the filter and page size baked into the link
// are the configured ones.
func readCursor(req collectors.Request, org string) cursor {
	cur := cursor{V: 2, Org: org}
	if req.Cursor == "" {
		return cur
	}
	var head struct {
		V   int    `json:"v"`
		Org string `json:"org"`
	}
	if err := json.Unmarshal([]byte(req.Cursor), &head); err != nil || (head.V != 1 && head.V != 2) {
		req.Logger.Warn("ignoring an unreadable cursor; collecting from the backfill start", "since", req.Since)
		return cur
	}
	if head.Org != org {
		req.Logger.Warn("the cursor belongs to another org; collecting from the backfill start", "since", req.Since)
		return cur
	}
	if head.V == 2 {
		_ = json.Unmarshal([]byte(req.Cursor), &cur)
		return cur
	}
	var old cursorV1
	_ = json.Unmarshal([]byte(req.Cursor), &old)
	if old.DeprovsUntil != "" {
		cur.Deprov = &deprovState{Until: old.DeprovsUntil}
	}
	if u, err := url.Parse(old.LogNext); err == nil && old.LogNext != "" {
		n, _ := strconv.Atoi(u.Query().Get("limit"))
		cur.Log = &logStream{Filter: u.Query().Get("filter"), PageSize: n, Next: old.LogNext}
	}
	return cur
}
