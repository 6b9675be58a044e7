package console_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"image"
	"image/color"
	pngpkg "image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/tickmark-dev/tickmark/internal/console"
	"github.com/tickmark-dev/tickmark/internal/evidence"
	"github.com/tickmark-dev/tickmark/internal/export"
	"github.com/tickmark-dev/tickmark/internal/readmodel"
)

var screenshots = flag.String("screenshots", "", "write a PNG of each page the browser test visits to this folder (docs/console)")

// chromium finds Debian's chromium (installed by .ci/run). Missing, the
// test fails: it is never skipped.
func chromium(t *testing.T) string {
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH\nhint: apt-get install -y chromium (.ci/run does), or set CHROMIUM")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T, downloads string) context.Context {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 860),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	yes := true
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &yes})
		return err
	})); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

type consoleUnderTest struct {
	URL      string
	Recorder *console.AccessLedger
	OIDC     *mockoidc.MockOIDC
	Access   *syncBuffer
	Server   *console.Server
}

// startConsole serves a console over the bucket with sign-in through a
// mock OIDC provider: group "grc" is compliance, group "external-audit"
// is auditor for the window auditorWindow.
func startConsole(t *testing.T, b *bucket, auditorWindow console.Window) *consoleUnderTest {
	m := startMockOIDC(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	access := &syncBuffer{}
	rec := b.consoleLedger(t)
	cfg := m.Config()
	srv, err := console.New(context.Background(), console.Config{
		Open:           b.opener(t),
		Controls:       defaultControls(t),
		OIDC:           &console.OIDC{Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: base + "/auth/callback"},
		Access:         console.Access{ComplianceGroups: []string{"grc"}, AuditorGroups: []string{"external-audit"}},
		AuditorWindows: []console.Window{auditorWindow},
		AccessLog:      jsonLogger(access),
		Recorder:       rec,
		TSARoots:       b.tsa.Roots,
		TempDir:        t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return &consoleUnderTest{URL: base, OIDC: m, Access: access, Server: srv, Recorder: rec}
}

func startMockOIDC(t *testing.T) *mockoidc.MockOIDC {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return m
}

func shot(t *testing.T, ctx context.Context, name string) {
	if *screenshots == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	small, err := paletted(png)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*screenshots, name+".png"), small, 0o644); err != nil {
		t.Fatal(err)
	}
}

// paletted re-encodes a screenshot with a palette of its 256 most frequent
// colours (a page has few; anti-aliasing takes the nearest), so the PNGs
// committed under docs/ stay small.
func paletted(b []byte) ([]byte, error) {
	img, err := pngpkg.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	counts := map[color.RGBA]int{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	cs := make([]color.RGBA, 0, len(counts))
	for c := range counts {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool {
		if counts[cs[i]] != counts[cs[j]] {
			return counts[cs[i]] > counts[cs[j]]
		}
		a, b := cs[i], cs[j]
		return uint32(a.R)<<16|uint32(a.G)<<8|uint32(a.B) < uint32(b.R)<<16|uint32(b.G)<<8|uint32(b.B)
	})
	pal := make(color.Palette, 0, 256)
	for _, c := range cs[:min(256, len(cs))] {
		pal = append(pal, c)
	}
	out := image.NewPaletted(r, pal)
	idx := map[color.RGBA]uint8{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			i, ok := idx[c]
			if !ok {
				i = uint8(pal.Index(c))
				idx[c] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	var buf bytes.Buffer
	enc := pngpkg.Encoder{CompressionLevel: pngpkg.BestCompression}
	if err := enc.Encode(&buf, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unlabelled lists the page's form controls that have no label (nor an
// aria-label, nor, for buttons, text), by id or name.
const unlabelledJS = `[...document.querySelectorAll('input:not([type=hidden]),select,textarea,button')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.id || e.name || e.tagName)`

// accessible checks the page is keyboard-usable: every form control is
// labelled, and the first Tab stop is the skip link to the content.
func accessible(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](unlabelledJS))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("%s: form controls without a label: %v", page, bad)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.activeElement && document.activeElement.blur(), true)`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
		t.Fatal(err)
	}
	first, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.className + ' ' + document.activeElement.getAttribute('href')`))
	if err != nil {
		t.Fatal(err)
	}
	if first != "skip #main" {
		t.Errorf("%s: the first Tab stop is %q, want the skip link", page, first)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %q at %s: %v", sel, location(t, ctx), err)
	}
	return strings.TrimSpace(s)
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// click follows a link (or submits a form) and returns the status code of
// the page it leads to.
func click(t *testing.T, ctx context.Context, sel string) int64 {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(cctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("clicking %q at %s: %v", sel, location(t, ctx), err)
	}
	return resp.Status
}

// open navigates and returns the final page's status code.
func open(t *testing.T, ctx context.Context, url string) int64 {
	t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	return resp.Status
}

func TestBrowser(t *testing.T) {
	b := fillBucket(t)
	now := time.Now().UTC()
	day := now.Format(time.DateOnly)
	aw, err := console.ParseWindow(now.AddDate(0, 0, -14).Format(time.DateOnly), day)
	if err != nil {
		t.Fatal(err)
	}
	// A fourth "agent" whose log is broken (a checkpoint no key signed):
	// a finding on the dashboard; the other agents are still shown.
	_, err = b.srv.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("evidence"), Key: aws.String("soc2/log/broken/checkpoints/3.note"),
		Body: strings.NewReader("tickmark/broken\n3\nAAAA\n\n— nobody AAAA\n"), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	c := startConsole(t, b, aw)
	downloads := t.TempDir()
	ctx := newBrowser(t, downloads)
	browserCtx := ctx
	if *screenshots != "" {
		if err := os.MkdirAll(*screenshots, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("unauthenticated requests are sent to sign-in", func(t *testing.T) {
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, p := range []string{"/", "/dashboard", "/controls/AC-04", "/controls/AC-04/periods/" + day, "/artifacts", "/artifacts/identity/0",
			"/artifacts/identity/0/body", "/artifacts/identity/0/proof", "/artifacts/identity/0/proof.tlog-proof", "/populations", "/package",
			"/package/download?agent=identity", "/no-such-page"} {
			resp, err := hc.Get(c.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/auth/login?next=") {
				t.Errorf("GET %s without a session: %d Location %q, want 303 to /auth/login", p, resp.StatusCode, loc)
			}
		}
		resp, err := hc.Get(c.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/healthz: %d, want 200 without sign-in", resp.StatusCode)
		}
	})

	t.Run("compliance walks dashboard, control, period, artifact, proof", func(t *testing.T) {
		c.OIDC.QueueUser(&mockoidc.MockUser{Subject: "u-grc", Email: "grc@example.com", EmailVerified: true, PreferredUsername: "grc", Groups: []string{"grc"}})
		if code := open(t, ctx, c.URL+"/"); code != http.StatusOK {
			t.Fatalf("after sign-in: status %d at %s", code, location(t, ctx))
		}
		if h := text(t, ctx, "h1"); !strings.HasPrefix(h, "Dashboard") {
			t.Fatalf("after sign-in: h1 %q, want the dashboard (at %s)", h, location(t, ctx))
		}
		if who := text(t, ctx, ".who span"); !strings.Contains(who, "grc@example.com") || !strings.Contains(who, "compliance") {
			t.Errorf("signed-in user shown as %q", who)
		}
		if n := text(t, ctx, "#n-controls"); n != "26" {
			t.Errorf("dashboard counts %s controls, want the 26 of the default set", n)
		}
		if prob := text(t, ctx, "#prob-h + ul"); !strings.Contains(prob, "broken") {
			t.Errorf("the broken agent is not reported: %q", prob)
		}
		acts := text(t, ctx, "#act-h + table tbody")
		for _, a := range b.agents {
			if !strings.Contains(acts, a) {
				t.Errorf("agents table lacks agent %s:\n%s", a, acts)
			}
		}
		// the agents ran the default control tests after collecting: their
		// latest results are on the dashboard
		if chk := text(t, ctx, "#chk-h + table"); !strings.Contains(chk, "okta.active_users_mfa") {
			t.Errorf("the dashboard lacks the okta.active_users_mfa control test:\n%s", chk)
		}
		weight, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`new Blob([document.documentElement.outerHTML]).size + performance.getEntriesByType('resource').reduce((n, r) => n + r.decodedBodySize, 0)`))
		if err != nil {
			t.Fatal(err)
		}
		if weight == 0 || weight > 200<<10 {
			t.Errorf("the dashboard weighs %.0f bytes with its stylesheet, want under 200 KiB", weight)
		}
		shot(t, ctx, "dashboard")
		accessible(t, ctx, "dashboard")

		click(t, ctx, `table.controls a[href^="/controls/AC-04?"]`)
		if h := text(t, ctx, "h1"); !strings.HasPrefix(h, "AC-04") {
			t.Fatalf("control page h1 %q", h)
		}
		crit := text(t, ctx, "#crit-h + table")
		if !strings.Contains(crit, "CC6.2") || !strings.Contains(crit, "5.16") || !strings.Contains(crit, "PR.AA-02") {
			t.Errorf("criteria table lacks SOC 2 criteria or ISO 27001 crosswalks:\n%s", crit)
		}
		shot(t, ctx, "control")
		accessible(t, ctx, "control")

		click(t, ctx, `ol.calendar a.p.covered[href*="/periods/`+day+`"]`)
		if h := text(t, ctx, "h1"); !strings.Contains(h, day) || !strings.Contains(h, "covered") {
			t.Fatalf("period page h1 %q, want today's covered period", h)
		}
		shot(t, ctx, "period")
		accessible(t, ctx, "period")

		click(t, ctx, "table.records tbody tr:first-child a")
		if h := text(t, ctx, "h1"); !strings.Contains(h, "okta.users") {
			t.Fatalf("artifact page h1 %q, want an okta.users artifact", h)
		}
		if items := text(t, ctx, "table.items"); !strings.Contains(items, "@") {
			t.Errorf("the okta.users preview shows no user table:\n%s", items)
		}
		artifactURL := location(t, ctx)
		shot(t, ctx, "artifact")
		accessible(t, ctx, "artifact")

		click(t, ctx, `a[href$="/proof"]`)
		if v := text(t, ctx, "p.verdict"); !strings.HasPrefix(v, "Verified now") {
			t.Errorf("proof verdict %q\n%s", v, text(t, ctx, "table.checks"))
		}
		checks := text(t, ctx, "table.checks")
		for _, want := range []string{"Body hash", "Inclusion", "RFC 3161 time", "tickmark test TSA", "Object Lock retention"} {
			if !strings.Contains(checks, want) {
				t.Errorf("proof checks lack %q:\n%s", want, checks)
			}
		}
		proof := text(t, ctx, "pre.body")
		if !strings.HasPrefix(proof, export.ProofHeader) {
			t.Errorf("proof shown is not a tlog-proof: %.80q", proof)
		}
		shot(t, ctx, "proof")
		accessible(t, ctx, "proof")

		al := c.Access.String()
		seq := artifactURL[strings.LastIndexByte(artifactURL, '/')+1:]
		if !accessLogged(al, "sign_in", "grc@example.com", "") {
			t.Errorf("access log has no sign-in by grc@example.com:\n%s", al)
		}
		if strings.Contains(al, "code=") || strings.Contains(al, "state=") {
			t.Errorf("the access log holds the authorization code or state:\n%s", al)
		}
		for _, action := range []string{"view_artifact", "view_proof"} {
			if !accessLogged(al, action, "grc@example.com", seq) {
				t.Errorf("access log has no %s by grc@example.com of record %s:\n%s", action, seq, al)
			}
		}

		click(t, ctx, `nav a[href^="/artifacts?"]`)
		shot(t, ctx, "artifacts")
		// Paging: following "Next" to the end visits every record of the
		// window once, across the agents, in collection-time order.
		seen := map[string]bool{}
		for page := 0; ; page++ {
			hrefs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('table.records tbody a')].map(a => a.getAttribute('href'))`))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hrefs {
				if seen[h] {
					t.Fatalf("page %d repeats %s", page, h)
				}
				seen[h] = true
			}
			next, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[rel=next]').length`))
			if err != nil {
				t.Fatal(err)
			}
			if next == 0 {
				break
			}
			click(t, ctx, `a[rel=next]`)
		}
		fl, err := b.opener(t)(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		win := console.Window{From: time.Now().UTC().AddDate(0, 0, -89).Truncate(24 * time.Hour), To: time.Now().UTC().AddDate(0, 0, 1).Truncate(24 * time.Hour)}
		want := 0
		for _, src := range fl.Agents {
			if err := src.Find(readmodel.Query{From: win.From, To: win.To}, func(*evidence.Record, []byte) error { want++; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if len(seen) != want || want < 100 {
			t.Errorf("paging visited %d artifacts; the window holds %d", len(seen), want)
		}
		accessible(t, ctx, "artifacts")
		open(t, ctx, c.URL+"/populations?type=okta.users&agent=identity")
		if p := text(t, ctx, "main p"); !strings.Contains(p, "items from") {
			t.Errorf("population page: %q", p)
		}
		shot(t, ctx, "populations")
		accessible(t, ctx, "populations")
	})

	t.Run("package download verifies", func(t *testing.T) {
		open(t, ctx, c.URL+"/package")
		shot(t, ctx, "package")
		accessible(t, ctx, "package")
		dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		progress := chromedp.Events(dctx, browser.DownloadProgress)
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#k-agent"), "identity"), chromedp.Click(chromedp.CSS(`form[action="/package/download"] button`))); err != nil {
			t.Fatal(err)
		}
		guid := ""
		for ev, err := range progress {
			if err != nil {
				t.Fatalf("waiting for the package download: %v", err)
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				guid = ev.GUID
				break
			}
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatal("the package download was cancelled")
			}
		}
		f, err := os.Open(filepath.Join(downloads, guid))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		rep, err := export.VerifyPackageWith(f, st.Size(), export.VerifyOptions{TSARoots: b.tsa.Roots})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK || rep.Agent != "identity" || rep.Records == 0 || rep.Timestamps == 0 {
			t.Fatalf("verify-package: ok=%v agent=%s records=%d timestamps=%d problems=%v", rep.OK, rep.Agent, rep.Records, rep.Timestamps, rep.Problems)
		}
		if !accessLogged(c.Access.String(), "download_package", "grc@example.com", "") {
			t.Errorf("the package download is not in the access log")
		}
	})

	t.Run("accesses are evidence in the console's own log", func(t *testing.T) {
		ctx := context.Background()
		sum, err := c.Recorder.Flush(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Collectors[0].Artifacts != 1 || sum.Checkpoint == nil {
			t.Fatalf("flush: %+v", sum)
		}
		// The console's log is in the bucket like any agent's: re-read, it
		// verifies and shows the accesses it recorded.
		if err := c.Server.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		open(t, browserCtx, c.URL+"/artifacts?agent=console&type="+console.AccessEvidenceType)
		click(t, browserCtx, "table.records tbody tr:first-child a")
		items := text(t, browserCtx, "table.items")
		for _, want := range []string{"view_artifact", "view_proof", "download_package", "grc@example.com"} {
			if !strings.Contains(items, want) {
				t.Errorf("the recorded access log lacks %q:\n%s", want, items)
			}
		}
		if h := text(t, browserCtx, "main dl.facts"); !strings.Contains(h, "C1.1, CC6.1") {
			t.Errorf("access evidence not filed under C1.1 and CC6.1:\n%s", h)
		}
		click(t, browserCtx, `a[href$="/proof"]`)
		if v := text(t, browserCtx, "p.verdict"); !strings.HasPrefix(v, "Verified now") {
			t.Errorf("the access log's proof: %q\n%s", v, text(t, browserCtx, "table.checks"))
		}
		// Viewing the access log is itself recorded: the next flush holds
		// those two views, and one more holds nothing.
		for i, want := range []int{1, 0} {
			sum, err = c.Recorder.Flush(ctx)
			if err != nil || sum.Collectors[0].Artifacts != want {
				t.Errorf("flush %d: %d artifacts (%v), want %d", i+2, sum.Collectors[0].Artifacts, err, want)
			}
		}
	})

	t.Run("stopped reporting, population and sample (loopback console)", func(t *testing.T) {
		// The same bucket three days later: nothing was collected since.
		later := time.Now().Add(72 * time.Hour)
		srv, err := console.New(context.Background(), console.Config{Open: b.opener(t), Controls: defaultControls(t), Checks: b.checksByControl(t), Now: func() time.Time { return later }})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		ts := httptest.NewServer(srv.Handler())
		defer ts.Close()
		resp, err := http.Get(ts.URL + "/dashboard")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		stale := string(page)
		// Control tests that failed make their controls' periods covered
		// with exceptions (the sample Okta org has users without MFA).
		i := strings.Index(stale, `id="chk-h"`)
		if i < 0 || !strings.Contains(stale[i:], `<span class="tag gap">fail</span>`) {
			t.Fatalf("no failing control test on the dashboard (the sample Okta org has users without MFA)")
		}
		m := regexp.MustCompile(`<span class="num">(\d+)</span> covered, with exceptions`).FindStringSubmatch(stale)
		if m == nil || m[1] == "0" {
			t.Errorf("a control test failed but no period is covered with exceptions (%v)", m)
		}
		if i := strings.Index(stale, `id="stale-h"`); i < 0 {
			t.Fatalf("no stopped-reporting section three days later")
		} else {
			stale = stale[i : strings.Index(stale[i:], "</section>")+i]
		}
		for _, want := range []string{"identity/sample-okta", "cloud/sample-aws", "operations/", "3 days ago"} {
			if !strings.Contains(stale, want) {
				t.Errorf("stopped reporting lacks %q:\n%s", want, stale)
			}
		}
		// A seeded sample is the one `tickmark sample` draws from the same
		// population (export.BuildPopulation, Population.Sample).
		w := console.Window{From: time.Now().UTC().AddDate(0, 0, -7).Truncate(24 * time.Hour), To: later.UTC().Truncate(24 * time.Hour)}
		csvOf := func(path string) string {
			resp, err := http.Get(ts.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
				t.Fatalf("GET %s: %d %s\n%s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			return string(b)
		}
		got := csvOf("/populations?type=okta.users&agent=identity&format=sample&n=5&seed=auditor-2026&" + w.Query())
		fl, err := b.opener(t)(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pop, err := export.BuildPopulation(context.Background(), fl.Agents["identity"], "okta.users", w.From, w.To)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := pop.Sample(5, "auditor-2026")
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		cw := csv.NewWriter(&want)
		cw.Write(pop.Header())
		for _, r := range rows {
			cw.Write(pop.Record(r))
		}
		cw.Flush()
		if got != want.String() || len(rows) != 5 {
			t.Errorf("sample CSV differs from tickmark sample's:\n%s\nwant:\n%s", got, want.String())
		}
		if all := csvOf("/populations?type=okta.users&agent=identity&format=csv&" + w.Query()); strings.Count(all, "\n") != len(pop.Rows)+1 {
			t.Errorf("population CSV has %d lines, want %d rows and a header", strings.Count(all, "\n"), len(pop.Rows))
		}
	})

	t.Run("auditor is refused outside the window", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
			return err
		})); err != nil {
			t.Fatal(err)
		}
		c.OIDC.QueueUser(&mockoidc.MockUser{Subject: "u-aud", Email: "auditor@cpa.example", EmailVerified: true, Groups: []string{"external-audit"}})
		outside := c.URL + "/dashboard?from=2025-01-01&to=2025-06-30"
		if code := open(t, ctx, outside); code != http.StatusForbidden {
			t.Errorf("auditor outside the window: status %d, want 403", code)
		}
		if h := text(t, ctx, "h1"); h != "Forbidden" {
			t.Errorf("auditor outside the window: h1 %q, want Forbidden", h)
		}
		if msg := text(t, ctx, "p.error"); !strings.Contains(msg, "outside the observation windows") {
			t.Errorf("refusal says %q", msg)
		}
		shot(t, ctx, "auditor-refused")
		if code := open(t, ctx, c.URL+"/dashboard?"+aw.Query()); code != http.StatusOK {
			t.Errorf("auditor inside the window: status %d", code)
		}
		if h := text(t, ctx, "h1"); !strings.HasPrefix(h, "Dashboard") {
			t.Errorf("auditor inside the window: h1 %q, want the dashboard", h)
		}
		if who := text(t, ctx, ".who span"); !strings.Contains(who, "auditor") {
			t.Errorf("auditor shown as %q", who)
		}
		if !accessLogged(c.Access.String(), "refused_window", "auditor@cpa.example", "") {
			t.Errorf("the refusal is not in the access log")
		}
	})
}

// accessLogged reports whether the access log has an event of action by
// user (on record seq, if given).
func accessLogged(log, action, user, seq string) bool {
	for _, line := range strings.Split(log, "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		if e["msg"] == "access" && e["action"] == action && e["user"] == user {
			if seq == "" {
				return true
			}
			if s, ok := e["seq"].(float64); ok && jsonNum(s) == seq {
				return true
			}
		}
	}
	return false
}

func jsonNum(f float64) string { b, _ := json.Marshal(f); return string(b) }
