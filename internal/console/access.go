package console

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tickmark-dev/tickmark/internal/evidence"
)

// AccessEvent is one recorded access: who saw or downloaded what, when.
type AccessEvent struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Role   Role      `json:"role,omitempty"`
	Action string    `json:"action"` // view_artifact, download_body, view_proof, download_proof, download_population, download_package, sign_in, ...
	Agent  string    `json:"agent,omitempty"`
	Seq    *uint64   `json:"seq,omitempty"`
	Type   string    `json:"evidence_type,omitempty"`
	SHA256 string    `json:"sha256,omitempty"`
	Window string    `json:"window,omitempty"`
	Path   string    `json:"path"`
	Remote string    `json:"remote,omitempty"`
}

// AccessRecorder records accesses as evidence (the console's own ledger).
type AccessRecorder interface {
	RecordAccess(ctx context.Context, e AccessEvent) error
}

type accessTarget struct {
	agent  string
	record *evidence.Record
	window *Window
	typ    string
}

// access writes one event to the access log and, when the console has a
// ledger of its own, records it as evidence.
func (s *Server) access(r *http.Request, u *User, action string, t *accessTarget) {
	e := AccessEvent{Time: s.now().UTC(), Action: action, Path: r.URL.RequestURI()}
	if strings.HasPrefix(r.URL.Path, "/auth/") {
		e.Path = r.URL.Path // never the authorization code or state
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.Remote = host
	}
	if u != nil {
		e.User, e.Role = u.Who(), u.Role
	}
	if t != nil {
		e.Agent, e.Type = t.agent, t.typ
		if t.record != nil {
			seq := t.record.Seq
			e.Seq, e.Type, e.SHA256 = &seq, t.record.Type, t.record.SHA256
		}
		if t.window != nil {
			e.Window = t.window.String()
		}
	}
	attrs := []any{"user", e.User, "role", string(e.Role), "action", e.Action, "path", e.Path, "remote", e.Remote}
	if e.Agent != "" {
		attrs = append(attrs, "agent", e.Agent)
	}
	if e.Seq != nil {
		attrs = append(attrs, "seq", *e.Seq, "evidence_type", e.Type, "sha256", e.SHA256)
	} else if e.Type != "" {
		attrs = append(attrs, "evidence_type", e.Type)
	}
	if e.Window != "" {
		attrs = append(attrs, "window", e.Window)
	}
	s.alog.Info("access", attrs...)
	s.acc.WithLabelValues(action).Inc()
	if s.cfg.Recorder != nil {
		if err := s.cfg.Recorder.RecordAccess(r.Context(), e); err != nil {
			s.log.Error("console: recording an access as evidence failed", "action", action, "err", err)
		}
	}
}
