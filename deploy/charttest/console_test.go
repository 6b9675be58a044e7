package charttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// consoleValues: a fleet on S3 with the console behind an Ingress and
// OIDC sign-in. The issuer is a closed local port, so that running the
// rendered command (below) stops at OIDC discovery, after every flag and
// the configuration have been accepted.
func consoleValues(issuer string) map[string]any {
	return map[string]any{
		"store": map[string]any{"type": "s3", "bucket": "acme-evidence", "region": "eu-west-1", "prefix": "soc2",
			"object_lock": map[string]any{"mode": "COMPLIANCE", "retain_days": 400}},
		"console": map[string]any{
			"enabled":        true,
			"replicas":       2,
			"serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/tickmark-console-readonly"}},
			"oidc": map[string]any{"issuer": issuer, "clientId": "tickmark-console",
				"clientSecret": map[string]any{"secretName": "console-oidc"}},
			"sessionKey":     map[string]any{"secretName": "console-session"},
			"roles":          map[string]any{"complianceGroups": []any{"grc"}, "auditorEmails": []any{"senior@cpa.example"}},
			"auditorWindows": []any{"2026-01-01..2026-06-30"},
			"ingress": map[string]any{"enabled": true, "className": "nginx", "host": "evidence.example.com",
				"tls": []any{map[string]any{"secretName": "console-tls", "hosts": []any{"evidence.example.com"}}}},
		},
	}
}

func consoleDeployment(t *testing.T, m *manifests) appsv1.Deployment {
	t.Helper()
	for _, d := range m.Deployments {
		if d.Name == "tickmark-console" {
			return d
		}
	}
	t.Fatalf("no console Deployment among %d", len(m.Deployments))
	return appsv1.Deployment{}
}

func TestConsoleOffByDefault(t *testing.T) {
	m, err := render(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Deployments {
		if strings.HasSuffix(d.Name, "-console") {
			t.Errorf("console rendered without console.enabled: %s", d.Name)
		}
	}
	if len(m.Ingresses) != 0 {
		t.Errorf("%d Ingresses by default", len(m.Ingresses))
	}
}

func TestConsoleWithSignIn(t *testing.T) {
	m, err := render(t, "", consoleValues("http://127.0.0.1:1/oidc"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.CronJobs) != 1 {
		t.Errorf("the agent's CronJob is still rendered: %d", len(m.CronJobs))
	}
	d := consoleDeployment(t, m)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	got := args(c)
	for _, want := range []string{"serve --from-store --config /etc/tickmark/config.yaml --listen :8080 --metrics-listen :9091",
		"--oidc-client-secret env:TICKMARK_OIDC_CLIENT_SECRET", "--oidc-redirect-url https://evidence.example.com/auth/callback",
		"--compliance-group grc", "--auditor-email senior@cpa.example", "--auditor-window 2026-01-01..2026-06-30",
		"--session-key env:TICKMARK_CONSOLE_SESSION_KEY"} {
		if !strings.Contains(got, want) {
			t.Errorf("args %q lack %q", got, want)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if s := env["TICKMARK_OIDC_CLIENT_SECRET"].ValueFrom; s == nil || s.SecretKeyRef.Name != "console-oidc" || s.SecretKeyRef.Key != "client-secret" {
		t.Errorf("OIDC client secret env: %+v", env["TICKMARK_OIDC_CLIENT_SECRET"])
	}
	if s := env["TICKMARK_CONSOLE_SESSION_KEY"].ValueFrom; s == nil || s.SecretKeyRef.Name != "console-session" {
		t.Errorf("session key env: %+v", env["TICKMARK_CONSOLE_SESSION_KEY"])
	}
	// Its own read-only identity, restricted like every tickmark pod.
	if pod.ServiceAccountName != "tickmark-console" || pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("service account %q, automount %v", pod.ServiceAccountName, pod.AutomountServiceAccountToken)
	}
	var sa *corev1.ServiceAccount
	for i := range m.ServiceAccounts {
		if m.ServiceAccounts[i].Name == "tickmark-console" {
			sa = &m.ServiceAccounts[i]
		}
	}
	if sa == nil || !strings.Contains(sa.Annotations["eks.amazonaws.com/role-arn"], "readonly") {
		t.Errorf("console service account: %+v", sa)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context: %+v", sc)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("pod security context: %+v", pod.SecurityContext)
	}
	for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "metrics" {
			t.Errorf("probe %+v: want /healthz on the metrics port (no sign-in there)", p)
		}
	}
	// Its configuration: the fleet's bucket, without Object Lock (it writes nothing).
	cfg := m.configOf(t, pod)
	if cfg.Store.Type != "s3" || cfg.Store.Bucket != "acme-evidence" || cfg.Store.Prefix != "soc2" || cfg.Store.ObjectLock != nil {
		t.Errorf("console store: %+v", cfg.Store)
	}
	// Service and Ingress route the pages only; /metrics is on its own port.
	var svc *corev1.Service
	for i := range m.Services {
		if m.Services[i].Name == "tickmark-console" {
			svc = &m.Services[i]
		}
	}
	if svc == nil || len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[1].Name != "metrics" {
		t.Fatalf("console Service: %+v", svc)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if svc.Spec.Selector[k] != v || d.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s not on the Service or the pod", k, v)
		}
	}
	if _, ok := d.Spec.Selector.MatchLabels["tickmark.dev/agent"]; ok {
		t.Errorf("the console's selector would match an agent's pods: %v", d.Spec.Selector.MatchLabels)
	}
	if len(m.Ingresses) != 1 {
		t.Fatalf("%d Ingresses", len(m.Ingresses))
	}
	ing := m.Ingresses[0]
	r := ing.Spec.Rules[0]
	if r.Host != "evidence.example.com" || r.HTTP.Paths[0].Backend.Service.Name != "tickmark-console" || r.HTTP.Paths[0].Backend.Service.Port.Name != "http" ||
		len(ing.Spec.TLS) != 1 || ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
		t.Errorf("Ingress: %+v", ing.Spec)
	}
	// The real binary accepts the rendered command and configuration: it
	// gets as far as OIDC discovery (the issuer is a closed port here).
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	var cm string
	for _, x := range m.ConfigMaps {
		if x.Name == "tickmark-console-config" {
			cm = x.Data["config.yaml"]
		}
	}
	if err := os.WriteFile(cfgFile, []byte(cm), 0o600); err != nil {
		t.Fatal(err)
	}
	cargs := append([]string(nil), c.Args...)
	for i := range cargs {
		if cargs[i] == "/etc/tickmark/config.yaml" {
			cargs[i] = cfgFile
		}
		if cargs[i] == ":8080" || cargs[i] == ":9091" {
			cargs[i] = "127.0.0.1:0"
		}
	}
	cmd := exec.Command(tickmarkBinary(t), cargs...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "TICKMARK_OIDC_CLIENT_SECRET=s", "TICKMARK_CONSOLE_SESSION_KEY=0123456789abcdef0123456789abcdef",
		"AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y", "AWS_EC2_METADATA_DISABLED=true"}
	out, err := cmd.CombinedOutput()
	ee, _ := err.(*exec.ExitError)
	if ee == nil || ee.ExitCode() != 1 || !strings.Contains(string(out), "oidc provider") {
		t.Errorf("tickmark %s: %v, want exit 1 at OIDC discovery\n%s", strings.Join(cargs, " "), err, out)
	}
}

func TestConsoleWithoutSignInIsLoopbackOnly(t *testing.T) {
	m, err := render(t, "", map[string]any{
		"store":   map[string]any{"type": "s3", "bucket": "acme-evidence"},
		"console": map[string]any{"enabled": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := consoleDeployment(t, m)
	c := d.Spec.Template.Spec.Containers[0]
	if !strings.Contains(args(c), "--listen 127.0.0.1:8080") || strings.Contains(args(c), "--oidc") {
		t.Errorf("args %q: want the console on loopback only", args(c))
	}
	for _, p := range c.Ports {
		if p.Name == "http" {
			t.Errorf("the loopback console exposes its page port: %+v", c.Ports)
		}
	}
	var y []byte
	for _, s := range m.Services {
		if s.Name == "tickmark-console" {
			y, _ = yaml.Marshal(s.Spec.Ports)
			if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Name != "metrics" {
				t.Errorf("loopback console Service ports:\n%s", y)
			}
		}
	}
}

func TestConsoleRejects(t *testing.T) {
	s3 := map[string]any{"type": "s3", "bucket": "b"}
	for _, c := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"ingress without sign-in", map[string]any{"store": s3, "console": map[string]any{"enabled": true, "ingress": map[string]any{"enabled": true, "host": "e.example"}}}, "serves on loopback only"},
		{"filesystem store", map[string]any{"console": map[string]any{"enabled": true}}, "needs an s3 store"},
		{"replicas without a session key", map[string]any{"store": s3, "console": map[string]any{"enabled": true, "replicas": 3}}, "sessionKey"},
		{"auditors without a window", map[string]any{"store": s3, "console": map[string]any{"enabled": true,
			"oidc":  map[string]any{"issuer": "https://idp.example", "clientId": "x", "clientSecret": map[string]any{"secretName": "s"}, "redirectUrl": "https://c.example/auth/callback"},
			"roles": map[string]any{"auditorGroups": []any{"audit"}}}}, "auditorWindows"},
		{"sign-in without roles", map[string]any{"store": s3, "console": map[string]any{"enabled": true,
			"oidc": map[string]any{"issuer": "https://idp.example", "clientId": "x", "clientSecret": map[string]any{"secretName": "s"}, "redirectUrl": "https://c.example/auth/callback"}}}, "no group or email has a role"},
		{"bad window", map[string]any{"console": map[string]any{"auditorWindows": []any{"H1 2026"}}}, "auditorWindows"},
		{"bad redirect", map[string]any{"console": map[string]any{"oidc": map[string]any{"redirectUrl": "https://c.example/callback"}}}, "redirectUrl"},
		{"typo", map[string]any{"console": map[string]any{"enabeld": true}}, "enabeld"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, "", c.vals)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want an error about %s", err, c.want)
			}
		})
	}
}
