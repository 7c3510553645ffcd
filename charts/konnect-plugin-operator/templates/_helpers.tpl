{{/* The chart's name. */}}
{{- define "kpo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name (the name of most objects). */}}
{{- define "kpo.fullname" -}}
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

{{- define "kpo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kpo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kpo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kpo.labels" -}}
helm.sh/chart: {{ include "kpo.chart" . }}
{{ include "kpo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: konnect-plugin-operator
{{- end }}

{{- define "kpo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kpo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "true" when the operator runs with --leader-election. */}}
{{- define "kpo.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) }}true{{ end }}
{{- end }}

{{/* Where the Konnect token Secret is mounted. */}}
{{- define "kpo.tokenDir" -}}/etc/konnect-plugin-operator/konnect{{- end }}

{{/* Where the webhook's certificate is mounted (--webhook-cert-dir; the binary's default). */}}
{{- define "kpo.webhookCertDir" -}}/etc/konnect-plugin-operator/webhook{{- end }}

{{/* The Secret holding the webhook's serving certificate. */}}
{{- define "kpo.webhookSecret" -}}{{ include "kpo.fullname" . }}-webhook-cert{{- end }}
