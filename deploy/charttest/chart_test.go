package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "../helm/tickmark"
	fleetValues = "../helm/tickmark/examples/fleet-values.yaml"
	namespace   = "tickmark"
)

// serviceMonitor is the part of prometheus-operator's ServiceMonitor
// (monitoring.coreos.com/v1) the chart writes; decoded strictly like the
// Kubernetes types, which do not include this CRD.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests is one rendering, decoded.
type manifests struct {
	CronJobs        []batchv1.CronJob
	Deployments     []appsv1.Deployment
	ConfigMaps      []corev1.ConfigMap
	PVCs            []corev1.PersistentVolumeClaim
	ServiceAccounts []corev1.ServiceAccount
	Services        []corev1.Service
	NetworkPolicies []networkingv1.NetworkPolicy
	Ingresses       []networkingv1.Ingress
	ServiceMonitors []serviceMonitor
	Notes           string
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// render renders the chart like `helm template` (schema validation included)
// with the values file (may be "") and overrides, for Kubernetes 1.31.
func render(t *testing.T, valuesFile string, overrides map[string]any) (*manifests, error) {
	t.Helper()
	c := loadChart(t)
	vals := map[string]any{}
	if valuesFile != "" {
		v, err := chartutil.ReadValuesFile(valuesFile)
		if err != nil {
			t.Fatal(err)
		}
		vals = v.AsMap()
	}
	vals = chartutil.MergeTables(overrides, vals)
	caps := chartutil.DefaultCapabilities.Copy()
	kv, err := chartutil.ParseKubeVersion("v1.31.0")
	if err != nil {
		t.Fatal(err)
	}
	caps.KubeVersion = *kv
	if !chartutil.IsCompatibleRange(c.Metadata.KubeVersion, caps.KubeVersion.String()) {
		t.Fatalf("chart kubeVersion %q excludes %s", c.Metadata.KubeVersion, caps.KubeVersion)
	}
	rv, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{Name: "tickmark", Namespace: namespace, Revision: 1, IsInstall: true}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(c, rv)
	if err != nil {
		return nil, err
	}
	m := &manifests{}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		body := files[name]
		if strings.HasSuffix(name, "NOTES.txt") {
			m.Notes = body
			continue
		}
		if strings.HasSuffix(name, ".tpl") {
			continue
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(body, -1) {
			if strings.TrimSpace(doc) == "" || isComment(doc) {
				continue
			}
			if err := m.add([]byte(doc)); err != nil {
				t.Fatalf("%s document %d: %v\n%s", name, i, err, doc)
			}
		}
	}
	return m, nil
}

func isComment(doc string) bool {
	for _, l := range strings.Split(doc, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// add decodes one manifest strictly (unknown or duplicate fields are errors)
// into its Kubernetes API type.
func (m *manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	strict := func(v any) error { return yaml.UnmarshalStrict(doc, v) }
	switch tm.APIVersion + " " + tm.Kind {
	case "batch/v1 CronJob":
		var o batchv1.CronJob
		if err := strict(&o); err != nil {
			return err
		}
		m.CronJobs = append(m.CronJobs, o)
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		if err := strict(&o); err != nil {
			return err
		}
		m.Deployments = append(m.Deployments, o)
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		if err := strict(&o); err != nil {
			return err
		}
		m.ConfigMaps = append(m.ConfigMaps, o)
	case "v1 PersistentVolumeClaim":
		var o corev1.PersistentVolumeClaim
		if err := strict(&o); err != nil {
			return err
		}
		m.PVCs = append(m.PVCs, o)
	case "v1 ServiceAccount":
		var o corev1.ServiceAccount
		if err := strict(&o); err != nil {
			return err
		}
		m.ServiceAccounts = append(m.ServiceAccounts, o)
	case "v1 Service":
		var o corev1.Service
		if err := strict(&o); err != nil {
			return err
		}
		m.Services = append(m.Services, o)
	case "networking.k8s.io/v1 NetworkPolicy":
		var o networkingv1.NetworkPolicy
		if err := strict(&o); err != nil {
			return err
		}
		m.NetworkPolicies = append(m.NetworkPolicies, o)
	case "networking.k8s.io/v1 Ingress":
		var o networkingv1.Ingress
		if err := strict(&o); err != nil {
			return err
		}
		m.Ingresses = append(m.Ingresses, o)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		var o serviceMonitor
		if err := strict(&o); err != nil {
			return err
		}
		m.ServiceMonitors = append(m.ServiceMonitors, o)
	default:
		return fmt.Errorf("unexpected kind %s %s", tm.APIVersion, tm.Kind)
	}
	return nil
}

// tmConfig is the part of tickmark's configuration the assertions read;
// the tickmark binary itself validates the whole file (validateConfig).
type tmConfig struct {
	Agent struct {
		ID            string `json:"id"`
		DataDir       string `json:"data_dir"`
		Listen        string `json:"listen"`
		LogFormat     string `json:"log_format"`
		ShutdownGrace string `json:"shutdown_grace"`
	} `json:"agent"`
	Store struct {
		Type       string `json:"type"`
		Path       string `json:"path"`
		Bucket     string `json:"bucket"`
		Prefix     string `json:"prefix"`
		ObjectLock *struct {
			Mode       string `json:"mode"`
			RetainDays int    `json:"retain_days"`
		} `json:"object_lock"`
	} `json:"store"`
	Collectors []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"collectors"`
}

// configOf reads the tickmark configuration in the pod's ConfigMap, after
// `tickmark config validate` (the real binary, strict) accepted it.
func (m *manifests) configOf(t *testing.T, pod corev1.PodSpec) *tmConfig {
	t.Helper()
	var cmName string
	for _, v := range pod.Volumes {
		if v.Name == "config" && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	for _, cm := range m.ConfigMaps {
		if cm.Name != cmName {
			continue
		}
		text := cm.Data["config.yaml"]
		validateConfig(t, cmName, text)
		var cfg tmConfig
		if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
			t.Fatalf("config.yaml of %s: %v", cmName, err)
		}
		if cfg.Agent.DataDir == "" {
			cfg.Agent.DataDir = "/var/lib/tickmark"
		}
		return &cfg
	}
	t.Fatalf("no ConfigMap %q", cmName)
	return nil
}

// checkPod asserts what every tickmark pod must be: restricted security,
// the data PVC mounted at the configured data dir, the config mounted
// read-only, and a writable /tmp.
func checkPod(t *testing.T, m *manifests, what string, pod corev1.PodSpec, wantClaim string) *tmConfig {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod must run as non-root: %+v", what, psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccomp profile must be RuntimeDefault", what)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token must not be mounted", what)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", what, len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: container root filesystem must be read-only", what)
	}
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: container must run as non-root", what)
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: privilege escalation must be off", what)
	}
	if sc == nil || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("%s: capabilities must drop ALL", what)
	}
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("%s: resources must be set: %+v", what, c.Resources)
	}
	cfg := m.configOf(t, pod)
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	dm, ok := mounts[cfg.Agent.DataDir]
	if !ok {
		t.Fatalf("%s: nothing mounted at the data dir %s (mounts %v)", what, cfg.Agent.DataDir, c.VolumeMounts)
	}
	if dm.ReadOnly {
		t.Errorf("%s: the data dir is mounted read-only", what)
	}
	dv := vols[dm.Name]
	if dv.PersistentVolumeClaim == nil || dv.PersistentVolumeClaim.ClaimName != wantClaim {
		t.Errorf("%s: data dir volume %+v, want PVC %s", what, dv.VolumeSource, wantClaim)
	}
	found := false
	for _, p := range m.PVCs {
		found = found || p.Name == wantClaim
	}
	if !found {
		t.Errorf("%s: PVC %s is not rendered", what, wantClaim)
	}
	if cm, ok := mounts["/etc/tickmark"]; !ok || !cm.ReadOnly || vols[cm.Name].ConfigMap == nil {
		t.Errorf("%s: config must be a read-only ConfigMap mount at /etc/tickmark", what)
	}
	if tm, ok := mounts["/tmp"]; !ok || vols[tm.Name].EmptyDir == nil {
		t.Errorf("%s: /tmp must be a writable emptyDir on a read-only root", what)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["HOME"].Value != cfg.Agent.DataDir || env["TICKMARK_CONFIG"].Value != "/etc/tickmark/config.yaml" {
		t.Errorf("%s: HOME and TICKMARK_CONFIG: %+v", what, c.Env)
	}
	return cfg
}

func args(c corev1.Container) string { return strings.Join(c.Args, " ") }

func TestCronJobModeDefaults(t *testing.T) {
	m, err := render(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.CronJobs) != 1 || len(m.Deployments) != 0 || len(m.Services) != 0 || len(m.ServiceMonitors) != 0 {
		t.Fatalf("cronjob mode rendered %d CronJobs, %d Deployments, %d Services, %d ServiceMonitors", len(m.CronJobs), len(m.Deployments), len(m.Services), len(m.ServiceMonitors))
	}
	cj := m.CronJobs[0]
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy = %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if cj.Spec.Schedule != "*/15 * * * *" || cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != "Etc/UTC" {
		t.Errorf("schedule %q in %v, want */15 * * * * in Etc/UTC", cj.Spec.Schedule, cj.Spec.TimeZone)
	}
	if cj.Spec.StartingDeadlineSeconds == nil || *cj.Spec.StartingDeadlineSeconds != 300 {
		t.Errorf("startingDeadlineSeconds = %v", cj.Spec.StartingDeadlineSeconds)
	}
	if cj.Spec.SuccessfulJobsHistoryLimit == nil || cj.Spec.FailedJobsHistoryLimit == nil {
		t.Errorf("history limits not set")
	}
	job := cj.Spec.JobTemplate.Spec
	if job.BackoffLimit == nil || *job.BackoffLimit != 1 {
		t.Errorf("backoffLimit = %v, want 1", job.BackoffLimit)
	}
	if job.PodFailurePolicy == nil || job.PodFailurePolicy.Rules[0].Action != batchv1.PodFailurePolicyActionFailJob || job.PodFailurePolicy.Rules[0].OnExitCodes.Values[0] != 2 {
		t.Errorf("exit code 2 (invalid configuration) must fail the Job without retries: %+v", job.PodFailurePolicy)
	}
	pod := job.Template.Spec
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds < 30 {
		t.Errorf("terminationGracePeriodSeconds %v leaves no time to sign and push", pod.TerminationGracePeriodSeconds)
	}
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %s", pod.RestartPolicy)
	}
	if got := args(pod.Containers[0]); got != "run --once --due --config /etc/tickmark/config.yaml" {
		t.Errorf("args = %q", got)
	}
	cfg := checkPod(t, m, "CronJob", pod, "tickmark-data")
	if cfg.Agent.ID != "tickmark" || cfg.Store.Type != "filesystem" || cfg.Store.Path != "/var/lib/tickmark/store" || cfg.Agent.LogFormat != "json" {
		t.Errorf("config: %+v %+v", cfg.Agent, cfg.Store)
	}
	if len(m.PVCs) != 1 || m.PVCs[0].Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("the data PVC must be kept on uninstall: %+v", m.PVCs)
	}
	if len(m.ServiceAccounts) != 1 || pod.ServiceAccountName != m.ServiceAccounts[0].Name {
		t.Errorf("service account %q not rendered", pod.ServiceAccountName)
	}
	if !strings.Contains(m.Notes, "create job --from=cronjob/tickmark") {
		t.Errorf("NOTES do not say how to run a job now:\n%s", m.Notes)
	}
}

func TestDaemonModeDefaults(t *testing.T) {
	m, err := render(t, "", map[string]any{
		"mode":           "daemon",
		"metrics":        map[string]any{"serviceMonitor": map[string]any{"enabled": true}},
		"networkPolicy":  map[string]any{"enabled": true},
		"serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/tickmark"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Deployments) != 1 || len(m.CronJobs) != 0 || len(m.Services) != 1 || len(m.ServiceMonitors) != 1 || len(m.NetworkPolicies) != 1 {
		t.Fatalf("daemon mode rendered %d Deployments, %d CronJobs, %d Services, %d ServiceMonitors, %d NetworkPolicies", len(m.Deployments), len(m.CronJobs), len(m.Services), len(m.ServiceMonitors), len(m.NetworkPolicies))
	}
	d := m.Deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("daemon must be 1 replica with Recreate: %v %s", d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if got := args(c); got != "run --config /etc/tickmark/config.yaml --listen :9090 --grace 30s" {
		t.Errorf("args = %q", got)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: %+v %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= 30+60 {
		t.Errorf("terminationGracePeriodSeconds %v must exceed the 30s grace plus the final push", pod.TerminationGracePeriodSeconds)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v || m.Services[0].Spec.Selector[k] != v {
			t.Errorf("selector label %s=%s not on the pod or the Service", k, v)
		}
	}
	cfg := checkPod(t, m, "Deployment", pod, "tickmark-data")
	if cfg.Agent.Listen != ":9090" || cfg.Agent.ShutdownGrace != "30s" {
		t.Errorf("config agent: %+v", cfg.Agent)
	}
	if m.ServiceMonitors[0].Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("ServiceMonitor scrapes %+v", m.ServiceMonitors[0].Spec.Endpoints)
	}
	if m.ServiceAccounts[0].Annotations["eks.amazonaws.com/role-arn"] == "" {
		t.Errorf("IRSA annotation missing: %+v", m.ServiceAccounts[0].Annotations)
	}
	np := m.NetworkPolicies[0]
	if len(np.Spec.Ingress) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "metrics" || len(np.Spec.Egress) < 2 {
		t.Errorf("NetworkPolicy: %+v", np.Spec)
	}
}

// The fleet example: one CronJob (or Deployment), ConfigMap and PVC per
// agent, each with its own agent id and secrets, all on one bucket.
func TestFleet(t *testing.T) {
	for _, mode := range []string{"cronjob", "daemon"} {
		t.Run(mode, func(t *testing.T) {
			m, err := render(t, fleetValues, map[string]any{"mode": mode})
			if err != nil {
				t.Fatal(err)
			}
			var pods []corev1.PodSpec
			var names []string
			if mode == "cronjob" {
				if len(m.Deployments) != 0 {
					t.Errorf("%d Deployments in cronjob mode", len(m.Deployments))
				}
				for _, cj := range m.CronJobs {
					if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
						t.Errorf("%s: concurrencyPolicy %q", cj.Name, cj.Spec.ConcurrencyPolicy)
					}
					if !strings.Contains(args(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]), "--pushgateway http://prometheus-pushgateway.monitoring:9091") {
						t.Errorf("%s: no --pushgateway", cj.Name)
					}
					pods = append(pods, cj.Spec.JobTemplate.Spec.Template.Spec)
					names = append(names, cj.Name)
				}
			} else {
				if len(m.CronJobs) != 0 {
					t.Errorf("%d CronJobs in daemon mode", len(m.CronJobs))
				}
				for _, d := range m.Deployments {
					pods = append(pods, d.Spec.Template.Spec)
					names = append(names, d.Name)
				}
			}
			if len(pods) != 5 || len(m.PVCs) != 5 || len(m.ConfigMaps) != 5 {
				t.Fatalf("fleet rendered %d workloads, %d PVCs, %d ConfigMaps; want 5 each", len(pods), len(m.PVCs), len(m.ConfigMaps))
			}
			ids, claims, buckets := map[string]bool{}, map[string]bool{}, map[string]bool{}
			for i, pod := range pods {
				claim := names[i] + "-data"
				cfg := checkPod(t, m, names[i], pod, claim)
				ids[cfg.Agent.ID] = true
				claims[claim] = true
				buckets[cfg.Store.Bucket+"/"+cfg.Store.Prefix] = true
				if cfg.Store.Type != "s3" || cfg.Store.ObjectLock == nil || cfg.Store.ObjectLock.Mode != "COMPLIANCE" {
					t.Errorf("%s: store %+v", names[i], cfg.Store)
				}
				if len(cfg.Collectors) != 1 {
					t.Errorf("%s: %d collectors, want its own one", names[i], len(cfg.Collectors))
				}
				if names[i] == "tickmark-okta" {
					e := pod.Containers[0].Env
					ok := false
					for _, v := range e {
						ok = ok || (v.Name == "OKTA_API_TOKEN" && v.ValueFrom != nil && v.ValueFrom.SecretKeyRef.Name == "tickmark-okta" && v.ValueFrom.SecretKeyRef.Key == "token")
					}
					if !ok {
						t.Errorf("okta agent: OKTA_API_TOKEN not from Secret tickmark-okta: %+v", e)
					}
					if cfg.Agent.ID != "prod-okta" {
						t.Errorf("okta agent id %q", cfg.Agent.ID)
					}
				}
			}
			if len(ids) != 5 || len(claims) != 5 || len(buckets) != 1 {
				t.Errorf("fleet: %d agent ids, %d claims, %d buckets; want 5, 5, 1", len(ids), len(claims), len(buckets))
			}
			if mode == "cronjob" {
				for _, cj := range m.CronJobs {
					want := "*/15 * * * *"
					if cj.Name == "tickmark-aws-staging" {
						want = "0 * * * *"
					}
					if cj.Spec.Schedule != want {
						t.Errorf("%s schedule %q, want %q", cj.Name, cj.Spec.Schedule, want)
					}
				}
			}
		})
	}
}

// values.schema.json, and the chart's own checks, reject what would break
// the deployment's guarantees.
func TestSchemaRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"unknown mode", map[string]any{"mode": "statefulset"}, "mode"},
		{"writable root filesystem", map[string]any{"securityContext": map[string]any{"readOnlyRootFilesystem": false}}, "readOnlyRootFilesystem"},
		{"root user", map[string]any{"podSecurityContext": map[string]any{"runAsNonRoot": false}}, "runAsNonRoot"},
		{"typo at the top level", map[string]any{"colectors": []any{}}, "colectors"},
		{"s3 store without bucket", map[string]any{"store": map[string]any{"type": "s3"}}, "bucket"},
		{"fleet agent without name", map[string]any{"agents": []any{map[string]any{"agentId": "x"}}}, "name"},
		{"bad grace", map[string]any{"daemon": map[string]any{"grace": "thirty seconds"}}, "grace"},
		{"literal secret", map[string]any{"store": map[string]any{"type": "s3", "bucket": "b", "secret_access_key": "hunter2"}}, "secret_access_key"},
		{"two agents, one id", map[string]any{"agents": []any{map[string]any{"name": "a", "agentId": "prod"}, map[string]any{"name": "b", "agentId": "prod"}}}, `agent id "prod" is used twice`},
		{"privileged container", map[string]any{"securityContext": map[string]any{"privileged": true}}, "privileged"},
		{"added capability", map[string]any{"securityContext": map[string]any{"capabilities": map[string]any{"add": []any{"NET_ADMIN"}}}}, "capabilities"},
		{"privilege escalation", map[string]any{"securityContext": map[string]any{"allowPrivilegeEscalation": true}}, "allowPrivilegeEscalation"},
		{"root uid", map[string]any{"podSecurityContext": map[string]any{"runAsUser": 0}}, "runAsUser"},
		{"cronjob without persistence", map[string]any{"persistence": map[string]any{"enabled": false}}, "new ledger and signing key on every run"},
		{"daemon without persistence", map[string]any{"mode": "daemon", "persistence": map[string]any{"enabled": false}}, "on every restart"},
		{"fleet agent without persistence", map[string]any{"agents": []any{map[string]any{"name": "a"}, map[string]any{"name": "b", "persistence": map[string]any{"enabled": false}}}}, "forked log"},
		{"two agents, one PVC", map[string]any{"persistence": map[string]any{"existingClaim": "ledger"}, "agents": []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}}}, `PVC "ledger" would be shared`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, "", c.vals)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want an error about %s", err, c.want)
			}
		})
	}
}

// The kustomize base holds the same CronJob guarantees.
func TestKustomizeBase(t *testing.T) {
	dir := "../kustomize/base"
	var k struct {
		APIVersion         string   `json:"apiVersion"`
		Kind               string   `json:"kind"`
		Resources          []string `json:"resources"`
		Labels             []any    `json:"labels"`
		ConfigMapGenerator []struct {
			Name  string   `json:"name"`
			Files []string `json:"files"`
		} `json:"configMapGenerator"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatal(err)
	}
	m := &manifests{}
	for _, r := range k.Resources {
		body, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(body), -1) {
			if strings.TrimSpace(doc) == "" || isComment(doc) {
				continue
			}
			if err := m.add([]byte(doc)); err != nil {
				t.Fatalf("%s: %v", r, err)
			}
		}
	}
	for _, g := range k.ConfigMapGenerator {
		data := map[string]string{}
		for _, f := range g.Files {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			data[filepath.Base(f)] = string(b)
		}
		m.ConfigMaps = append(m.ConfigMaps, corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: g.Name}, Data: data})
	}
	if len(m.CronJobs) != 1 {
		t.Fatalf("%d CronJobs in the kustomize base", len(m.CronJobs))
	}
	cj := m.CronJobs[0]
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q", cj.Spec.ConcurrencyPolicy)
	}
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	if got := args(pod.Containers[0]); !strings.HasPrefix(got, "run --once --due") {
		t.Errorf("args %q", got)
	}
	checkPod(t, m, "kustomize CronJob", pod, "tickmark-data")
}

// An exec collector in the distroless image: an init container copies the
// program into a shared emptyDir; it runs with the restricted security
// context and the agent's container mounts the tools read-only.
func TestExecToolsInitContainer(t *testing.T) {
	m, err := render(t, "", map[string]any{
		"extraVolumes":      []any{map[string]any{"name": "tools", "emptyDir": map[string]any{}}},
		"extraVolumeMounts": []any{map[string]any{"name": "tools", "mountPath": "/opt/tools", "readOnly": true}},
		"extraInitContainers": []any{map[string]any{
			"name": "backup-evidence", "image": "ghcr.io/acme/backup-evidence:1.4",
			"command":      []any{"/backup-evidence", "install", "/opt/tools/"},
			"volumeMounts": []any{map[string]any{"name": "tools", "mountPath": "/opt/tools"}},
		}},
		"collectors": []any{map[string]any{"name": "backups", "type": "exec", "exec": map[string]any{"command": []any{"/opt/tools/backup-evidence", "--json"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pod := m.CronJobs[0].Spec.JobTemplate.Spec.Template.Spec
	if len(pod.InitContainers) != 1 {
		t.Fatalf("init containers: %+v", pod.InitContainers)
	}
	ic := pod.InitContainers[0]
	sc := ic.SecurityContext
	if ic.Image != "ghcr.io/acme/backup-evidence:1.4" || sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 {
		t.Errorf("init container not restricted: %+v", ic)
	}
	found := false
	for _, vm := range pod.Containers[0].VolumeMounts {
		found = found || vm.Name == "tools" && vm.MountPath == "/opt/tools" && vm.ReadOnly
	}
	if !found {
		t.Errorf("the agent does not mount the tools read-only: %+v", pod.Containers[0].VolumeMounts)
	}
	// An init container cannot be made privileged either.
	_, err = render(t, "", map[string]any{"extraInitContainers": []any{map[string]any{"name": "x", "image": "x", "securityContext": map[string]any{"privileged": true}}}})
	if err == nil || !strings.Contains(err.Error(), "privileged") {
		t.Errorf("privileged init container: err = %v", err)
	}
}
