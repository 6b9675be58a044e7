{{/* Chart name, truncated to the 63 characters Kubernetes allows. */}}
{{- define "tickmark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name. */}}
{{- define "tickmark.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tickmark.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The agents this release runs. Without `agents`, one agent made of the
top-level values; with `agents` (a fleet), one per entry, each with its own
name, agent id, collectors, schedule, PVC and secrets.
*/}}
{{- define "tickmark.agents" -}}
{{- if .Values.agents -}}
{{- toYaml .Values.agents -}}
{{- else -}}
- name: ""
{{- end -}}
{{- end -}}

{{/* Resource name of one agent: dict "root" $ "agent" $a */}}
{{- define "tickmark.agentFullname" -}}
{{- $full := include "tickmark.fullname" .root -}}
{{- if .agent.name -}}
{{- printf "%s-%s" $full .agent.name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $full | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The agent id written into the configuration: unique in the fleet. */}}
{{- define "tickmark.agentID" -}}
{{- if .agent.agentId -}}
{{- .agent.agentId -}}
{{- else if .agent.name -}}
{{- if .root.Values.agent.id -}}{{ printf "%s-%s" .root.Values.agent.id .agent.name }}{{- else -}}{{ include "tickmark.agentFullname" . }}{{- end -}}
{{- else -}}
{{- default (include "tickmark.fullname" .root) .root.Values.agent.id -}}
{{- end -}}
{{- end -}}

{{- define "tickmark.labels" -}}
helm.sh/chart: {{ include "tickmark.chart" .root }}
{{ include "tickmark.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/component: {{ .root.Values.mode }}
{{- end -}}

{{- define "tickmark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tickmark.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
tickmark.dev/agent: {{ include "tickmark.agentID" . | trunc 63 | trimSuffix "-" | quote }}
{{- end -}}

{{- define "tickmark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tickmark.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tickmark.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The PVC of one agent. */}}
{{- define "tickmark.claimName" -}}
{{- $p := mergeOverwrite (deepCopy .root.Values.persistence) (.agent.persistence | default dict) -}}
{{- if $p.existingClaim -}}
{{- $p.existingClaim -}}
{{- else -}}
{{- printf "%s-data" (include "tickmark.agentFullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
The tickmark configuration file of one agent (the ConfigMap's config.yaml).
*/}}
{{- define "tickmark.config" -}}
{{- $v := .root.Values -}}
agent:
  id: {{ include "tickmark.agentID" . | quote }}
  data_dir: {{ $v.dataDir | quote }}
  listen: {{ printf ":%v" $v.metrics.port | quote }}
  log_format: json
  log_level: {{ $v.agent.logLevel | quote }}
  shutdown_grace: {{ $v.daemon.grace | quote }}
store:
{{- $store := mergeOverwrite (deepCopy $v.store) (.agent.store | default dict) }}
{{- if and (eq ($store.type | default "filesystem") "filesystem") (not $store.path) }}
{{- $_ := set $store "path" (printf "%s/store" $v.dataDir) }}
{{- end }}
{{ toYaml $store | indent 2 }}
{{- $runner := mergeOverwrite (deepCopy $v.runner) (.agent.runner | default dict) }}
{{- if $runner }}
runner:
{{ toYaml $runner | indent 2 }}
{{- end }}
{{- $collectors := .agent.collectors | default $v.collectors }}
{{- if $collectors }}
collectors:
{{ toYaml $collectors | indent 2 }}
{{- else }}
collectors: []
{{- end }}
{{- end -}}

{{/*
The pod spec of one agent: dict "root" $ "agent" $a "args" (list ...) "daemon" bool
*/}}
{{- define "tickmark.podSpec" -}}
{{- $v := .root.Values -}}
{{- $full := include "tickmark.agentFullname" . -}}
serviceAccountName: {{ include "tickmark.serviceAccountName" .root }}
automountServiceAccountToken: {{ $v.serviceAccount.automountToken }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . }}
{{- end }}
securityContext:
{{ toYaml $v.podSecurityContext | indent 2 }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with (.agent.nodeSelector | default $v.nodeSelector) }}
nodeSelector:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with (.agent.tolerations | default $v.tolerations) }}
tolerations:
{{ toYaml . }}
{{- end }}
{{- with (.agent.affinity | default $v.affinity) }}
affinity:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with $v.extraInitContainers }}
initContainers:
{{- range . }}
  - {{ toYaml (merge (dict "securityContext" $v.securityContext) .) | indent 4 | trim }}
{{- end }}
{{- end }}
containers:
  - name: tickmark
    image: {{ include "tickmark.image" .root | quote }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args:
{{ toYaml .args | indent 6 }}
    env:
      - name: TICKMARK_CONFIG
        value: /etc/tickmark/config.yaml
      - name: HOME
        value: {{ $v.dataDir | quote }}
      - name: TMPDIR
        value: /tmp
{{- range (concat ($v.secretEnv | default list) (.agent.secretEnv | default list)) }}
      - name: {{ .name }}
        valueFrom:
          secretKeyRef:
            name: {{ .secretName }}
            key: {{ .key }}
            {{- if hasKey . "optional" }}
            optional: {{ .optional }}
            {{- end }}
{{- end }}
{{- with (concat ($v.env | default list) (.agent.env | default list)) }}
{{ toYaml . | indent 6 }}
{{- end }}
{{- with (concat ($v.envFrom | default list) (.agent.envFrom | default list)) }}
    envFrom:
{{ toYaml . | indent 6 }}
{{- end }}
{{- if .daemon }}
    ports:
      - name: metrics
        containerPort: {{ $v.metrics.port }}
        protocol: TCP
    livenessProbe:
      httpGet:
        path: /healthz
        port: metrics
      periodSeconds: 20
      failureThreshold: 3
    readinessProbe:
      httpGet:
        path: /readyz
        port: metrics
      periodSeconds: 10
    startupProbe:
      httpGet:
        path: /healthz
        port: metrics
      periodSeconds: 2
      failureThreshold: 30
{{- end }}
    securityContext:
{{ toYaml $v.securityContext | indent 6 }}
    resources:
{{ toYaml (.agent.resources | default $v.resources) | indent 6 }}
    volumeMounts:
      - name: data
        mountPath: {{ $v.dataDir }}
      - name: config
        mountPath: /etc/tickmark
        readOnly: true
      - name: tmp
        mountPath: /tmp
{{- with $v.extraVolumeMounts }}
{{ toYaml . | indent 6 }}
{{- end }}
volumes:
  - name: data
{{- $p := mergeOverwrite (deepCopy $v.persistence) (.agent.persistence | default dict) }}
{{- if $p.enabled }}
    persistentVolumeClaim:
      claimName: {{ include "tickmark.claimName" . }}
{{- else }}
    emptyDir: {}
{{- end }}
  - name: config
    configMap:
      name: {{ $full }}-config
  - name: tmp
    emptyDir:
      sizeLimit: {{ $v.tmpSizeLimit }}
{{- with $v.extraVolumes }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- end -}}

{{/*
Refuse a fleet that would share state: two agents with one agent id (one
signed log written by two ledgers) or one PVC (one ledger, two agents).
*/}}
{{- define "tickmark.validate" -}}
{{- $ids := dict -}}
{{- $claims := dict -}}
{{- range $a := (include "tickmark.agents" . | fromYamlArray) -}}
{{- $ctx := dict "root" $ "agent" $a -}}
{{- $id := include "tickmark.agentID" $ctx -}}
{{- if hasKey $ids $id -}}
{{- fail (printf "agents: agent id %q is used twice; each agent needs its own id (agents[].agentId)" $id) -}}
{{- end -}}
{{- $_ := set $ids $id true -}}
{{- $claim := include "tickmark.claimName" $ctx -}}
{{- if hasKey $claims $claim -}}
{{- fail (printf "agents: PVC %q would be shared by two agents; each agent needs its own ledger (set agents[].persistence.existingClaim, or leave it empty)" $claim) -}}
{{- end -}}
{{- $_ := set $claims $claim true -}}
{{- $p := mergeOverwrite (deepCopy $.Values.persistence) ($a.persistence | default dict) -}}
{{- if not $p.enabled -}}
{{- fail (printf "persistence.enabled: false would give agent %q a new ledger and signing key on every %s: a second, forked log under the same agent id in the bucket. Keep persistence enabled (persistence.existingClaim reuses a volume); to move an agent to a new volume, run `tickmark ledger restore` on it first" $id (ternary "run" "restart" (eq $.Values.mode "cronjob"))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
