{{/* The chart's name, overridable. */}}
{{- define "understudy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource name, at most 63 characters as DNS labels allow. */}}
{{- define "understudy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "understudy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "understudy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "understudy.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "understudy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ConfigMap holding scenario files: the chart's own, or an existing one. */}}
{{- define "understudy.scenariosConfigMap" -}}
{{- if .Values.scenarios.existingConfigMap }}
{{- .Values.scenarios.existingConfigMap }}
{{- else if .Values.scenarios.files }}
{{- printf "%s-scenarios" (include "understudy.fullname" .) }}
{{- end }}
{{- end }}

{{/*
UNDERSTUDY_SCENARIOS: the bundled catalog, then each mounted file by name. Files, not
the folder: a ConfigMap volume also holds its files under hidden "..<timestamp>"
folders, which a folder search would read a second time. A mounted file is a link that
Kubernetes swaps when the ConfigMap changes, so the server reloads it.
*/}}
{{- define "understudy.scenarioPaths" -}}
{{- $paths := list }}
{{- if .Values.scenarios.bundled }}
{{- $paths = append $paths "/app/scenarios" }}
{{- end }}
{{- $keys := .Values.scenarios.existingConfigMapKeys }}
{{- if not .Values.scenarios.existingConfigMap }}
{{- $keys = keys .Values.scenarios.files | sortAlpha }}
{{- end }}
{{- range $keys }}
{{- $paths = append $paths (printf "%s/%s" $.Values.scenarios.mountPath .) }}
{{- end }}
{{- if not $paths }}
{{- fail "scenarios: keep the bundled catalog or give scenario files" }}
{{- end }}
{{- join ":" $paths }}
{{- end }}

{{/*
UNDERSTUDY_ALLOWED_HOSTS: the Service's names (how other pods reach it) and any others.
*/}}
{{- define "understudy.allowedHosts" -}}
{{- $service := include "understudy.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list $service (printf "%s.%s" $service $ns) (printf "%s.%s.svc" $service $ns) (printf "%s.%s.svc.cluster.local" $service $ns) }}
{{- join "," (concat $hosts .Values.allowedHosts) }}
{{- end }}

{{/*
More than one process needs shared state: with memory each pod or worker would keep its
own journal, runtime scenarios and counters. Refuse, as `serve --workers 2` does.
*/}}
{{- define "understudy.checkState" -}}
{{- $several := or (gt (int .Values.replicaCount) 1) (gt (int .Values.workers) 1) .Values.autoscaling.enabled }}
{{- if and $several (not (or .Values.state.url .Values.state.existingSecret)) }}
{{- fail "several replicas, workers or autoscaling need shared state: set state.url (redis://host:6379/0) or state.existingSecret" }}
{{- end }}
{{- end }}
