package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/tickmark-dev/tickmark/collectors"
	"github.com/tickmark-dev/tickmark/internal/config"
	"github.com/tickmark-dev/tickmark/internal/runner"
)

// `tickmark collectors test NAME`: a dry run of one configured collector
// instance. It opens nothing in the data dir and commits nothing.
// newCollectorsTestCmd builds `tickmark collectorstest` (listed in root.go).
func newCollectorsTestCmd(e *env) *cobra.Command {
	var o dryRunOptions
	c := &cobra.Command{
		Use:   "test NAME",
		Short: "Run one configured collector once and print its artifacts, committing nothing",
		Long: `Run one collector instance from the configuration once, as a first run
(or from --cursor), and print each artifact it emits: evidence type, the
controls it would be filed under, size, subject, source and a short preview
of the body. Nothing is written: no ledger, no cursor, no spool, no store;
the data dir is not opened. Configured secrets are masked in previews and
logs, and an artifact that contains one is reported.

Use it while writing a collector or fixing credentials. Exit 0 when the
collector succeeded, 1 when it failed (the error says whether a retry could
help), 2 on bad usage or configuration.`,
		Example: `  tickmark collectors test backups-api --config tickmark.yaml
  tickmark collectors test okta-prod --limit 3 --preview 400
  tickmark collectors test backups --cursor 41 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.collectorsTest(args[0], o)
		},
	}
	c.Flags().StringVar(&o.cursor, "cursor", "", "start from this cursor instead of a first run")
	c.Flags().IntVar(&o.limit, "limit", 0, "stop after this many artifacts (0: run to the end)")
	c.Flags().IntVar(&o.preview, "preview", 200, "bytes of each body to preview (0: none)")
	c.Flags().BoolVar(&o.asJSON, "json", false, "print JSON")
	return c
}

type dryRunOptions struct {
	cursor  string
	limit   int
	preview int
	asJSON  bool
}

// dryArtifact is what the dry run reports of one artifact.
type dryArtifact struct {
	N           int               `json:"n"`
	Type        string            `json:"type"`
	Subject     string            `json:"subject,omitempty"`
	Controls    []string          `json:"controls"`
	ContentType string            `json:"content_type"`
	Size        int64             `json:"size"`
	SHA256      string            `json:"sha256"`
	ObservedAt  *time.Time        `json:"observed_at,omitempty"`
	WindowStart *time.Time        `json:"window_start,omitempty"`
	WindowEnd   *time.Time        `json:"window_end,omitempty"`
	Source      collectors.Source `json:"source"`
	Preview     string            `json:"preview,omitempty"`
	Truncated   bool              `json:"truncated,omitempty"`
	Secret      string            `json:"contains_secret,omitempty"` // the reference whose value the body contains
	Problem     string            `json:"problem,omitempty"`         // why the engine would refuse it
}

type dryReport struct {
	Collector   string        `json:"collector"`
	Type        string        `json:"type"`
	Cursor      string        `json:"start_cursor"`
	Artifacts   []dryArtifact `json:"artifacts"`
	Checkpoints []string      `json:"checkpoints"`
	Bytes       int64         `json:"bytes"`
	Stopped     bool          `json:"stopped_at_limit,omitempty"`
	Error       string        `json:"error,omitempty"`
	Retryable   bool          `json:"retryable,omitempty"`
	Seconds     float64       `json:"duration_seconds"`
	Committed   bool          `json:"committed"` // always false
}

func (e *env) collectorsTest(name string, o dryRunOptions) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	cc, ok := cfg.Find(name)
	if !ok {
		names := make([]string, len(cfg.Collectors))
		for i, c := range cfg.Collectors {
			names[i] = c.Name
		}
		return usageErr(fmt.Errorf("no collector named %q in %s", name, cfg.Path), "configured collectors: "+strings.Join(names, ", "))
	}
	secrets := configuredSecrets(cc)
	if f, ok := e.stderr.(*os.File); ok && e.logFormat == "" && cfg.Agent.LogFormat == "" && isTerminal(f) {
		e.logFormat = "text" // as logger would choose, before stderr is wrapped
	}
	e.stderr = &scrubWriter{w: e.stderr, secrets: secrets}
	log := e.logger(cfg).With("collector", cc.Name, "run_id", "dry-run")

	now := time.Now().UTC()
	ctx, cancel := context.WithTimeout(e.ctx, cc.Timeout.D())
	defer cancel()
	em := &dryEmitter{cc: cc, opts: o, secrets: secrets, cancel: cancel}
	req := runner.NewRequest(cc, "dry-run-"+now.Format("20060102T150405Z"), o.cursor, now, log)
	rep := &dryReport{Collector: cc.Name, Type: cc.Type, Cursor: o.cursor, Artifacts: []dryArtifact{}, Checkpoints: []string{}}
	if !o.asJSON {
		fmt.Fprintf(e.stdout, "collector %s (type %s): dry run from %s; nothing is committed\n\n", cc.Name, cc.Type, startDesc(o.cursor))
		em.print = func(a dryArtifact) { printDryArtifact(e.stdout, a) }
		em.printCP = func(c string) { fmt.Fprintf(e.stdout, "checkpoint: cursor %q (not saved)\n\n", scrub(c, secrets)) }
	}
	err = runner.SafeCollect(ctx, cc.Collector, req, em)
	if err == nil && ctx.Err() != nil && !em.stopped {
		err = ctx.Err()
	}
	if em.stopped && errors.Is(err, context.Canceled) && e.ctx.Err() == nil {
		err = nil // we stopped it at --limit
	}
	if err == nil && em.firstProblem != "" {
		err = errors.New(em.firstProblem)
	}
	rep.Artifacts, rep.Checkpoints, rep.Bytes, rep.Stopped = em.arts, em.cps, em.bytes, em.stopped
	rep.Seconds = time.Since(now).Seconds()
	if err != nil {
		rep.Error = scrub(err.Error(), secrets)
		rep.Retryable = collectors.IsRetryable(err)
	}
	if o.asJSON {
		if err := printJSON(e.stdout, rep); err != nil {
			return err
		}
		if rep.Error != "" {
			return silentFailure
		}
		return nil
	}
	fmt.Fprintf(e.stdout, "%d artifact%s, %d bytes, %d checkpoint%s in %.1fs", len(rep.Artifacts), plural(len(rep.Artifacts)), rep.Bytes, len(rep.Checkpoints), plural(len(rep.Checkpoints)), rep.Seconds)
	if rep.Stopped {
		fmt.Fprintf(e.stdout, " (stopped at --limit %d)", o.limit)
	}
	fmt.Fprintln(e.stdout, "; nothing was committed")
	if rep.Error != "" {
		kind := "permanent: fix the cause before the next run"
		if rep.Retryable {
			kind = "retryable: the next run may succeed"
		}
		return failErr(fmt.Errorf("collector %s failed (%s): %s", cc.Name, kind, rep.Error), "")
	}
	return nil
}

func startDesc(cursor string) string {
	if cursor == "" {
		return "a first run (no cursor)"
	}
	return fmt.Sprintf("cursor %q", cursor)
}

func printDryArtifact(w io.Writer, a dryArtifact) {
	fmt.Fprintf(w, "#%d %s\n", a.N, a.Type)
	if a.Subject != "" {
		fmt.Fprintf(w, "   subject:  %s\n", a.Subject)
	}
	fmt.Fprintf(w, "   controls: %s\n", strings.Join(a.Controls, ", "))
	fmt.Fprintf(w, "   size:     %d bytes, %s, sha256 %s\n", a.Size, a.ContentType, a.SHA256[:16])
	var src []string
	s := a.Source
	for _, kv := range [][2]string{{"system", s.System}, {"endpoint", s.Endpoint}, {"query", s.Query}, {"account", s.Account}} {
		if kv[1] != "" {
			src = append(src, kv[0]+" "+kv[1])
		}
	}
	if s.Items > 0 {
		src = append(src, fmt.Sprintf("items %d", s.Items))
	}
	if s.Complete {
		src = append(src, "complete")
	}
	if len(src) > 0 {
		fmt.Fprintf(w, "   source:   %s\n", strings.Join(src, "; "))
	}
	if a.WindowStart != nil || a.WindowEnd != nil {
		fmt.Fprintf(w, "   window:   %s .. %s\n", fmtTime(a.WindowStart), fmtTime(a.WindowEnd))
	}
	if a.Preview != "" {
		more := ""
		if a.Truncated {
			more = " …"
		}
		fmt.Fprintf(w, "   preview:  %s%s\n", a.Preview, more)
	}
	if a.Secret != "" {
		fmt.Fprintf(w, "   WARNING:  the body contains the value of %s; the engine would store it\n", a.Secret)
	}
	if a.Problem != "" {
		fmt.Fprintf(w, "   REFUSED:  %s\n", a.Problem)
	}
	fmt.Fprintln(w)
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// dryEmitter reads each artifact's body once (hashing it, scanning it for
// secrets, keeping only a preview) and remembers checkpoints, writing nothing.
type dryEmitter struct {
	cc      *config.CollectorConfig
	opts    dryRunOptions
	secrets []secretRef
	cancel  context.CancelFunc
	print   func(dryArtifact)
	printCP func(string)

	mu           sync.Mutex
	arts         []dryArtifact
	cps          []string
	bytes        int64
	stopped      bool
	firstProblem string
}

func (d *dryEmitter) Emit(ctx context.Context, a collectors.Artifact) error {
	if err := ctx.Err(); err != nil {
		closeArtifact(a)
		return err
	}
	r := a.BodyReader
	if a.Body != nil || r == nil {
		r = bytes.NewReader(a.Body)
	}
	defer closeArtifact(a)
	h := sha256.New()
	keep := d.opts.preview + maxSecretLen(d.secrets)
	var head []byte
	scan := &secretScanner{secrets: d.secrets}
	buf := make([]byte, 32<<10)
	var size int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			size += int64(n)
			if len(head) < keep {
				head = append(head, buf[:min(n, keep-len(head))]...)
			}
			scan.write(buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return collectors.Retryable(fmt.Errorf("reading the body of a %s artifact: %w", a.Type, err))
		}
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	da := dryArtifact{
		Type: a.Type, Subject: scrub(a.Subject, d.secrets), Controls: d.cc.ControlsFor(a.Type, a.Controls), ContentType: ct,
		Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), Source: scrubSource(a.Source, d.secrets),
		ObservedAt: tptr(a.ObservedAt), WindowStart: tptr(a.WindowStart), WindowEnd: tptr(a.WindowEnd),
		Secret: scan.found,
	}
	if da.Controls == nil {
		da.Controls = []string{}
	}
	da.Preview, da.Truncated = preview(head, d.opts.preview, size, d.secrets)
	// What the engine would refuse: the emit contract it applies.
	if err := collectors.CheckArtifact(a, da.Controls); err != nil {
		da.Problem = err.Error()
	}
	d.mu.Lock()
	da.N = len(d.arts) + 1
	d.arts = append(d.arts, da)
	d.bytes += size
	if da.Problem != "" && d.firstProblem == "" {
		d.firstProblem = fmt.Sprintf("artifact #%d: %s", da.N, da.Problem)
	}
	stop := d.opts.limit > 0 && len(d.arts) >= d.opts.limit
	if stop {
		d.stopped = true
	}
	d.mu.Unlock()
	if d.print != nil {
		d.print(da)
	}
	if da.Problem != "" {
		return collectors.Permanent(errors.New(da.Problem))
	}
	if stop {
		d.cancel()
	}
	return nil
}

func (d *dryEmitter) Checkpoint(ctx context.Context, cursor string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	d.cps = append(d.cps, scrub(cursor, d.secrets))
	d.mu.Unlock()
	if d.printCP != nil {
		d.printCP(cursor)
	}
	return nil
}

func closeArtifact(a collectors.Artifact) {
	if c, ok := a.BodyReader.(io.Closer); ok {
		c.Close()
	}
}

func tptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// preview renders the first n bytes of a body on one line, secrets masked.
func preview(head []byte, n int, size int64, secrets []secretRef) (string, bool) {
	if n <= 0 || size == 0 {
		return "", false
	}
	masked := []byte(scrub(string(head), secrets))
	truncated := int64(len(head)) < size || len(masked) > n
	if len(masked) > n {
		masked = masked[:n]
	}
	for len(masked) > 0 && !utf8.Valid(masked) { // do not cut a character in half
		masked = masked[:len(masked)-1]
	}
	if !utf8.Valid(masked) || bytes.ContainsFunc(masked, func(r rune) bool { return r < ' ' && r != '\n' && r != '\r' && r != '\t' }) {
		return fmt.Sprintf("(binary, %d bytes)", size), false
	}
	return strings.Join(strings.Fields(string(masked)), " "), truncated
}

// secretRef is a configured secret's reference and value.
type secretRef struct{ ref, value string }

// configuredSecrets resolves every env:/file: reference in the collector's
// section, and the values of the variables an exec collector passes
// through, so they can be masked.
func configuredSecrets(cc *config.CollectorConfig) []secretRef {
	var out []secretRef
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		if n == nil {
			return
		}
		switch n.Kind {
		case yaml.ScalarNode:
			if strings.HasPrefix(n.Value, "env:") || strings.HasPrefix(n.Value, "file:") {
				if s, err := collectors.NewSecret(n.Value); err == nil && len(s.Value()) >= 4 {
					out = append(out, secretRef{n.Value, s.Value()})
				}
			} else if key == "env" && cc.Type == "exec" {
				if s, err := collectors.NewSecret("env:" + n.Value); err == nil && len(s.Value()) >= 8 && !commonEnv[n.Value] {
					out = append(out, secretRef{"env:" + n.Value, s.Value()})
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], n.Content[i].Value)
			}
		default:
			for _, c := range n.Content {
				walk(c, key)
			}
		}
	}
	walk(cc.Section, "")
	return out
}

// commonEnv are passed-through variables that are not secrets.
var commonEnv = map[string]bool{"PATH": true, "HOME": true, "LANG": true, "LC_ALL": true, "TZ": true, "USER": true, "TMPDIR": true, "SHELL": true}

func maxSecretLen(ss []secretRef) int {
	m := 0
	for _, s := range ss {
		m = max(m, len(s.value))
	}
	return m
}

func scrub(s string, secrets []secretRef) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec.value, "[SECRET "+sec.ref+"]")
	}
	return s
}

func scrubSource(s collectors.Source, secrets []secretRef) collectors.Source {
	s.System, s.Endpoint, s.Query, s.Account = scrub(s.System, secrets), scrub(s.Endpoint, secrets), scrub(s.Query, secrets), scrub(s.Account, secrets)
	return s
}

// secretScanner finds secrets in a stream, across chunk boundaries.
type secretScanner struct {
	secrets []secretRef
	tail    []byte
	found   string
}

func (s *secretScanner) write(p []byte) {
	if s.found != "" || len(s.secrets) == 0 {
		return
	}
	buf := append(s.tail, p...)
	for _, sec := range s.secrets {
		if bytes.Contains(buf, []byte(sec.value)) {
			s.found = sec.ref
			return
		}
	}
	keep := maxSecretLen(s.secrets) - 1
	if len(buf) > keep {
		buf = buf[len(buf)-keep:]
	}
	s.tail = append(s.tail[:0], buf...)
}

// scrubWriter masks secrets in log lines (each slog record is one Write).
type scrubWriter struct {
	w       io.Writer
	secrets []secretRef
}

func (s *scrubWriter) Write(p []byte) (int, error) {
	if len(s.secrets) == 0 {
		return s.w.Write(p)
	}
	if _, err := io.WriteString(s.w, scrub(string(p), s.secrets)); err != nil {
		return 0, err
	}
	return len(p), nil
}
