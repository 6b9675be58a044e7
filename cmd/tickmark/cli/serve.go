package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/app"
	"github.com/tickmark-dev/tickmark/internal/console"
	"github.com/tickmark-dev/tickmark/internal/controls"
	"github.com/tickmark-dev/tickmark/internal/store"
	"github.com/tickmark-dev/tickmark/internal/storeview"
)

type serveFlags struct {
	listen, metricsListen    string
	fromStore                bool
	agent                    string
	issuer, clientID         string
	clientSecret, redirect   string
	groupsClaim, sessionKey  string
	complianceGroups         []string
	complianceEmails         []string
	auditorGroups            []string
	auditorEmails            []string
	auditorWindows           []string
	accessLog                string
	accessEvidence           bool
	accessFlush              time.Duration
	refresh, shutdownTimeout time.Duration
}

// newServeCmd builds `tickmark serve` (listed in root.go).
func newServeCmd(e *env) *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the read-only web console: coverage, artifacts, proofs and auditor packages",
		Long: `Serve a read-only web console over the evidence: with --from-store every
agent's published log in the bucket (read-only credentials are enough),
otherwise the local ledger. Pages: a dashboard per observation window
(coverage of every control, gaps by cause, collectors that stopped
reporting), a page per control (its period calendar, criteria with ISO
27001 and NIST CSF crosswalks, owner, evidence types, collectors), the
artifact list with filters and paging, each artifact with a preview, its
exact bytes and its verification computed when viewed, populations and
seeded samples, and the auditor package (the bytes of ` + "`tickmark export`" + `,
streamed). See docs/console.md.

Sign-in is OpenID Connect (--oidc-issuer ...): users in a --compliance-*
group or list see everything; users in an --auditor-* group or list see
only the --auditor-window windows. Without OIDC the console serves only on
a loopback address (anything else is refused) and every request is the
local operator's. Every artifact view and download and every package is
written to the access log (--access-log, JSON lines).

The local ledger is opened read-only with a shared lock: an agent cannot
commit while the console holds it. On a machine where the agent runs, use
--from-store.`,
		Example: `  tickmark serve --from-store                       # http://127.0.0.1:8080, no sign-in
  tickmark serve --from-store --listen :8080 \
    --oidc-issuer https://login.example.com --oidc-client-id tickmark \
    --oidc-client-secret env:OIDC_CLIENT_SECRET \
    --oidc-redirect-url https://evidence.example.com/auth/callback \
    --compliance-group grc --auditor-email auditor@cpa.example \
    --auditor-window 2026-01-01..2026-06-30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return e.serve(f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to serve the console on (loopback only without OIDC)")
	fl.StringVar(&f.metricsListen, "metrics-listen", "", "address to serve /metrics and /healthz on, without sign-in (e.g. :9090; default: none)")
	fl.BoolVar(&f.fromStore, "from-store", false, "read every agent's published log in the bucket (no local ledger)")
	fl.StringVar(&f.agent, "agent", "", "with --from-store: only this agent")
	fl.StringVar(&f.issuer, "oidc-issuer", "", "OpenID Connect issuer URL (enables sign-in)")
	fl.StringVar(&f.clientID, "oidc-client-id", "", "OIDC client ID")
	fl.StringVar(&f.clientSecret, "oidc-client-secret", "", "OIDC client secret: env:NAME or file:/path")
	fl.StringVar(&f.redirect, "oidc-redirect-url", "", "the console's callback URL as browsers reach it, ending in /auth/callback")
	fl.StringVar(&f.groupsClaim, "oidc-groups-claim", "groups", "ID token claim listing the user's groups")
	fl.StringVar(&f.sessionKey, "session-key", "", "key that signs session cookies, shared by replicas: env:NAME or file:/path (default: random per process)")
	fl.StringArrayVar(&f.complianceGroups, "compliance-group", nil, "group whose members get the compliance role (repeatable)")
	fl.StringArrayVar(&f.complianceEmails, "compliance-email", nil, "email that gets the compliance role (repeatable)")
	fl.StringArrayVar(&f.auditorGroups, "auditor-group", nil, "group whose members get the auditor role (repeatable)")
	fl.StringArrayVar(&f.auditorEmails, "auditor-email", nil, "email that gets the auditor role (repeatable)")
	fl.StringArrayVar(&f.auditorWindows, "auditor-window", nil, "observation window auditors may see, FROM..TO (repeatable)")
	fl.StringVar(&f.accessLog, "access-log", "", "append the access log (JSON lines) to this file (default: the process log)")
	fl.BoolVar(&f.accessEvidence, "access-evidence", false, "with --from-store: also record every access as evidence ("+console.AccessEvidenceType+") in the console's own ledger (agent.id and agent.data_dir of --config), signed and pushed to the store")
	fl.DurationVar(&f.accessFlush, "access-flush", time.Minute, "with --access-evidence: how often accesses are committed, signed and pushed")
	fl.DurationVar(&f.refresh, "refresh", 5*time.Minute, "how often to re-read the evidence (0: never)")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to let requests finish on shutdown")
	return c
}

func secretFlag(name, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	s, err := collectors.NewSecret(ref)
	if err != nil {
		return "", usageErr(fmt.Errorf("--%s: %w", name, err), "secrets are references: env:NAME or file:/path")
	}
	return s.Value(), nil
}

func (e *env) serve(f serveFlags) error {
	withOIDC := f.issuer != ""
	if err := console.CheckListen(f.listen, withOIDC); err != nil {
		return usageErr(err, "configure OIDC sign-in (--oidc-issuer ...), or listen on 127.0.0.1")
	}
	var windows []console.Window
	for _, s := range f.auditorWindows {
		w, err := console.ParseWindowSpec(s)
		if err != nil {
			return usageErr(fmt.Errorf("--auditor-window: %w", err), "")
		}
		windows = append(windows, w)
	}
	var oidcCfg *console.OIDC
	if withOIDC {
		secret, err := secretFlag("oidc-client-secret", f.clientSecret)
		if err != nil {
			return err
		}
		if f.clientID == "" || f.redirect == "" {
			return usageErr(errors.New("--oidc-issuer needs --oidc-client-id and --oidc-redirect-url"), "")
		}
		if len(f.complianceGroups)+len(f.complianceEmails)+len(f.auditorGroups)+len(f.auditorEmails) == 0 {
			return usageErr(errors.New("OIDC sign-in is configured but no group or email has a role"), "add --compliance-group or --compliance-email (and --auditor-* for auditors)")
		}
		if len(f.auditorGroups)+len(f.auditorEmails) > 0 && len(windows) == 0 {
			return usageErr(errors.New("auditors are configured but no --auditor-window"), "auditors see only the configured observation windows, e.g. --auditor-window 2026-01-01..2026-06-30")
		}
		oidcCfg = &console.OIDC{Issuer: f.issuer, ClientID: f.clientID, ClientSecret: secret, RedirectURL: f.redirect, GroupsClaim: f.groupsClaim}
	} else if len(f.complianceGroups)+len(f.complianceEmails)+len(f.auditorGroups)+len(f.auditorEmails) > 0 {
		return usageErr(errors.New("roles are configured but no --oidc-issuer"), "")
	}
	key, err := secretFlag("session-key", f.sessionKey)
	if err != nil {
		return err
	}
	if key != "" && len(key) < 32 {
		return usageErr(errors.New("--session-key: at least 32 bytes"), "e.g. head -c 32 /dev/urandom | base64")
	}
	if f.agent != "" && !f.fromStore {
		return usageErr(errors.New("--agent needs --from-store"), "")
	}
	if f.accessEvidence && !f.fromStore {
		return usageErr(errors.New("--access-evidence needs --from-store"), "the console records accesses in a ledger of its own; it cannot write the ledger it reads")
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	log := e.logger(cfg)
	set, err := controls.Load(cfg.Controls.File)
	if err != nil {
		return usageErr(err, "check controls.file in "+cfg.Path)
	}
	alog := log
	if f.accessLog != "" {
		af, err := os.OpenFile(f.accessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return usageErr(fmt.Errorf("--access-log: %w", err), "")
		}
		defer af.Close()
		alog = slog.New(slog.NewJSONHandler(af, nil))
	}
	ccfg := console.Config{Controls: set, Producers: producers(cfg), Checks: checksByControl(cfg), OIDC: oidcCfg, AuditorWindows: windows, SessionKey: []byte(key),
		Access: console.Access{ComplianceGroups: f.complianceGroups, ComplianceEmails: f.complianceEmails, AuditorGroups: f.auditorGroups, AuditorEmails: f.auditorEmails},
		Logger: log, AccessLog: alog, Refresh: f.refresh, TempDir: os.TempDir(), Now: e.now}
	if t := cfg.TimestampAuthority; t != nil {
		if ccfg.TSARoots, err = t.Roots(); err != nil {
			return usageErr(err, "")
		}
	}
	if f.fromStore {
		scfg := cfg.Store
		scfg.Logger = log
		st, err := store.Open(e.ctx, scfg)
		if err != nil {
			return failErr(fmt.Errorf("opening %s store: %w", cfg.Store.Type, err), "check the store section and the credentials")
		}
		defer st.Close()
		ccfg.Open = console.BucketOpener(&storeview.View{Bucket: store.NewBucket(st, cfg.Store.Prefix)}, f.agent)
	} else {
		ccfg.Open = console.LedgerOpener(func(ctx context.Context) (*app.App, error) {
			return app.Open(ctx, cfg, app.Options{Logger: log, ReadOnly: true})
		})
	}
	var rec *console.AccessLedger
	if f.accessEvidence {
		if rec, err = console.NewAccessLedger(cfg, log); err != nil {
			return failErr(err, "")
		}
		defer rec.Close()
		// Accesses of a previous process still in the spool go first; this
		// also proves the ledger and store are writable before serving.
		if _, err := rec.Flush(e.ctx); err != nil {
			return failErr(fmt.Errorf("the console's own ledger: %w", err), "--access-evidence needs write access to agent.data_dir and to the store for the console's agent ID")
		}
		ccfg.Recorder = rec
	}
	srv, err := console.New(e.ctx, ccfg)
	if err != nil {
		return failErr(err, "")
	}
	defer srv.Close()
	return runServer(e.ctx, log, f, srv, rec)
}

func runServer(ctx context.Context, log *slog.Logger, f serveFlags, srv *console.Server, rec *console.AccessLedger) error {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return usageErr(fmt.Errorf("--listen %s: %w", f.listen, err), "")
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	var ms *http.Server
	if f.metricsListen != "" {
		mln, err := net.Listen("tcp", f.metricsListen)
		if err != nil {
			hs.Close()
			return usageErr(fmt.Errorf("--metrics-listen %s: %w", f.metricsListen, err), "")
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		mux.Handle("GET /healthz", srv.Handler())
		ms = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- ms.Serve(mln) }()
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.Run(rctx)
	recDone := make(chan struct{})
	if rec != nil {
		go func() { rec.Run(rctx, f.accessFlush); close(recDone) }()
	} else {
		close(recDone)
	}
	log.Info("console: serving", "listen", ln.Addr().String(), "metrics", f.metricsListen)
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer scancel()
	_ = hs.Shutdown(sctx)
	if ms != nil {
		_ = ms.Shutdown(sctx)
	}
	cancel()
	<-recDone // the last accesses are committed, signed and pushed
	if serveErr != nil {
		return failErr(serveErr, "")
	}
	return nil
}
